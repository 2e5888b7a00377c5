"""A Composer `LoggerDestination` for files, without importing Composer: pass it in `loggers=[...]`.

Composer calls a destination's whole surface, not only the file methods (see
shared/reference/composer-artifact-logging.md): as a Callback, `run_event(event, state, logger)` on
every event, `close(state, logger)` and `post_close()`; as a destination, every Logger call
(`log_metrics`, `log_hyperparameters`, `log_table`, `log_traces`, `log_images`, or the older
`log_data`); as a Serializable, `state_dict()` and `load_state_dict()` at checkpoints. A missing one
fails a real Trainer at its first event, so all are here; only the file methods do something.

Files: both generations, `can_upload_files`, `upload_file`, `download_file` and the older
`log_file_artifact`, `log_symlink_artifact`, `get_file_artifact`. Remote names are formatted as
Composer formats them (`{remote_file_name}`, `{run_name}`, `{rank}`, `{local_rank}`,
`{world_size}`, `{local_world_size}`, `{node_rank}`; a leading `/` is stripped), and uploads return
at once: they happen in the background, and `close`/`post_close` wait for them, as Composer's own
remote uploader does.

Sharded checkpoints (a directory of `__{rank}_{i}.distcp` files and rank 0's `.metadata`) are
logged as one checkpoint set per directory, and their `.symlink` files are left to the destination,
which writes them once the set is complete there (see _composer_sharded.py). `download_file` of a
symlink or of such a checkpoint's file checks each file against the set's manifest.

Any other file is held (its bytes staged at once) until the next call: a non-sharded checkpoint is
known as one only by the symlink Composer uploads right after it. When a destination writes that
symlink's name (its `setPointer`), the file goes as a set of one file and the destination writes
the symlink once it landed; otherwise the file, then the symlink, go as before.
"""

import logging
import os
import re
import tempfile

from ._composer_sharded import ShardedCheckpoints, checkpoint_dir
from ._composer_state import _level, _step, _timestamp
from ._events import InvalidArtifact
from ._nats import NatsError
from .client import ArtifactClient
from .errors import ArtifactBusError

log = logging.getLogger("artifact_bus")

# A `.symlink` file holds a remote name: anything longer is no symlink of Composer's.
_SYMLINK_MAX_BYTES = 4096

_RUN = re.compile(r"[^A-Za-z0-9_-]")

# Every Callback event of Composer (composer/core/event.py); each is a method of the same name,
# which Callback.run_event calls. `init` and `close` do something and are defined in the class.
EVENTS = (
    "before_load", "after_load", "fit_start", "iteration_start", "epoch_start", "before_dataloader",
    "after_dataloader", "batch_start", "before_train_batch", "before_forward", "after_forward",
    "before_loss", "after_loss", "before_backward", "after_backward", "after_train_batch", "batch_end",
    "batch_checkpoint", "epoch_end", "epoch_checkpoint", "iteration_end", "iteration_checkpoint",
    "predict_start", "predict_batch_start", "predict_before_forward", "predict_after_forward",
    "predict_batch_end", "predict_end", "eval_before_all", "eval_start", "eval_batch_start",
    "eval_before_forward", "eval_after_forward", "eval_batch_end", "eval_end", "eval_after_all",
    "eval_standalone_start", "eval_standalone_end", "fit_end",
)


