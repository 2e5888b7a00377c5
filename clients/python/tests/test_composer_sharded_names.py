"""Which of Composer's uploads are files of a sharded checkpoint, and how many members rank 0
closes the checkpoint's set with (artifact_bus/_composer_sharded.py). No servers needed."""

import unittest

from artifact_bus._composer_sharded import ShardedCheckpoints, checkpoint_dir


class CheckpointDir(unittest.TestCase):
    def test_a_shard_or_the_metadata_is_a_file_of_its_directory(self):
        self.assertEqual(checkpoint_dir("run/checkpoints/ep3-ba3000/__0_0.distcp"), "run/checkpoints/ep3-ba3000")
        self.assertEqual(checkpoint_dir("run/checkpoints/ep3-ba3000/__12_3.distcp"), "run/checkpoints/ep3-ba3000")
        self.assertEqual(checkpoint_dir("ep3-ba3000/.metadata"), "ep3-ba3000")

    def test_other_files_are_none(self):
        for name in ("run/checkpoints/ep3-ba3000-rank0.pt", "run/checkpoints/latest-rank0.pt.symlink",
                     "__0_0.distcp", ".metadata", "ck/.metadata/x", "ck/shard.distcp", "ck/__0_0.distcp.tmp",
                     "ck/__a_0.distcp"):
            self.assertIsNone(checkpoint_dir(name), name)


class CloseCount(unittest.TestCase):
    def test_rank_0_closes_once_with_world_size_times_its_shards_plus_its_metadata(self):
        ranks = ShardedCheckpoints(rank=0, world_size=4)
        for name in ("ck/ep1/__0_0.distcp", "ck/ep1/__0_1.distcp", "ck/ep1/.metadata", "ck/ep1/__0_0.distcp"):
            self.assertEqual(ranks.member(name), "ck/ep1")
        self.assertTrue(ranks.logged("ck/ep1"))
        self.assertFalse(ranks.logged("ck/ep2"))
        self.assertEqual(ranks.unclosed(), ["ck/ep1"])
        self.assertEqual(ranks.close_count("ck/ep1"), 4 * 2 + 1)  # a name logged twice is one member
        self.assertIsNone(ranks.close_count("ck/ep1"))
        self.assertEqual(ranks.unclosed(), [])
        self.assertIsNone(ranks.member("ck/ep1-rank0.pt"))

    def test_other_ranks_never_close(self):
        ranks = ShardedCheckpoints(rank=1, world_size=2)
        ranks.member("ck/ep1/__1_0.distcp")
        self.assertTrue(ranks.logged("ck/ep1"))
        self.assertIsNone(ranks.close_count("ck/ep1"))
        self.assertEqual(ranks.unclosed(), [])


if __name__ == "__main__":
    unittest.main()
