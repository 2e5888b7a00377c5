"""What the Composer drop-in makes of a non-sharded checkpoint and its symlink (artifact_bus/composer.py),
against a stand-in client that records its calls: a set of one file, the symlink left to the
destination, when a destination writes pointers under the symlink's name; the file, then the
symlink, as before, when none does or that cannot be told. No servers needed."""

import os
import tempfile
import unittest

from artifact_bus.composer import ArtifactBusLogger
from artifact_bus.errors import ArtifactBusError
from tests import composer_standin as composer

# Removed when the interpreter exits, whatever the tests did.
_SCRATCH = tempfile.TemporaryDirectory()


class _Staged:
    def __init__(self, name):
        self.name = name


class RecordingClient:
    rank, run = 0, "r"

    def __init__(self, reserved):
        self.reserved, self.calls = reserved, []

    def stage_file(self, path, name, **kwargs):
        self.calls.append(("stage", name))
        return _Staged(name)

    def submit(self, staged, set=None):
        self.calls.append(("submit", staged.name, set))

    def log_file(self, path, name, **kwargs):
        with open(path) as f:
            self.calls.append(("log", name, f.read(), kwargs.get("set")))

    def pointer_name(self, name, level="fit", run=None):
        if isinstance(self.reserved, Exception):
            raise self.reserved
        return self.reserved

    def flush(self, timeout=None):
        self.calls.append(("flush",))


CKPT, LINK = "r/checkpoints/ep1-ba4-rank0.pt", "r/checkpoints/latest-rank0.pt.symlink"


def save(reserved, old_api=False):
    """A checkpoint and its symlink, as Composer's CheckpointSaver uploads them; the client's calls."""
    bus = RecordingClient(reserved)
    logger = ArtifactBusLogger(client=bus)
    state = composer.State("r", [logger])
    state.timestamp = composer.Timestamp(1, 4)
    folder = tempfile.mkdtemp(dir=_SCRATCH.name)
    path, link = os.path.join(folder, "ckpt.pt"), os.path.join(folder, "latest.symlink")
    with open(path, "wb") as f:
        f.write(b"weights")
    with open(link, "w") as f:
        f.write(CKPT)
    if old_api:
        logger.log_file_artifact(state, "EPOCH", CKPT, path, overwrite=True)
        logger.log_symlink_artifact(state, "EPOCH", CKPT, LINK[: -len(".symlink")], overwrite=True)
    else:
        logger.upload_file(state, CKPT, path, overwrite=True)
        logger.upload_file(state, LINK, link, overwrite=True)
    logger.close(state, None)
    return bus.calls


class PlainCheckpoint(unittest.TestCase):
    def test_a_destination_writing_the_symlink_gets_the_checkpoint_as_a_set_of_one_file(self):
        for old_api in (False, True):
            self.assertEqual(save(True, old_api), [
                ("stage", CKPT), ("submit", CKPT, {"name": CKPT, "members": 1, "step": 4}), ("flush",)], old_api)

    def test_otherwise_the_checkpoint_then_its_symlink_go_as_before(self):
        for reserved in (False, ArtifactBusError("gateway unreachable")):
            for old_api in (False, True):
                self.assertEqual(save(reserved, old_api), [
                    ("stage", CKPT), ("submit", CKPT, None), ("log", LINK, CKPT, None), ("flush",)], (reserved, old_api))

    def test_a_file_no_symlink_follows_goes_at_the_next_call(self):
        bus = RecordingClient(True)
        logger = ArtifactBusLogger(client=bus)
        state = composer.State("r", [logger])
        path = os.path.join(tempfile.mkdtemp(dir=_SCRATCH.name), "trace.json")
        with open(path, "w") as f:
            f.write("{}")
        logger.upload_file(state, "r/traces/ep1.json", path)
        self.assertEqual(bus.calls, [("stage", "r/traces/ep1.json")])
        logger.run_event(composer.Event("batch_end"), state, None)
        self.assertEqual(bus.calls[-1], ("submit", "r/traces/ep1.json", None))
        logger.upload_file(state, "r/traces/ep2.json", path)
        logger.upload_file(state, "r/traces/ep3.json", path)
        self.assertEqual(bus.calls[-2:], [("submit", "r/traces/ep2.json", None), ("stage", "r/traces/ep3.json")])
        logger.close(state, None)
        self.assertEqual(bus.calls[-2:], [("submit", "r/traces/ep3.json", None), ("flush",)])

    def test_a_symlink_the_destination_writes_naming_no_file_just_held_is_not_uploaded(self):
        bus = RecordingClient(True)
        logger = ArtifactBusLogger(client=bus)
        state = composer.State("r", [logger])
        with self.assertLogs("artifact_bus", "WARNING") as logs:
            logger.log_symlink_artifact(state, "EPOCH", "r/checkpoints/other.pt", LINK[: -len(".symlink")])
        self.assertEqual(bus.calls, [])
        self.assertIn("no pointer moves to it", logs.output[0])


if __name__ == "__main__":
    unittest.main()
