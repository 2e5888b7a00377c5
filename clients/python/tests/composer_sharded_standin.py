"""A stand-in for Composer's sharded checkpointing (FSDP, `state_dict_type="sharded"`), rank by
rank, as Composer's CheckpointSaver and autoresume drive a LoggerDestination (Composer itself
cannot be installed here): a checkpoint is a directory `{run_name}/checkpoints/ep{e}-ba{b}/`
where each rank writes its shard `__{rank}_0.distcp` (torch.distributed.checkpoint, one file per
rank) and rank 0 the index `.metadata`; each rank uploads its files, then its
`latest-rank{rank}.pt.symlink` holding the directory's remote name. On autoresume each rank
downloads its symlink, then `.metadata` and its shard from the directory it names.

A rank here is one destination with its own State and Logger (tests/composer_standin.py), so a test
can let one rank save while another has not yet.
"""

import os

from tests import composer_standin as composer


class Rank:
    def __init__(self, rank, destination, run_name, folder):
        self.rank, self.run_name = rank, run_name
        self.destination = destination
        self.state = composer.State(run_name, [destination])
        self.logger = composer.Logger(self.state, [destination])
        self.folder = folder  # where this rank writes its checkpoint files
        destination.run_event(composer.Event("init"), self.state, self.logger)

    def checkpoint_dir(self, epoch, batch):
        return "%s/checkpoints/ep%d-ba%d" % (self.run_name, epoch, batch)

    def symlink_name(self):
        return "%s/checkpoints/latest-rank%d.pt.symlink" % (self.run_name, self.rank)

    def save(self, epoch, batch, old_api=False):
        """This rank's part of a sharded checkpoint: its files, then its symlink. {remote name: bytes}.
        `old_api`: as Composer 0.x called a destination, `log_file_artifact` for each file, then
        `log_symlink_artifact(directory, "latest-rank{rank}.pt")` (the destination adds `.symlink`)."""
        self.state.timestamp = composer.Timestamp(epoch, batch)
        directory = self.checkpoint_dir(epoch, batch)
        files = {"__%d_0.distcp" % self.rank: os.urandom(20_000 + 1000 * self.rank)}
        if self.rank == 0:
            files[".metadata"] = b"torch.distributed.checkpoint metadata of %s" % directory.encode()
        uploaded = {}
        for base, data in files.items():
            local = os.path.join(self.folder, "%s-%s" % (os.path.basename(directory), base))
            with open(local, "wb") as f:
                f.write(data)
            if old_api:
                self.destination.log_file_artifact(self.state, "BATCH", "%s/%s" % (directory, base), local, overwrite=True)
            else:
                self.logger.upload_file("%s/%s" % (directory, base), local, overwrite=True)
            uploaded["%s/%s" % (directory, base)] = data
        if old_api:
            self.destination.log_symlink_artifact(self.state, "BATCH", directory, self.symlink_name()[:-len(".symlink")],
                                                  overwrite=True)
            return uploaded
        link = os.path.join(self.folder, "latest-rank%d.pt.symlink" % self.rank)
        with open(link, "w") as f:
            f.write(directory)
        self.logger.upload_file(self.symlink_name(), link, overwrite=True)
        return uploaded

    def autoresume(self):
        """Composer's autoresume of a sharded checkpoint on this rank: (directory, {remote name: bytes})."""
        local = os.path.join(self.folder, "resume-latest-rank%d.pt.symlink" % self.rank)
        self.destination.download_file(self.symlink_name(), local, overwrite=True, progress_bar=False)
        with open(local) as f:
            directory = f.read().strip()
        got = {}
        for base in (".metadata", "__%d_0.distcp" % self.rank):
            path = os.path.join(self.folder, "resume-%s" % base)
            self.destination.download_file("%s/%s" % (directory, base), path, overwrite=True, progress_bar=False)
            with open(path, "rb") as f:
                got["%s/%s" % (directory, base)] = f.read()
        return directory, got

    def close(self):
        self.destination.close(self.state, self.logger)
        self.destination.post_close()
