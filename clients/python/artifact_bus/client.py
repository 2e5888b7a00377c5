"""ArtifactClient: log a file and go on training; flush or close to wait until it landed.

`log_file` does only what keeps the bytes from changing under the upload (a hard link, a clone,
a rename, or a copy where nothing cheaper works) and queues the rest for one background thread:
staging, publishing (or the HTTP PUT), retried with backoff. `flush`/`close` wait until every
logged artifact is final at every destination, and name what is not. Reading back (download,
download_set, ...) is in _read_back.py.
"""

import collections
import json
import logging
import os
import queue
import random
import tempfile
import threading
import time

from . import _events, _rules
from ._read_back import ReadBack
from .errors import ArtifactBusError, FlushError

log = logging.getLogger("artifact_bus")


class _Item:
    __slots__ = ("id", "project", "run", "name", "level", "metadata", "content_type", "rank", "set",
                 "held", "how", "blob", "destinations", "error", "remote_id", "replayed")

    def __init__(self, **fields):
        self.held = self.how = self.blob = self.error = self.remote_id = self.set = self.replayed = None
        self.destinations = []
        for key, value in fields.items():
            setattr(self, key, value)


class ArtifactClient(ReadBack):
    """One trainer's connection to artifact-bus, over HTTP (the gateway) or directly on NATS."""

    def __init__(self, transport, project=None, run=None, mode="copy", queue_size=64, rank=None,
                 retry_base=0.5, retry_max=30.0):
        self.transport = transport
        self.project = _events.check_token("project", project) if project else None
        self.run = _events.check_token("run", run) if run else None
        self.mode, self.rank = mode, rank
        self.retry_base, self.retry_max = retry_base, retry_max
        self._queue = queue.Queue(maxsize=queue_size)
        self._cv = threading.Condition()
        self._in_flight = 0
        self._sent, self._failed = [], []
        self._event_ids = collections.OrderedDict()  # request id -> event id, the newest 4096
        self._current = None
        self._closing_deadline = None
        self._worker = threading.Thread(target=self._work, name="artifact-bus-sender", daemon=True)
        self._worker.start()

    @classmethod
    def from_env(cls, project=None, run=None, env=None, **options):
        """HTTP when ARTIFACT_BUS_URL is set, else NATS with ARTIFACT_BUS_NATS_URL and a staging dir."""
        env = os.environ if env is None else env
        project = project or env.get("ARTIFACT_BUS_PROJECT")
        run = run or env.get("ARTIFACT_BUS_RUN")
        rank = options.pop("rank", None)
        if rank is None and env.get("RANK", "").isdigit():
            rank = int(env["RANK"])
        if env.get("ARTIFACT_BUS_URL"):
            from ._http import HttpTransport

            transport = HttpTransport(env["ARTIFACT_BUS_URL"], token=env.get("ARTIFACT_BUS_TOKEN"),
                                      spool_dir=env.get("ARTIFACT_BUS_SPOOL_DIR"), ca=env.get("ARTIFACT_BUS_CA"))
        elif env.get("ARTIFACT_BUS_NATS_URL"):
            from ._direct import DirectTransport

            if not env.get("ARTIFACT_BUS_STAGING_DIR"):
                raise ArtifactBusError("ARTIFACT_BUS_STAGING_DIR: the staging directory the uploaders read is needed on NATS")
            transport = DirectTransport(env["ARTIFACT_BUS_NATS_URL"], env["ARTIFACT_BUS_STAGING_DIR"],
                                        user=env.get("ARTIFACT_BUS_NATS_USER"), password=env.get("ARTIFACT_BUS_NATS_PASSWORD"),
                                        token=env.get("ARTIFACT_BUS_NATS_TOKEN"), tls_ca=env.get("ARTIFACT_BUS_NATS_CA"),
                                        inbox_prefix=env.get("ARTIFACT_BUS_NATS_INBOX_PREFIX"))
        else:
            raise ArtifactBusError("set ARTIFACT_BUS_URL (the HTTP gateway) or ARTIFACT_BUS_NATS_URL and ARTIFACT_BUS_STAGING_DIR")
        return cls(transport, project=project, run=run, rank=rank, **options)

    # -- the training thread ----------------------------------------------------------------------

    def log_file(self, path, name=None, level="fit", metadata=None, mode=None, project=None, run=None,
                 content_type=None, set=None):
        """Queues `path` as artifact `name` (default: its file name) and returns the request's id at
        once: the bytes are held (linked, cloned, moved or copied) before it returns, so the caller
        may delete or rewrite its file right away. Blocks only while the queue is full. Raises
        InvalidArtifact for a name a destination that would take it refuses (over NATS; over HTTP
        the gateway refuses it with 400, reported by flush/close).

        `set`: the checkpoint set the file is a member of, its name (e.g. "checkpoints/ep3-ba3000")
        or a dict {"name", "members" (the count, when known up front), "step"}; `name` must lie
        under the set's name. Without a count, close the set with `close_set`."""
        item = self._file_item(path, name, level, metadata, project, run, content_type, set)
        return self._enqueue(item, path, mode or self.mode)

    def stage_file(self, path, name=None, level="fit", metadata=None, mode=None, project=None, run=None,
                   content_type=None):
        """log_file's first half, for a caller that learns the file's set only later (the Composer
        drop-in): checked and held as log_file holds it, but not queued until `submit`."""
        item = self._file_item(path, name, level, metadata, project, run, content_type, None)
        self._hold(item, path, mode or self.mode)
        return item

    def submit(self, staged, set=None):
        """Queues a file `stage_file` held, as a member of `set` (see log_file) if given; its request id."""
        try:
            staged.set = _events.check_set(staged.name, set)
        except _events.InvalidArtifact:
            self.transport.discard(staged)
            raise
        if staged.set is not None and hasattr(self.transport, "remember"):
            self.transport.remember(staged)  # the held request says its set (for a resend)
        return self._submit(staged)

    def pointer_name(self, name, level="fit", project=None, run=None):
        """Whether a destination that would take `name` writes checkpoint sets' pointers under it
        (its `setPointer`), from NATS or the gateway (GET .../name-rules); answers hold a minute."""
        return _rules.pointer_name(self.transport, project or self.project, run or self.run, level, name)

    def _file_item(self, path, name, level, metadata, project, run, content_type, set_):
        name = _events.check_name(name or os.path.basename(path))
        item = _Item(
            id=_events.new_id(),
            project=_events.check_token("project", project or self.project or ""),
            run=_events.check_token("run", run or self.run or ""),
            name=name,
            level=_events.check_level(level),
            metadata=_events.check_metadata(metadata),
            content_type=content_type,
            rank=self.rank,
            set=_events.check_set(name, set_),
        )
        if not os.path.isfile(path):
            raise ArtifactBusError("%s: no such file" % path)
        return item

    def close_set(self, set, members, step=None, level="fit", project=None, run=None):
        """Closes checkpoint set `set` (rank 0, after a barrier, once every rank logged its
        members): says it has `members` members, across every rank. Queued after what this client
        logged before, like a logged file (flush/close wait for it); at each destination the set
        then completes once that many members landed there: its manifest `<set>/_set-manifest.json`
        is published, then its pointer (by default `<dir of set>/latest`) moves to it. `level` is
        the level its members were logged at, so the close reaches the same destinations."""
        ref = _events.close_ref(set, members, step)
        item = _Item(
            id=_events.new_id(),
            project=_events.check_token("project", project or self.project or ""),
            run=_events.check_token("run", run or self.run or ""),
            name="%s/%s" % (set, _events.SET_CLOSE_BASENAME),
            level=_events.check_level(level),
            metadata={},
            content_type="application/json",
            rank=self.rank,
            set=ref,
        )
        fd, path = tempfile.mkstemp(prefix="artifact-bus-close-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps({"set": set, "members": members}).encode() + b"\n")
            return self._enqueue(item, path, "copy")
        finally:
            os.unlink(path)

    def _enqueue(self, item, path, mode):
        self._hold(item, path, mode)
        return self._submit(item)

    def _hold(self, item, path, mode):
        # A name a destination would refuse is refused now (over HTTP, the gateway answers 400).
        check = getattr(self.transport, "check_name", None)
        if check:
            check(item)
        self.transport.hold(item, path, mode)

    def _submit(self, item):
        with self._cv:
            if self._closing_deadline is not None:
                raise ArtifactBusError("the client is closed")
            self._in_flight += 1
        self._queue.put(item)
        return item.id

    def flush(self, timeout=None, landed=True, fail_on_dead=True):
        """Waits until every artifact logged so far is final at every destination; raises FlushError
        naming what is still pending or could not be sent when `timeout` (seconds) passes, and,
        once everything is final, each artifact that ended dead (its destination and why), like
        the TypeScript flush(). `fail_on_dead=False` only waits: dead ones are not an error.
        With `landed=False` it waits only until each was accepted (published, or taken by the
        gateway): durable, but not yet uploaded. What a flush reported (dead, not sent) is not
        reported again unless it timed out."""
        deadline = time.time() + timeout if timeout is not None else float("inf")
        with self._cv:
            while self._in_flight and time.time() < deadline:
                self._cv.wait(min(1.0, max(0.0, deadline - time.time())))
            unsent = [(i.name, "queued") for i in self._queued()]
            if self._current is not None:
                unsent.insert(0, (self._current.name, "still trying: %s" % (self._current.error or "sending")))
            sent, failed = list(self._sent), list(self._failed)
        pending, dead = self.transport.wait(sent, deadline) if sent and landed else ([], [])
        if not fail_on_dead:
            dead = []
        failures = [(i.name, str(i.error)) for i in failed] + unsent
        timed_out = bool(pending or unsent)
        if not timed_out:
            # Reported once, as by the TypeScript flush(): the next flush waits only for what was
            # logged since. What timed out is waited for again.
            with self._cv:
                if landed:
                    self._sent = [i for i in self._sent if i not in sent]
                self._failed = [i for i in self._failed if i not in failed]
        if pending or dead or failures:
            hint = getattr(self.transport, "unsent_hint", None)
            raise FlushError(pending, dead, failures, timed_out=timed_out, hint=hint and hint())

    def close(self, timeout=None, landed=True, fail_on_dead=True):
        """flush(timeout, landed, fail_on_dead), then stops the sender. What could not be sent is
        named in the FlushError, and its held copy kept (the spool in HTTP mode, with its request:
        `python3 -m artifact_bus resend` sends it once this process ended; the staging dir on NATS)."""
        try:
            self.flush(timeout, landed, fail_on_dead)
        finally:
            with self._cv:
                self._closing_deadline = time.time()
                self._cv.notify_all()
            self._queue.put(None)
            self._worker.join(timeout=5)
            self.transport.close()

    def event_id(self, request_id):
        """The event id of a request `log_file` returned, once sent (None before): what the
        gateway's status and the ledger know it by. Over HTTP it is derived from the request id;
        on NATS it is the same."""
        with self._cv:
            return self._event_ids.get(request_id)

    # -- the sender thread ------------------------------------------------------------------------

    def _queued(self):
        return [i for i in list(self._queue.queue) if i is not None]

    def _work(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            with self._cv:
                self._current = item
            self._send(item)
            with self._cv:
                self._current = None
                self._in_flight -= 1
                self._cv.notify_all()

    def _send(self, item):
        for attempt in range(1 << 30):
            try:
                self.transport.send(item)
                with self._cv:
                    self._sent.append(item)
                    self._event_ids[item.id] = item.remote_id
                    if len(self._event_ids) > 4096:
                        self._event_ids.popitem(last=False)
                return
            except (ArtifactBusError, OSError) as err:
                # A held file gone is not going to come back; other OS errors are the network's.
                fatal = isinstance(err, FileNotFoundError) or (isinstance(err, ArtifactBusError) and not err.retryable)
                if fatal:
                    log.error("artifact-bus: %s not sent: %s", item.name, err)
                    item.error = err
                    with self._cv:
                        self._failed.append(item)
                    return
                item.error = err
                delay = min(self.retry_max, self.retry_base * 2 ** attempt) * (1 - 0.25 * random.random())
                delay = max(delay, getattr(err, "retry_after", None) or 0)
                log.warning("artifact-bus: %s: %s; retrying in %.1f s", item.name, err, delay)
            with self._cv:
                if self._closing_deadline is not None:
                    item.error = "not sent before close"
                    self._failed.append(item)
                    return
                self._cv.wait(delay)
