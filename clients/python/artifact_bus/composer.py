"""A Composer `LoggerDestination` for files, without importing Composer: pass it in `loggers=[...]`.

It has the method names and signatures Composer calls, both generations: `can_upload_files`,
`upload_file`, `download_file`, `close`/`post_close`, and the older `log_file_artifact` and
`get_file_artifact`. Remote names are formatted as Composer formats them (`{remote_file_name}`,
`{run_name}`, `{rank}`, `{local_rank}`, `{world_size}`, `{local_world_size}`, `{node_rank}`; a
leading `/` is stripped), and `upload_file` returns at once: the upload happens in the background,
and `close`/`post_close` wait for it, as Composer's own remote uploader does.
"""

import os
import re

from .client import ArtifactClient

_RUN = re.compile(r"[^A-Za-z0-9_-]")


class ArtifactBusLogger:
    def __init__(self, client=None, project=None, run=None, remote_file_name="{remote_file_name}",
                 close_timeout=None, mode="copy"):
        """`client` defaults to ArtifactClient.from_env(project, run); without a run, Composer's
        `state.run_name` names it. `close_timeout` (seconds) bounds the wait at close."""
        self.client = client or ArtifactClient.from_env(project=project, run=run, mode=mode)
        self.remote_file_name = remote_file_name
        self.close_timeout = close_timeout

    # -- the current generation (Composer's LoggerDestination) ------------------------------------

    def can_upload_files(self):
        return True

    def upload_file(self, state, remote_file_name, file_path, *, overwrite=False):
        # W&B makes a new version, S3 and SFTP replace the object: `overwrite` needs no check here.
        self._log(state, remote_file_name, file_path, "fit")

    def download_file(self, remote_file_name, destination, overwrite=False, progress_bar=True):
        """Composer's autoresume and `load_path`: the newest landed version of `remote_file_name`
        (as uploaded, after formatting) written to `destination`. Needs the HTTP gateway."""
        self.client.download(remote_file_name.lstrip("/"), destination, overwrite=overwrite)

    def close(self, state, logger):
        self.client.flush(self.close_timeout)

    def post_close(self):
        self.client.close(self.close_timeout)

    # -- the older generation ---------------------------------------------------------------------

    def log_file_artifact(self, state, log_level, artifact_name, file_path, *, overwrite):
        level = getattr(log_level, "name", str(log_level)).lower()
        self._log(state, artifact_name, file_path, level if level in ("fit", "epoch", "batch") else "fit")

    def get_file_artifact(self, artifact_name, destination, chunk_size=2**20, progress_bar=True):
        self.download_file(artifact_name, destination, overwrite=False, progress_bar=progress_bar)

    # -- shared -----------------------------------------------------------------------------------

    def format_name(self, state, remote_file_name):
        env = os.environ
        name = self.remote_file_name.format(
            remote_file_name=remote_file_name,
            run_name=getattr(state, "run_name", "") or "",
            rank=env.get("RANK", "0"),
            local_rank=env.get("LOCAL_RANK", "0"),
            world_size=env.get("WORLD_SIZE", "1"),
            local_world_size=env.get("LOCAL_WORLD_SIZE", "1"),
            node_rank=env.get("NODE_RANK", "0"),
        )
        return name.lstrip("/")

    def _log(self, state, remote_file_name, file_path, level):
        run = None if self.client.run else _RUN.sub("-", str(getattr(state, "run_name", "") or "run")).lstrip("-_") or "run"
        self.client.log_file(str(file_path), self.format_name(state, remote_file_name), level=level,
                             metadata=_timestamp(state), run=run[:128] if run else None)


def _timestamp(state):
    """epoch and batch of Composer's state.timestamp, when there: W&B makes an `ep{epoch}-ba{batch}` alias of them."""
    stamp = getattr(state, "timestamp", None)
    out = {}
    for field in ("epoch", "batch"):
        value = getattr(stamp, field, None)
        value = getattr(value, "value", value)
        if value is not None:
            out[field] = str(value)
    return out
