"""Run by the wrapper while the destination is down (not by discovery): close(timeout) returns
after the timeout, naming what is pending, and nothing is lost."""

import os
import time
import unittest

from artifact_bus import FlushError
from tests.support import TRANSPORTS, client, record, scratch_dir, write


class CloseWhileTheDestinationIsDown(unittest.TestCase):
    def test_close_names_what_is_not_uploaded_yet_after_the_timeout(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                bus = client(transport)
                work = scratch_dir(self)
                logged = {}
                for i in range(3):
                    path = os.path.join(work, "f%d" % i)
                    name = "down/%d.bin" % i
                    logged["%s/%s/%s" % (bus.project, bus.run, name)] = write(path, os.urandom(1000 + i))
                    bus.log_file(path, name)
                started = time.time()
                with self.assertRaises(FlushError) as raised:
                    bus.close(timeout=4)
                self.assertLess(time.time() - started, 10)
                self.assertTrue(raised.exception.timed_out)
                self.assertEqual(sorted({p[0] for p in raised.exception.pending}), ["down/0.bin", "down/1.bin", "down/2.bin"])
                self.assertIn("down/0.bin", str(raised.exception))
                record("down_%s" % transport, logged)


if __name__ == "__main__":
    unittest.main()
