"""The HTTP transport against the real gateway: a wrong token, reading artifacts back (and
resuming an interrupted download), and the same answers as the NATS transport."""

import hashlib
import logging
import os
import unittest

from artifact_bus import ArtifactClient, FlushError
from tests.support import client, scratch_dir, write


class WrongToken(unittest.TestCase):
    def test_a_wrong_token_fails_each_artifact_once_naming_the_token_without_retries(self):
        # The client keeps what it could not send in its spool: one of this test's own, not the
        # user's default spool, which nothing would ever empty.
        env = dict(os.environ, ARTIFACT_BUS_TOKEN="ab_not-a-token", ARTIFACT_BUS_SPOOL_DIR=scratch_dir(self))
        bus = ArtifactClient.from_env(project="pyclient", run="wrong-token", env=env)
        work = scratch_dir(self)
        with _no_retries(self):
            for i in range(3):
                path = os.path.join(work, "f%d" % i)
                write(path, os.urandom(100))
                bus.log_file(path, "wrong/%d.bin" % i)
            with self.assertRaises(FlushError) as raised:
                bus.close(timeout=30)
        self.assertFalse(raised.exception.timed_out)
        self.assertEqual(sorted(u[0] for u in raised.exception.unsent), ["wrong/0.bin", "wrong/1.bin", "wrong/2.bin"])
        self.assertIn("HTTP 401", str(raised.exception))


class _no_retries:
    """Fails the test if the client logs a retry (a warning) while active."""

    def __init__(self, test):
        self.test = test

    def __enter__(self):
        self.cm = self.test.assertLogs("artifact_bus", level=logging.DEBUG)
        self.records = self.cm.__enter__()
        logging.getLogger("artifact_bus").debug("watching for retries")
        return self

    def __exit__(self, *exc):
        self.cm.__exit__(None, None, None)
        retries = [r.getMessage() for r in self.records.records if "retrying" in r.getMessage()]
        self.test.assertEqual(retries, [])
        return False


class ReadBack(unittest.TestCase):
    def setUp(self):
        self.bus = client("http")
        self.work = scratch_dir(self)
        self.data = os.urandom(3 * (1 << 20) + 17)
        src = os.path.join(self.work, "model.pt")
        write(src, self.data)
        self.bus.log_file(src, "ckpt/model.pt")
        self.bus.flush(timeout=120)

    def tearDown(self):
        self.bus.close(timeout=30)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_download_writes_the_landed_bytes_and_refuses_to_overwrite(self):
        out = os.path.join(self.work, "copy.pt")
        self.bus.download("ckpt/model.pt", out)
        self.assertEqual(self.read(out), self.data)
        with self.assertRaises(FileExistsError):
            self.bus.download("ckpt/model.pt", out)
        with self.assertRaises(FileNotFoundError):
            self.bus.download("ckpt/never-logged.pt", os.path.join(self.work, "none.pt"))
        self.assertFalse(os.path.exists(os.path.join(self.work, "none.pt")))

    def test_an_interrupted_download_resumes_from_its_part_file(self):
        out = os.path.join(self.work, "resumed.pt")
        with open(out + ".part", "wb") as f:
            f.write(self.data[: 1 << 20])  # what an earlier, interrupted download left
        self.bus.download("ckpt/model.pt", out)
        self.assertEqual(hashlib.sha256(self.read(out)).hexdigest(), hashlib.sha256(self.data).hexdigest())
        self.assertFalse(os.path.exists(out + ".part"))

    def test_a_part_file_of_other_bytes_is_detected_and_the_download_starts_over(self):
        out = os.path.join(self.work, "stale.pt")
        with open(out + ".part", "wb") as f:
            f.write(os.urandom(1 << 20))  # left by a download of another version
        self.bus.download("ckpt/model.pt", out)
        self.assertEqual(self.read(out), self.data)

    def test_a_part_file_longer_than_the_artifact_starts_over(self):
        out = os.path.join(self.work, "long.pt")
        with open(out + ".part", "wb") as f:
            f.write(os.urandom(len(self.data) + 10))
        self.bus.download("ckpt/model.pt", out)
        self.assertEqual(self.read(out), self.data)


if __name__ == "__main__":
    unittest.main()
