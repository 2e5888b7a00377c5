"""A flush over NATS reads an artifact's ledger entry until it is final, then no more. It used to
read every artifact again each half second until the last one was final: a flush of hundreds,
waiting for one slow upload, read them all twice a second."""

import copy
import os
import time
import unittest
import uuid

from tests.support import TRANSPORTS, client, scratch_dir, write


class NatsFlushReads(unittest.TestCase):
    def test_a_final_entry_is_not_read_again(self):
        self.assertIn("nats", TRANSPORTS, "the wrapper's stack serves NATS")
        work = scratch_dir(self)
        bus = client("nats", run="flush-reads-%s" % os.urandom(3).hex())
        self.addCleanup(bus.close, 60)
        for i in range(5):
            path = os.path.join(work, "%d.bin" % i)
            write(path, os.urandom(1000 + i))
            bus.log_file(path, "reads/%d.bin" % i)
        bus.flush(timeout=120, landed=False)  # published; their entries may not be final yet
        sent = list(bus._sent)
        self.assertEqual(len(sent), 5)
        pending, dead = bus.transport.wait(sent, time.time() + 120)
        self.assertEqual((pending, dead), ([], []))

        # One more that never becomes final (no event has its id), waited for 1.5 s: the five
        # final ones are read once, the other in every round.
        ghost = copy.copy(sent[0])
        ghost.id = str(uuid.uuid4())
        reads = {}
        read = bus.transport._ledger_value

        def counting(key):
            reads[key.rsplit(".", 1)[1]] = reads.get(key.rsplit(".", 1)[1], 0) + 1
            return read(key)

        bus.transport._ledger_value = counting
        pending, dead = bus.transport.wait(sent + [ghost], time.time() + 1.5)
        self.assertEqual([p[0] for p in pending], [ghost.name] * len(ghost.destinations))
        self.assertEqual(dead, [])
        self.assertEqual({i.id: reads.get(i.id) for i in sent}, {i.id: len(i.destinations) for i in sent})
        self.assertGreater(reads[ghost.id], 2 * len(ghost.destinations))


if __name__ == "__main__":
    unittest.main()
