"""ArtifactBusLogger with Composer's sharded checkpoints (tests/composer_sharded_standin.py), two
ranks: each checkpoint directory becomes one set, the ranks' symlinks are not uploaded but written
by the destination once the set is complete, and a resuming run reads them through the drop-in's
`download_file` and gets the shards of the last complete checkpoint, byte for byte, each checked
against the set's manifest.

Run by test/python-composer-sets.test.ts, whose S3 destination says
`setPointer: "{dir}/latest-rank{rank}.pt.symlink"` (not by the discover run of test_*.py, whose
destination keeps the default pointer).
"""

import hashlib
import json
import os
import unittest
import uuid

from artifact_bus import ArtifactBusError, ArtifactClient
from artifact_bus.composer import ArtifactBusLogger
from tests.composer_sharded_standin import Rank
from tests.support import TRANSPORTS, client, record, scratch_dir

WORLD_SIZE = 2


def ranks(test, transport, run, world_size=WORLD_SIZE):
    """The ranks of a job, each with its own folder, removed when `test` ends."""
    os.environ["WORLD_SIZE"] = str(world_size)  # as Composer's launcher sets it for every rank
    return [Rank(r, ArtifactBusLogger(client=client(transport, run=run, rank=r)), run, scratch_dir(test))
            for r in range(world_size)]


def flush(*parts):
    for part in parts:
        part.destination.client.flush(120)


def symlink_text(reader, rank):
    path = os.path.join(reader.folder, "check-rank%d.symlink" % rank.rank)
    reader.destination.download_file(rank.symlink_name(), path, overwrite=True)
    with open(path) as f:
        return f.read()


def sets_of(run):
    http = ArtifactClient.from_env(project="pyclient", run=run).transport
    _, _, body = http._call("GET", "%s/sets" % http._run_path("pyclient", run))
    return {s["set"]: s for s in json.loads(body)["items"]}


class ShardedCheckpoints(unittest.TestCase):
    def test_the_symlinks_name_the_last_complete_checkpoint_and_a_resumed_run_gets_its_shards(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                run = "sharded-%s-%s" % (transport, uuid.uuid4().hex[:6])
                rank0, rank1 = ranks(self, transport, run)
                first = dict(rank0.save(0, 2), **rank1.save(0, 2))
                flush(rank0, rank1)
                reader = ranks(self, "http", run, world_size=1)[0]
                self.assertEqual(symlink_text(reader, rank0), rank0.checkpoint_dir(0, 2))
                self.assertEqual(symlink_text(reader, rank1), rank0.checkpoint_dir(0, 2))

                # The second checkpoint: rank 0's files landed, and it closed the set; rank 1's not yet.
                second = rank0.save(1, 4)
                flush(rank0)
                pending = sets_of(run)[rank0.checkpoint_dir(1, 4)]
                self.assertEqual((pending["state"], pending["landed"], pending["expected"]), ("open", 2, 3))
                for rank in (rank0, rank1):
                    self.assertEqual(symlink_text(reader, rank), rank0.checkpoint_dir(0, 2), "a symlink moved early")

                second.update(rank1.save(1, 4))
                flush(rank1)
                self.assertEqual(symlink_text(reader, rank1), rank0.checkpoint_dir(1, 4))
                rank0.close()
                rank1.close()
                reader.close()

                # A new job resumes on each rank from its symlink, through the drop-in's download_file.
                resumed = ranks(self, "http", run)
                for rank in resumed:
                    directory, got = rank.autoresume()
                    self.assertEqual(directory, rank0.checkpoint_dir(1, 4))
                    for name, data in got.items():
                        self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(second[name]).hexdigest(), name)
                    rank.close()
                self.assertNotEqual(first, second)
                record("composer_sharded_%s" % transport, dict(
                    {"pyclient/%s/%s" % (run, name): hashlib.sha256(data).hexdigest() for name, data in second.items()},
                    **{"pyclient/%s/%s" % (run, r.symlink_name()): hashlib.sha256(rank0.checkpoint_dir(1, 4).encode()).hexdigest()
                       for r in (rank0, rank1)}))

    def test_a_file_logged_over_a_shard_is_refused_and_a_resumed_run_still_gets_the_shard(self):
        run = "sharded-bad-%s" % uuid.uuid4().hex[:6]
        rank0, rank1 = ranks(self, TRANSPORTS[0], run)
        saved = rank0.save(0, 2)
        saved.update(rank1.save(0, 2))
        rank0.close()
        rank1.close()
        # The same name logged again, outside any set: refused at the destination, naming the set
        # (the manifest vouches for the shard there), so the set stays what resuming reads.
        shard = "%s/__1_0.distcp" % rank0.checkpoint_dir(0, 2)
        bus = client(TRANSPORTS[0], run=run)
        path = os.path.join(rank0.folder, "other")
        with open(path, "wb") as f:
            f.write(b"not the shard the manifest lists")
        bus.log_file(path, shard)
        with self.assertRaisesRegex(ArtifactBusError, "is a member of checkpoint set"):
            bus.close(timeout=120)
        resumed = ranks(self, "http", run)[1]
        directory, got = resumed.autoresume()
        self.assertEqual(directory, rank0.checkpoint_dir(0, 2))
        for name, data in got.items():
            self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(saved[name]).hexdigest(), name)
        resumed.close()


if __name__ == "__main__":
    unittest.main()
