"""Run by the wrapper (not by discovery), which SIGKILLs the gateway while this logs and starts it
again on the same port: every artifact lands, each published once (the wrapper counts the events).
PROGRESS_FILE gets the number of artifacts logged so far; RUN names the run."""

import os
import time
import unittest

from tests.support import client, record, scratch_dir, write

COUNT = 40


class GatewayRestartedMidRun(unittest.TestCase):
    def test_every_artifact_lands_once_across_a_gateway_restart(self):
        bus = client("http", run=os.environ["RUN"], retry_base=0.2, retry_max=2.0)
        work = scratch_dir(self)
        logged = {}
        for i in range(COUNT):
            path = os.path.join(work, "f%d" % i)
            name = "restart/%d.bin" % i
            logged["%s/%s/%s" % (bus.project, bus.run, name)] = write(path, os.urandom(20_000 + i))
            bus.log_file(path, name)
            with open(os.environ["PROGRESS_FILE"], "w") as f:
                f.write(str(i + 1))
            time.sleep(0.1)  # a training step
        bus.close(timeout=180)
        record("gateway_restart", logged)


if __name__ == "__main__":
    unittest.main()
