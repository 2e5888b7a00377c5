"""What ArtifactBusLogger reads of Composer's objects, by their attributes alone (Composer is never
imported): a `LogLevel` as the bus's level, and from `state.timestamp` a checkpoint set's step and
the epoch and batch metadata."""


def _level(log_level):
    level = getattr(log_level, "name", str(log_level)).lower()
    return level if level in ("fit", "epoch", "batch") else "fit"


def _step(state):
    """{"step": the batch} of Composer's state.timestamp, when there: the set's step."""
    batch = getattr(getattr(state, "timestamp", None), "batch", None)
    batch = getattr(batch, "value", batch)
    return {"step": int(batch)} if isinstance(batch, int) and batch >= 0 else {}


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