class ArtifactBusLogger:
    def __init__(self, client=None, project=None, run=None, remote_file_name="{remote_file_name}",
                 close_timeout=None, mode="copy"):
        """`client` defaults to ArtifactClient.from_env(project, run); without a run, Composer's
        `state.run_name` names it. `close_timeout` (seconds) bounds the wait at close."""
        self.client = client or ArtifactClient.from_env(project=project, run=run, mode=mode)
        self.remote_file_name = remote_file_name
        self.close_timeout = close_timeout
        # The run Composer named (state.run_name), for download_file, which gets no state.
        self._state_run = None
        rank = self.client.rank if self.client.rank is not None else int(os.environ.get("RANK", "0"))
        self._sharded = ShardedCheckpoints(rank, int(os.environ.get("WORLD_SIZE", "1")))
        # Manifests of complete sharded checkpoints read back, by set: each file is checked against one.
        self._manifests = {}
        # The last file logged outside any set, staged but not queued: (staged item, its step), or None.
        self._held = None

    # -- Callback ---------------------------------------------------------------------------------

    def run_event(self, event, state, logger):
        """Composer's Callback.run_event: calls the method named by the event's value."""
        self._release()  # no symlink came right after the file held: it goes as it is
        self._run_of(state)
        getattr(self, getattr(event, "value", event))(state, logger)

    def init(self, state, logger):
        # INIT comes before autoresume's download_file: the run is known from here on.
        self._run_of(state)

    def close(self, state, logger):
        self._release()
        # A sharded checkpoint whose symlink never came (no `latest_remote_file_name`) closes here.
        for directory in self._sharded.unclosed():
            self._close_set(state, directory, "fit")
        self.client.flush(self.close_timeout)

    def post_close(self):
        self.client.close(self.close_timeout)

    def state_dict(self):
        return {}  # nothing to restore: what was logged is in the bus, not in the checkpoint

    def load_state_dict(self, state):
        pass

    # -- what Composer's Logger calls on every destination (nothing to do with files) -------------

    def log_hyperparameters(self, hyperparameters):
        pass

    def log_table(self, columns, rows, name="Table", step=None):
        pass

    def log_metrics(self, metrics, step=None):
        pass

    def log_traces(self, traces):
        pass

    def log_images(self, images, name="Images", channels_last=False, step=None, masks=None,
                   mask_class_labels=None, use_table=True):
        pass

    def log_data(self, state, log_level, data):
        pass  # the older generation's one call for metrics and hyperparameters

    # -- the current generation's files ------------------------------------------------------------

    def can_upload_files(self):
        return True

    def upload_file(self, state, remote_file_name, file_path, *, overwrite=False):
        # W&B makes a new version, S3 and SFTP replace the object: `overwrite` needs no check here.
        self._log(state, remote_file_name, file_path, "fit")

    def download_file(self, remote_file_name, destination, overwrite=False, progress_bar=True):
        """Composer's autoresume and `load_path`: the newest landed version of `remote_file_name`
        (as uploaded, after formatting) written to `destination`. Needs the HTTP gateway; on NATS
        it raises NotImplementedError saying so."""
        run = self.client.run or self._state_run
        if run is None and self.client.transport.kind == "http":
            raise ArtifactBusError(
                "download_file(%r): no run to read it from: pass run= to ArtifactBusLogger or set "
                "ARTIFACT_BUS_RUN (Composer's state.run_name names it only once the Trainer sent INIT)" % remote_file_name)
        name = remote_file_name.lstrip("/")
        if self.client.transport.kind != "http":
            self.client.download(name, destination, run=run, overwrite=overwrite)
            return
        directory = checkpoint_dir(name)
        manifest = directory and self._manifest(directory, run)
        if manifest:
            self.client.download_member(manifest, name, destination, run=run, overwrite=overwrite)
            return
        self.client.download(name, destination, run=run, overwrite=overwrite)
        if name.endswith(".symlink"):
            # The pointer of a sharded checkpoint names a complete set: its manifest is read now,
            # and the files Composer fetches next are each checked against it.
            self._manifest(_small_text(destination), run)

    def _manifest(self, directory, run):
        """The manifest of set `directory` (cached), or None when it is no complete set."""
        if directory not in self._manifests:
            try:
                self._manifests[directory] = self.client.set_manifest(directory, run=run, pointer=False)
            except (FileNotFoundError, InvalidArtifact):
                return None  # no set (a symlink naming one checkpoint file), or not complete
        return self._manifests[directory]

    # -- the older generation's files -------------------------------------------------------------

    def log_file_artifact(self, state, log_level, artifact_name, file_path, *, overwrite=False):
        self._log(state, artifact_name, file_path, _level(log_level))

    def log_symlink_artifact(self, state, log_level, existing_artifact_name, symlink_artifact_name, *,
                             overwrite=False):
        """An object store has no symlinks: like Composer's, a `<name>.symlink` file holding the
        remote name it points to (formatted as uploaded)."""
        target = self.format_name(state, existing_artifact_name)
        name = self.format_name(state, symlink_artifact_name + ".symlink")
        if self._symlink(state, name, target, _level(log_level)):
            return
        fd, path = tempfile.mkstemp(suffix=".symlink")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(target)
            # A file this small is always copied when logged, so it can go at once.
            self.client.log_file(path, name, level=_level(log_level), metadata=_timestamp(state), run=self._run_of(state))
        finally:
            os.unlink(path)

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

    def _run_of(self, state):
        """The run an artifact goes to: the client's own, else Composer's state.run_name made a
        valid run token (remembered for download_file), else "run"."""
        if self.client.run:
            return None
        named = getattr(state, "run_name", None)
        if named:
            self._state_run = (_RUN.sub("-", str(named)).lstrip("-_") or "run")[:128]
        return self._state_run or "run"

    def _log(self, state, remote_file_name, file_path, level):
        name = self.format_name(state, remote_file_name)
        if name.endswith(".symlink") and self._symlink(state, name, self.format_name(state, _small_text(file_path)), level):
            return
        self._release()
        directory = self._sharded.member(name)
        if directory is None and not name.endswith(".symlink"):
            # Maybe a non-sharded checkpoint: only the symlink Composer may upload next says so.
            staged = self.client.stage_file(str(file_path), name, level=level, metadata=_timestamp(state),
                                            run=self._run_of(state))
            self._held = (staged, _step(state))
            return
        set_ref = dict(name=directory, **_step(state)) if directory else None
        self.client.log_file(str(file_path), name, level=level, metadata=_timestamp(state), run=self._run_of(state),
                             set=set_ref)

    def _symlink(self, state, name, target, level):
        """Whether Composer's symlink `name` (naming `target`) is left to the destination, not
        uploaded: a sharded checkpoint's (its set closed), or one a destination writes pointers
        under (the file just held then goes as a set of one file)."""
        if self._sharded.logged(target):
            self._release()
            self._close_set(state, target, level)
            return True
        held, self._held = self._held, None
        if not self._writes_pointer(state, name, level):
            if held:
                self.client.submit(held[0])
            return False
        if held and held[0].name == target:
            self.client.submit(held[0], set=dict(name=target, members=1, **held[1]))
            return True
        if held:
            self.client.submit(held[0])
        log.warning("artifact-bus: %s is not uploaded: a destination writes checkpoint pointers under that name, and %s "
                    "was not logged just before it through this logger, so no pointer moves to it", name, target)
        return True

    def _writes_pointer(self, state, name, level):
        try:
            return self.client.pointer_name(name, level=level, run=self._run_of(state))
        except (ArtifactBusError, NatsError, OSError) as err:
            # Then it goes as before: refused (loudly) only if it is such a name after all.
            log.warning("artifact-bus: could not tell whether a destination writes %s itself: %s", name, err)
            return False

    def _release(self):
        """The file held, queued as it is (no symlink naming it came right after it)."""
        held, self._held = self._held, None
        if held:
            self.client.submit(held[0])

    def _close_set(self, state, directory, level):
        members = self._sharded.close_count(directory)
        if members is not None:
            self.client.close_set(directory, members, level=level, run=self._run_of(state), **_step(state))


def _no_op(self, state, logger):
    pass


for _event in EVENTS:
    setattr(ArtifactBusLogger, _event, _no_op)


def _small_text(path):
    """A `.symlink` file's text, stripped; empty for a file too large to be one."""
    with open(path, "rb") as f:
        data = f.read(_SYMLINK_MAX_BYTES + 1)
    return "" if len(data) > _SYMLINK_MAX_BYTES else data.decode("utf-8", "replace").strip()
