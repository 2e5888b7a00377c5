"""The event contract (docs/producers.md): name checks, the subject key, and the event itself."""

import base64
import hashlib
import os
import re
import socket
import time
import uuid

LEVELS = ("fit", "epoch", "batch")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u2028\u2029]")
MAX_NAME_BYTES = 1024


class InvalidArtifact(ValueError):
    """Input that can never become valid by retrying; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__("%s: %s" % (field, message))
        self.field = field


def check_token(field: str, value: str) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise InvalidArtifact(field, "%r must match %s" % (value, _TOKEN.pattern))
    return value


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise InvalidArtifact("level", "%r is not one of %s" % (level, ", ".join(LEVELS)))
    return level


def check_name(name: str) -> str:
    """A relative POSIX path that cannot escape a destination's prefix; never rewritten."""
    if not isinstance(name, str) or not name:
        raise InvalidArtifact("name", "must be a non-empty string")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidArtifact("name", "is longer than %d bytes" % MAX_NAME_BYTES)
    if _CONTROL.search(name):
        raise InvalidArtifact("name", "must not contain control characters")
    if "\\" in name:
        raise InvalidArtifact("name", "must not contain a backslash; use '/' between segments")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise InvalidArtifact("name", "%r must be relative" % name)
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidArtifact("name", "%r must not contain empty, '.' or '..' segments" % name)
    return name


def check_metadata(metadata):
    metadata = dict(metadata or {})
    if len(metadata) > 64:
        raise InvalidArtifact("metadata", "at most 64 entries")
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise InvalidArtifact("metadata", "key %r must have 1 to 128 characters" % (key,))
        if not isinstance(value, str) or len(value) > 1024:
            raise InvalidArtifact("metadata", "value of %r must be a string of at most 1024 characters" % key)
    return metadata


MAX_SET_MEMBERS = 2048
SET_CLOSE_BASENAME = "_set-close.json"
SET_MANIFEST_BASENAME = "_set-manifest.json"
# Hidden names a set member may have directly under its set (shared/src/contract/checkpoint-set.ts,
# SET_MEMBER_DOT_NAMES): `.metadata`, the index of a torch.distributed.checkpoint (Composer's sharded one).
SET_MEMBER_DOT_NAMES = frozenset([".metadata"])


def has_dot_segment(name, set_=None):
    """Whether `name` has a segment starting with '.' (what allowDotSegments refuses); a member of
    `set_` (a dict) directly under it named one of SET_MEMBER_DOT_NAMES is no such name."""
    if set_ and not set_.get("close") and name.startswith(set_["name"] + "/"):
        if name[len(set_["name"]) + 1:] in SET_MEMBER_DOT_NAMES:
            return has_dot_segment(set_["name"])
    return any(s.startswith(".") for s in name.split("/"))


def check_set(name, set_):
    """The checkpoint set `name` is a member of, as the event carries it: `set_` is the set's name
    or a dict {name, members (the count, when known up front), step}. A member lies under its set
    (`<set>/...`), or, in a set of one file (`members: 1`), is named as it; names starting with
    `_set-` are a set's own, whether or not the artifact names a set: only a close takes one
    (shared/src/contract/checkpoint-set.ts)."""
    if name.rsplit("/", 1)[-1].startswith("_set-"):
        raise InvalidArtifact("name", "%r: names whose last segment starts with \"_set-\" are a checkpoint set's own "
                              "(its close, its manifest); only the event closing a set takes one" % name)
    if set_ is None:
        return None
    ref = {"name": set_} if isinstance(set_, str) else dict(set_)
    unknown = set(ref) - {"name", "members", "step"}
    if unknown:
        raise InvalidArtifact("set", "unknown field(s) %s (known: name, members, step)" % ", ".join(sorted(unknown)))
    try:
        check_name(ref.get("name"))
    except InvalidArtifact as err:
        raise InvalidArtifact("set.name", str(err).split(": ", 1)[1])
    if "members" in ref:
        _check_count(ref["members"])
    if "step" in ref and (not isinstance(ref["step"], int) or isinstance(ref["step"], bool) or ref["step"] < 0):
        raise InvalidArtifact("set.step", "%r must be an integer >= 0" % (ref["step"],))
    if name == ref["name"]:
        if ref.get("members") == 1:
            return ref  # a set of one file, named as it
        raise InvalidArtifact("name", "%r is named as its set: only a set of one file is (it says members: 1)" % name)
    if not name.startswith(ref["name"] + "/"):
        raise InvalidArtifact("name", "%r must lie under its set's name %r (a member of a set is named \"<set>/...\", "
                              "or, in a set of one file, as the set)" % (name, ref["name"]))
    return ref


def _check_count(members):
    if not isinstance(members, int) or isinstance(members, bool) or not 1 <= members <= MAX_SET_MEMBERS:
        raise InvalidArtifact("set.members", "%r must be an integer from 1 to %d" % (members, MAX_SET_MEMBERS))
    return members


def close_ref(set_name, members, step=None):
    """The `set` of the event closing `set_name` (named `<set>/_set-close.json`)."""
    try:
        check_name(set_name)
    except InvalidArtifact as err:
        raise InvalidArtifact("set.name", str(err).split(": ", 1)[1])
    ref = {"name": set_name, "members": _check_count(members), "close": True}
    if step is not None:
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise InvalidArtifact("set.step", "%r must be an integer >= 0" % (step,))
        ref["step"] = step
    return ref


def new_id() -> str:
    return str(uuid.uuid4())


def check_id(event_id: str) -> str:
    if not _ID.match(event_id):
        raise InvalidArtifact("id", "%r must match %s" % (event_id, _ID.pattern))
    return event_id


def name_key(name: str) -> str:
    """The subject token of a name: base32 (lowercase, no padding) of sha256(name), 26 characters."""
    return base64.b32encode(hashlib.sha256(name.encode("utf-8")).digest()).decode().lower()[:26]


def event_subject(project: str, run: str, level: str, name: str) -> str:
    return "artifacts.v1.events.%s.%s.%s.%s" % (project, run, level, name_key(name))


def build_event(event_id, project, run, name, level, blob, metadata, content_type=None, rank=None, set_=None):
    producer = {"host": socket.gethostname()[:255] or "unknown", "pid": os.getpid()}
    if rank is not None:
        producer["rank"] = int(rank)
    event = {
        "schema": 1,
        "id": event_id,
        "project": project,
        "run": run,
        "name": name,
        "level": level,
        "blob": blob,
        "contentType": content_type or guess_content_type(name),
        "metadata": metadata,
        "producer": producer,
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%03dZ" % (int(time.time() * 1000) % 1000),
    }
    if set_ is not None:
        event["set"] = set_
    return event


_TYPES = {"json": "application/json", "txt": "text/plain", "log": "text/plain", "csv": "text/csv",
          "yaml": "application/yaml", "yml": "application/yaml", "gz": "application/gzip"}


def guess_content_type(name: str) -> str:
    return _TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
