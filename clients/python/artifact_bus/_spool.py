"""The HTTP transport's spool: each held file `<id>` has its request next to it, `<id>.json`, so
what a process could not send (the gateway away until it ended) can be sent later by another one
(`python3 -m artifact_bus resend`), under the same Idempotency-Key: a resend of something the
gateway had accepted gets its first answer again, not a second version.

A live client owns its items through a lock file (`.owner-<pid>-<random>.lock`, flock'ed while the
process runs, released by the kernel when it ends): resend leaves the items of a running client
alone. The request holds no secret: not the token, only a 16-hex tag of it to tell a resend with
another token (whose Idempotency-Key then makes another event id) from one with the same."""

import fcntl
import hashlib
import itertools
import json
import logging
import os
import stat
import time
import uuid

from .errors import ArtifactBusError

log = logging.getLogger("artifact_bus")

VERSION = 1
RESEND_COMMAND = "python3 -m artifact_bus resend"
_seq = itertools.count()


def request_path(held):
    return held + ".json"


def token_tag(token):
    """16 hex digits standing for the token (not it): equal tags, very likely the same token."""
    if not token:
        return None
    return hashlib.sha256(b"artifact-bus spool token tag\0" + token.encode()).hexdigest()[:16]


class Owner:
    """This process's claim on the items it holds: an flock'ed lock file in the spool, taken at
    the first hold and given up (unlocked, removed) by close."""

    def __init__(self, spool_dir):
        self.spool_dir, self.name, self._fd = spool_dir, None, None

    def claim(self):
        if self._fd is None:
            # Locked under a temporary name first: a resend never sees it unlocked (and removes it).
            name = ".owner-%d-%s.lock" % (os.getpid(), uuid.uuid4().hex[:8])
            tmp = os.path.join(self.spool_dir, ".claim-" + name[1:])
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(tmp, os.path.join(self.spool_dir, name))
            self.name, self._fd = name, fd
        return self.name

    def release(self):
        if self._fd is not None:
            try:
                os.unlink(os.path.join(self.spool_dir, self.name))
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def write_request(item, owner, token):
    """Writes the request of held item `item` next to it (temp + rename, 0600)."""
    record = {
        "version": VERSION, "id": item.id, "project": item.project, "run": item.run, "name": item.name,
        "level": item.level, "metadata": item.metadata, "contentType": item.content_type, "set": item.set,
        "rank": item.rank, "createdAt": time.time(), "seq": next(_seq), "owner": owner.claim(),
        "tokenTag": token_tag(token),
    }
    path = request_path(item.held)
    tmp = os.path.join(os.path.dirname(path), ".%s.tmp-%s" % (os.path.basename(path), uuid.uuid4().hex[:8]))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.replace(tmp, path)
    except BaseException:
        remove_if_present(tmp)
        raise


def discard(held):
    """The held copy, then its request: a request with no copy is removed by a resend, never a
    copy with no request (it is reported)."""
    remove_if_present(held)
    remove_if_present(request_path(held))


def owner_alive(spool_dir, owner):
    """Whether the process that wrote a request still runs (holds its lock file's lock)."""
    if not owner or "/" in owner:
        return False
    try:
        fd = os.open(os.path.join(spool_dir, owner), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def entries(spool_dir):
    """[(id, request dict or None, why not)] of every held copy or request in the spool."""
    names = set(os.listdir(spool_dir))
    ids = {n[:-5] if n.endswith(".json") else n for n in names if not n.startswith(".")}
    found = []
    for item_id in sorted(ids):
        if item_id not in names:
            found.append((item_id, None, "request with no held copy"))
            continue
        try:
            with open(os.path.join(spool_dir, item_id + ".json")) as f:
                request = json.load(f)
            if not isinstance(request, dict) or request.get("id") != item_id or not request.get("name"):
                raise ValueError("not a request of this item")
            found.append((item_id, request, None))
        except FileNotFoundError:
            found.append((item_id, None, "no request file (held by an older client?)"))
        except (OSError, ValueError) as err:
            found.append((item_id, None, "request file unreadable: %s" % err))
    found.sort(key=lambda e: (e[1] is None, (e[1] or {}).get("createdAt", 0), (e[1] or {}).get("seq", 0)))
    return found


def left_behind(spool_dir):
    """How many held items processes no longer running left in the spool (cheap: at start)."""
    try:
        return sum(1 for _, r, why in entries(spool_dir)
                   if why != "request with no held copy" and not (r and owner_alive(spool_dir, r.get("owner"))))
    except OSError:
        return 0


def warn_left(spool_dir):
    """Says (a warning, once, at start) what earlier processes left unsent, and the command that
    sends it. Not sent by this client: it may hold other projects' or runs' files, or ones its
    token may not write, every rank sharing the spool would race for them, and a trainer's start
    is no time to upload a backlog."""
    left = left_behind(spool_dir)
    if left:
        log.warning("artifact-bus: %d file(s) an earlier process could not send are held in %s; send them with: %s",
                    left, spool_dir, RESEND_COMMAND)


def hint(spool_dir):
    return "what was not sent is held in %s with its request; once this process ended, `%s` sends it" % (
        spool_dir, RESEND_COMMAND)


def claim_request(held):
    """An fd holding the lock of a held item's request while one resend sends it (another one
    skips it), or None when another has it or it went; only while its held copy is still there."""
    try:
        fd = os.open(request_path(held), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.path.exists(held):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def remove_stale_locks(spool_dir):
    """Lock files of processes that ended, and temporary files a crash left (older than an hour)."""
    for name in os.listdir(spool_dir):
        path = os.path.join(spool_dir, name)
        if name.startswith(".owner-") and name.endswith(".lock") and not owner_alive(spool_dir, name):
            remove_if_present(path)
        elif (name.startswith(".claim-") or ".json.tmp-" in name) and _age(path) > 3600:
            remove_if_present(path)


def _age(path):
    try:
        return time.time() - os.lstat(path).st_mtime
    except OSError:
        return 0


def remove_if_present(path):
    """Removes `path`; a file already gone is what was wanted."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def private_dir(path):
    """`path` as a directory only this user can enter: created 0700, or checked when it exists. In a
    shared /tmp anyone may create the name first (or a symlink of that name) and then read or swap
    the files held there, so a directory that is not the user's own is refused, never used."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise ArtifactBusError("spool %s is not a directory of its own (a symlink or a file); "
                               "set ARTIFACT_BUS_SPOOL_DIR" % path)
    if st.st_uid != os.getuid():
        raise ArtifactBusError("spool %s is owned by uid %d, not by you (uid %d): another user could read "
                               "or swap the files held there; remove it or set ARTIFACT_BUS_SPOOL_DIR"
                               % (path, st.st_uid, os.getuid()))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path
