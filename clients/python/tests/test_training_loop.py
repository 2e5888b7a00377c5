import os
import threading
import time
import unittest

from tests.support import TRANSPORTS, client, record, scratch_dir, write


class TrainingLoop(unittest.TestCase):
    def test_fifty_files_from_a_training_thread_land_and_close_waits_for_them(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                bus = client(transport)
                logged = {}
                work = scratch_dir(self)
                steps = []

                def train():
                    for step in range(50):
                        path = os.path.join(work, "ckpt.pt")
                        sha = write(path, os.urandom(3000 + step) + b"step %d" % step)
                        name = "steps/%03d.pt" % step
                        bus.log_file(path, name, level="batch", metadata={"step": str(step)})
                        os.unlink(path)  # the trainer may delete its file at once
                        logged["%s/%s/%s" % (bus.project, bus.run, name)] = sha
                        steps.append(time.time())

                trainer = threading.Thread(target=train)
                trainer.start()
                trainer.join(60)
                self.assertEqual(len(steps), 50)
                bus.close(timeout=120)
                record("training_loop_%s" % transport, logged)


if __name__ == "__main__":
    unittest.main()
