"""ArtifactBusLogger against a destination that writes Composer's per-rank symlinks as checkpoint
sets' pointers (`setPointer: "{dir}/latest-rank{rank}.pt.symlink"`), for what is not a sharded
checkpoint's file: a non-sharded checkpoint (`{run}/checkpoints/ep0-ba2-rank0.pt`, then its
`latest-rank0.pt.symlink`), through both of Composer's generations (`upload_file`; the older
`log_file_artifact` + `log_symlink_artifact`), and a sharded checkpoint through the older
generation; and a non-sharded checkpoint saved again under the same name (a fixed `save_filename`,
or `save_overwrite`). A user expects each to save without an error and a resuming run to get,
through the symlink, the checkpoint it names (the newest save of it).

Run by test/python-composer-sets.test.ts (its stack has that setPointer), not by the discover run
of test_*.py, whose destination keeps the default pointer.
"""

import hashlib
import os
import tempfile
import unittest
import uuid

from artifact_bus import ArtifactBusError
from artifact_bus.composer import ArtifactBusLogger
from tests import composer_standin as composer
from tests.composer_sharded import flush, ranks, sets_of
from tests.support import TRANSPORTS, client, record

# Removed when the interpreter exits, whatever the tests did.
_SCRATCH = tempfile.TemporaryDirectory()


def plain_rank(transport, run):
    os.environ["WORLD_SIZE"] = "1"
    logger = ArtifactBusLogger(client=client(transport, run=run, rank=0))
    state = composer.State(run, [logger])
    logger.run_event(composer.Event("init"), state, composer.Logger(state, [logger]))
    return logger, state


def save_plain(logger, state, epoch, batch, old_api):
    """CheckpointSaver of a non-sharded checkpoint on rank 0: the file, then its symlink. (name, bytes)."""
    state.timestamp = composer.Timestamp(epoch, batch)
    name = "%s/checkpoints/ep%d-ba%d-rank0.pt" % (state.run_name, epoch, batch)
    data = os.urandom(30_000)
    folder = tempfile.mkdtemp(dir=_SCRATCH.name)
    path = os.path.join(folder, os.path.basename(name))
    with open(path, "wb") as f:
        f.write(data)
    latest = "%s/checkpoints/latest-rank0.pt" % state.run_name
    if old_api:
        logger.log_file_artifact(state, "EPOCH", name, path, overwrite=True)
        logger.log_symlink_artifact(state, "EPOCH", name, latest, overwrite=True)
    else:
        composer.Logger(state, [logger]).upload_file(name, path, overwrite=True)
        link = os.path.join(folder, "latest-rank0.pt.symlink")
        with open(link, "w") as f:
            f.write(name)
        composer.Logger(state, [logger]).upload_file(latest + ".symlink", link, overwrite=True)
    return name, data


def resume_plain(run):
    """Composer's autoresume of a non-sharded checkpoint: the symlink, then the file it names."""
    logger = ArtifactBusLogger(client=client("http", run=run))
    folder = tempfile.mkdtemp(dir=_SCRATCH.name)
    link = os.path.join(folder, "latest-rank0.pt.symlink")
    logger.download_file("%s/checkpoints/latest-rank0.pt.symlink" % run, link, overwrite=True)
    with open(link) as f:
        target = f.read().strip()
    out = os.path.join(folder, "resumed.pt")
    logger.download_file(target, out, overwrite=True)
    with open(out, "rb") as f:
        data = f.read()
    logger.post_close()
    return target, data


