import hashlib
import os
import unittest

from artifact_bus.composer import ArtifactBusLogger
from tests.support import TRANSPORTS, client, record, scratch_dir, write


class _Value:
    def __init__(self, value):
        self.value = value


class _Timestamp:
    def __init__(self, epoch, batch):
        self.epoch, self.batch = _Value(epoch), _Value(batch)


class _State:
    """What Composer's State offers a LoggerDestination: a run name and a timestamp."""

    def __init__(self, run_name):
        self.run_name = run_name
        self.timestamp = _Timestamp(0, 0)


class ComposerDropIn(unittest.TestCase):
    def test_the_trainer_calls_upload_file_many_times_then_closes(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                bus = client(transport, run="composer-%s" % transport)
                logger = ArtifactBusLogger(client=bus, remote_file_name="{run_name}/checkpoints/{remote_file_name}")
                self.assertTrue(logger.can_upload_files())
                state = _State(bus.run)
                work = scratch_dir(self)
                logged = {}
                for batch in range(1, 11):
                    state.timestamp = _Timestamp(batch // 5, batch)
                    path = os.path.join(work, "ep-ba%d-rank0.pt" % batch)
                    sha = write(path, os.urandom(2000) + b"%d" % batch)
                    logger.upload_file(state, "ep%d-ba%d-rank0.pt" % (batch // 5, batch), path, overwrite=True)
                    logged["pyclient/%s/%s/checkpoints/ep%d-ba%d-rank0.pt" % (bus.run, bus.run, batch // 5, batch)] = sha
                # The older generation's call, as Composer 0.x made it.
                path = os.path.join(work, "old.log")
                sha = write(path, b"an old-style artifact")
                logger.log_file_artifact(state, type("LogLevel", (), {"name": "EPOCH"})(), "logs/old.log", path, overwrite=False)
                logged["pyclient/%s/%s/checkpoints/logs/old.log" % (bus.run, bus.run)] = sha
                # Its symlink: a `.symlink` file naming the remote name, formatted as uploaded.
                logger.log_symlink_artifact(state, "EPOCH", "logs/old.log", "logs/latest.log", overwrite=True)
                logged["pyclient/%s/%s/checkpoints/logs/latest.log.symlink" % (bus.run, bus.run)] = hashlib.sha256(
                    ("%s/checkpoints/logs/old.log" % bus.run).encode()).hexdigest()
                logger.close(state, None)
                logger.post_close()
                record("composer_%s" % transport, logged)

    def test_a_resuming_trainer_downloads_its_checkpoint_through_the_gateway(self):
        run = "resume-%s" % os.urandom(4).hex()
        work = scratch_dir(self)
        first = ArtifactBusLogger(client=client("http", run=run), remote_file_name="{run_name}/checkpoints/{remote_file_name}")
        state = _State(run)
        data = os.urandom(5 * (1 << 20) + 3)
        path = os.path.join(work, "latest-rank0.pt")
        write(path, data)
        first.upload_file(state, "latest-rank0.pt", path, overwrite=True)
        first.close(state, None)
        first.post_close()
        # A new process resuming: Composer's autoresume asks for the checkpoint by its remote name.
        resumed = ArtifactBusLogger(client=client("http", run=run))
        out = os.path.join(work, "restored.pt")
        resumed.download_file("%s/checkpoints/latest-rank0.pt" % run, out)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        older = os.path.join(work, "older-api.pt")
        resumed.get_file_artifact("%s/checkpoints/latest-rank0.pt" % run, older)
        with open(older, "rb") as f:
            self.assertEqual(f.read(), data)
        with self.assertRaises(FileNotFoundError):
            resumed.download_file("%s/checkpoints/never-saved.pt" % run, os.path.join(work, "none.pt"))
        resumed.post_close()


if __name__ == "__main__":
    unittest.main()
