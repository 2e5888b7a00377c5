"""A stand-in for Composer's Trainer, Engine and Logger, as strict as Composer about what it calls:
every Callback event through `run_event`, every Logger method on every destination, checkpoint
save and restore of the destination's `state_dict`, `close` then `post_close`, and autoresume's
`download_file` of the `.symlink` file and then of the checkpoint it names. Composer itself cannot
be installed here (no package index); a missing method or a wrong signature fails here as it
would fail in a real Trainer.

The hook lists below are those of shared/reference/composer-artifact-logging.md (Composer at
2026-04: composer/core/event.py, composer/core/callback.py, composer/loggers/logger.py,
composer/loggers/logger_destination.py, composer/core/serializable.py). Keep them in step with it.
"""

import os


class Event(str):
    """Composer's Event is a StringEnum; Callback.run_event calls the method named by its value."""

    @property
    def value(self):
        return str(self)


# Composer's order of one fit (composer/core/event.py): load, fit start, per batch, eval inside the
# epoch, checkpoints after batch and epoch, fit end. Predict and standalone eval follow it.
FIT_START = ["init", "before_load", "after_load", "fit_start", "iteration_start"]
EPOCH_START = ["epoch_start"]
BATCH = ["before_dataloader", "after_dataloader", "batch_start", "before_train_batch",
         "before_forward", "after_forward", "before_loss", "after_loss", "before_backward",
         "after_backward", "after_train_batch", "batch_end", "batch_checkpoint"]
EVAL = ["eval_before_all", "eval_start", "eval_batch_start", "eval_before_forward",
        "eval_after_forward", "eval_batch_end", "eval_end", "eval_after_all"]
EPOCH_END = ["epoch_end", "epoch_checkpoint"]
FIT_END = ["iteration_end", "iteration_checkpoint", "fit_end"]
PREDICT = ["predict_start", "predict_batch_start", "predict_before_forward", "predict_after_forward",
           "predict_batch_end", "predict_end"]
EVAL_STANDALONE = ["eval_standalone_start", "eval_standalone_end"]
EVERY_EVENT = FIT_START + EPOCH_START + BATCH + EVAL + EPOCH_END + FIT_END + PREDICT + EVAL_STANDALONE + ["close"]


class _Value:
    def __init__(self, value):
        self.value = value


class Timestamp:
    def __init__(self, epoch=0, batch=0):
        self.epoch, self.batch = _Value(epoch), _Value(batch)


class State:
    """What Composer's State offers a destination: the run's name, the timestamp, the callbacks."""

    def __init__(self, run_name, callbacks):
        self.run_name = run_name
        self.timestamp = Timestamp()
        self.callbacks = callbacks


class Logger:
    """Composer's Logger: each call goes to every destination, in these signatures."""

    def __init__(self, state, destinations):
        self._state, self.destinations = state, destinations

    def log_hyperparameters(self, hyperparameters):
        for d in self.destinations:
            d.log_hyperparameters(hyperparameters)

    def log_table(self, columns, rows, name="Table", step=None):
        for d in self.destinations:
            d.log_table(columns, rows, name, step)

    def log_metrics(self, metrics, step=None):
        for d in self.destinations:
            d.log_metrics(metrics, step)

    def log_traces(self, traces):
        for d in self.destinations:
            d.log_traces(traces)

    def log_images(self, images, name="Images", channels_last=False, step=None, masks=None,
                   mask_class_labels=None, use_table=True):
        for d in self.destinations:
            d.log_images(images, name, channels_last, step, masks, mask_class_labels, use_table)

    def has_file_upload_destination(self):
        return any(d.can_upload_files() for d in self.destinations)

    def upload_file(self, remote_file_name, file_path, overwrite=False):
        for d in self.destinations:
            d.upload_file(self._state, remote_file_name, file_path, overwrite=overwrite)


class Trainer:
    """fit(): `epochs` x `batches`, a checkpoint (and its `latest-rank0.pt.symlink`) per epoch, as
    Composer's CheckpointSaver writes them; returns {remote name: bytes} of what it uploaded."""

    def __init__(self, loggers, run_name, folder, autoresume=False):
        self.loggers = list(loggers)
        self.state = State(run_name, list(self.loggers))
        self.logger = Logger(self.state, self.loggers)
        self.folder = folder  # Composer's save_folder: where checkpoints are written and resumed from
        self.events = []
        self._event("init")
        self.logger.log_hyperparameters({"lr": 0.1, "run_name": run_name})
        self._event("before_load")
        self.resumed = self._autoresume() if autoresume else None
        self._event("after_load")

    def _event(self, name):
        self.events.append(name)
        for callback in self.state.callbacks:
            callback.run_event(Event(name), self.state, self.logger)

    def _autoresume(self):
        """Composer's autoresume: the symlink first, then the checkpoint it names, then each
        callback's state from it."""
        local = os.path.join(self.folder, "latest-rank0.pt.symlink")
        destination = next(d for d in self.loggers if d.can_upload_files())
        destination.download_file("checkpoints/latest-rank0.pt.symlink", local, overwrite=False, progress_bar=False)
        with open(local) as f:
            target = f.read().strip()
        checkpoint = os.path.join(self.folder, "resumed.pt")
        destination.download_file(target, checkpoint, overwrite=True, progress_bar=False)
        with open(checkpoint, "rb") as f:
            data = f.read()
        for callback in self.state.callbacks:
            callback.load_state_dict(callback.state_dict())
        return target, data

    def fit(self, epochs=2, batches=3):
        uploaded = {}
        self._event("fit_start")
        self._event("iteration_start")
        for epoch in range(epochs):
            self._event("epoch_start")
            for _ in range(batches):
                self.state.timestamp = Timestamp(epoch, self.state.timestamp.batch.value + 1)
                for name in BATCH:
                    self._event(name)
                self.logger.log_metrics({"loss/train": 1.0 / (epoch + 1)}, step=self.state.timestamp.batch.value)
            for name in EVAL:
                self._event(name)
            self.logger.log_table(["a"], [[1]])
            self.logger.log_traces({"trace": "x"})
            self.logger.log_images([[0]])
            self._event("epoch_end")
            self._event("epoch_checkpoint")
            uploaded.update(self._save_checkpoint(epoch))
        for name in FIT_END:
            self._event(name)
        for name in PREDICT + EVAL_STANDALONE:
            self._event(name)
        return uploaded

    def _save_checkpoint(self, epoch):
        """CheckpointSaver: the checkpoint holds every callback's state_dict; then the symlink."""
        batch = self.state.timestamp.batch.value
        name = "checkpoints/ep%d-ba%d-rank0.pt" % (epoch, batch)
        states = repr({type(c).__qualname__: c.state_dict() for c in self.state.callbacks}).encode()
        data = os.urandom(4096) + states
        path = os.path.join(self.folder, os.path.basename(name))
        with open(path, "wb") as f:
            f.write(data)
        self.logger.upload_file(name, path, overwrite=True)
        link = os.path.join(self.folder, "latest-rank0.pt.symlink")
        with open(link, "w") as f:
            f.write(name)
        self.logger.upload_file("checkpoints/latest-rank0.pt.symlink", link, overwrite=True)
        return {name: data}

    def close(self):
        """Engine.close: `close` on every callback, then `post_close` on every callback."""
        self.events.append("close")
        for callback in self.state.callbacks:
            callback.close(self.state, self.logger)
        for callback in self.state.callbacks:
            callback.post_close()
