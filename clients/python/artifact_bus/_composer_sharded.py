"""Composer's sharded checkpoints as checkpoint sets (docs/producers.md, section 7).

With a sharded state dict (FSDP), Composer's CheckpointSaver writes a checkpoint as a directory,
`{run_name}/checkpoints/ep3-ba3000/`, through torch.distributed.checkpoint: each rank its shard
files `__{rank}_{i}.distcp`, rank 0 (the coordinator) the index `.metadata`. Each rank uploads its
files, then its `latest-rank{rank}.pt.symlink`, whose bytes name the directory. A resuming job
reads that symlink and loads what it names; uploaded as it comes, it could name a directory whose
other ranks' shards have not landed.

So the directory is one checkpoint set, named after it: every file a rank uploads into it is a
member, and a symlink naming it is not uploaded at all: each destination writes the pointer itself
once the set is complete there (`setPointer: "{dir}/latest-rank{rank}.pt.symlink"`).

The count: rank 0 closes the set when it uploads its own symlink (Composer uploads it after the
rank's files), or at the latest at `close`, with WORLD_SIZE x (its own shard files) + (its other
files: the `.metadata`). torch.distributed.checkpoint writes as many shard files on every rank
(one with Composer's `single_file_per_rank`) and `.metadata` on the coordinator only. This needs no
barrier and no word between ranks, which a logger has no channel for: the close only says how many,
and the destination waits for that many. Were a rank to write another number, the set would stay
open and the pointer at the last complete set: it never names an incomplete one.
"""

import re

METADATA = ".metadata"
_SHARD = re.compile(r"^__\d+_\d+\.distcp$")


def checkpoint_dir(name):
    """The sharded checkpoint directory that remote name `name` is a file of (a shard or the
    `.metadata` right under it), or None for any other file."""
    head, _, base = name.rpartition("/")
    if head and (base == METADATA or _SHARD.match(base)):
        return head
    return None


class ShardedCheckpoints:
    """What one rank logged of sharded checkpoints: per directory, its shard and other files."""

    def __init__(self, rank, world_size):
        self.rank, self.world_size = rank, world_size
        self._dirs = {}  # directory -> {"shards": names, "others": names, "closed": bool}

    def member(self, name):
        """The set `name` is logged into (its directory), counted; None when it is no such file."""
        directory = checkpoint_dir(name)
        if directory is None:
            return None
        seen = self._dirs.setdefault(directory, {"shards": set(), "others": set(), "closed": False})
        # A name logged again (Composer replaces a queued file by a newer one) is one member.
        seen["shards" if _SHARD.match(name.rpartition("/")[2]) else "others"].add(name)
        return directory

    def logged(self, directory):
        """Whether this rank logged files of sharded checkpoint `directory`: a symlink naming it
        is then the destination's to write."""
        return directory in self._dirs

    def close_count(self, directory):
        """How many members to close `directory` with, once, on rank 0 (None elsewhere, or again)."""
        seen = self._dirs.get(directory)
        if self.rank != 0 or seen is None or seen["closed"]:
            return None
        seen["closed"] = True
        return self.world_size * len(seen["shards"]) + len(seen["others"])

    def unclosed(self):
        """Directories rank 0 logged files of and has not closed (none on other ranks)."""
        if self.rank != 0:
            return []
        return [d for d, seen in self._dirs.items() if not seen["closed"]]