class PlainCheckpoints(unittest.TestCase):
    def check_plain(self, old_api):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport, old_api=old_api):
                run = "plain-%s-%s" % (transport, uuid.uuid4().hex[:6])
                logger, state = plain_rank(transport, run)
                save_plain(logger, state, 0, 2, old_api)
                last = save_plain(logger, state, 1, 4, old_api)
                logger.close(state, None)  # raises FlushError if anything ended dead
                logger.post_close()
                # Each checkpoint is a set of one file, named as it, complete: the symlink moved to it.
                sets = sets_of(run)
                for name in ("%s/checkpoints/ep0-ba2-rank0.pt" % run, last[0]):
                    self.assertEqual((sets[name]["state"], sets[name]["expected"]), ("complete", 1), name)
                target, data = resume_plain(run)
                self.assertEqual(target, last[0])
                self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(last[1]).hexdigest())
                self.check_download_set(run, last)
                link = "pyclient/%s/%s/checkpoints/latest-rank0.pt.symlink" % (run, run)
                record("composer_plain_%s_%s" % (transport, "old" if old_api else "new"), {
                    "pyclient/%s/%s" % (run, last[0]): hashlib.sha256(last[1]).hexdigest(),
                    link: hashlib.sha256(last[0].encode()).hexdigest(),
                })

    def check_download_set(self, run, last):
        """download_set of the symlink, and of the set's own name: the file it names, checked against
        the sha256 the gateway names for it, under its last segment; no manifest."""
        reader = client("http", run=run)
        for set_or_pointer in ("%s/checkpoints/latest-rank0.pt.symlink" % run, last[0]):
            dest = tempfile.mkdtemp()
            got = reader.download_set(set_or_pointer, dest)
            path = os.path.join(dest, os.path.basename(last[0]))
            self.assertEqual(got, {"set": last[0], "step": None, "files": [path]})
            self.assertEqual(os.listdir(dest), [os.path.basename(last[0])])
            with open(path, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(last[1]).hexdigest())
        reader.close(timeout=10)

    def test_a_non_sharded_checkpoint_saves_and_resumes_through_its_symlink(self):
        self.check_plain(old_api=False)

    def test_the_older_generation_saves_and_resumes_a_non_sharded_checkpoint(self):
        self.check_plain(old_api=True)

    def test_a_checkpoint_saved_again_under_its_name_resumes_the_newer_save(self):
        # Composer with a fixed save_filename, or save_overwrite after a resume: the same name again.
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                run = "plain-again-%s-%s" % (transport, uuid.uuid4().hex[:6])
                logger, state = plain_rank(transport, run)
                save_plain(logger, state, 1, 4, old_api=False)
                logger.client.flush(120)  # it landed, and its set completed, before the next save
                last = save_plain(logger, state, 1, 4, old_api=False)
                logger.close(state, None)  # raises FlushError if the second save ended dead
                logger.post_close()
                self.assertEqual(sets_of(run)[last[0]]["state"], "complete")
                target, data = resume_plain(run)
                self.assertEqual(target, last[0])
                self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(last[1]).hexdigest())


class NotTheSetsFile(unittest.TestCase):
    def test_a_plain_file_logged_over_the_checkpoint_is_refused_and_download_set_gets_the_set(self):
        # The checkpoint's name logged again as a plain file (no set): refused at the destination,
        # naming the set, so the symlink still leads to the checkpoint's own bytes.
        run = "plain-relogged-%s" % uuid.uuid4().hex[:6]
        logger, state = plain_rank("http", run)
        name, data = save_plain(logger, state, 1, 4, old_api=False)
        logger.close(state, None)
        logger.post_close()
        plain = client("http", run=run)
        path = os.path.join(tempfile.mkdtemp(), "plain.pt")
        with open(path, "wb") as f:
            f.write(os.urandom(1000))
        plain.log_file(path, name)
        with self.assertRaisesRegex(ArtifactBusError, "is a member of checkpoint set"):
            plain.close(timeout=120)
        reader = client("http", run=run)
        dest = tempfile.mkdtemp()
        reader.download_set("%s/checkpoints/latest-rank0.pt.symlink" % run, dest)
        files = [os.path.join(root, f) for root, _, fs in os.walk(dest) for f in fs]
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(data).hexdigest())
        reader.close(timeout=10)


class OlderGenerationSharded(unittest.TestCase):
    def test_log_symlink_artifact_of_a_sharded_checkpoint_is_left_to_the_destination(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                run = "sharded-old-%s-%s" % (transport, uuid.uuid4().hex[:6])
                rank0, rank1 = ranks(self, transport, run)
                saved = dict(rank0.save(0, 2, old_api=True), **rank1.save(0, 2, old_api=True))
                flush(rank0, rank1)
                rank0.close()
                rank1.close()
                for rank in ranks(self, "http", run):
                    directory, got = rank.autoresume()
                    self.assertEqual(directory, rank0.checkpoint_dir(0, 2))
                    for name, data in got.items():
                        self.assertEqual(data, saved[name], name)
                    rank.close()


if __name__ == "__main__":
    unittest.main()
