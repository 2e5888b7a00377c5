"""Making a trainer's bytes immutable where that is cheap: a hard link, a copy-on-write clone, a
rename; a plain copy where nothing cheaper works. And the sha256 of what was placed."""

import errno
import fcntl
import hashlib
import os
import shutil

_FICLONE = 0x40049409  # Linux: clone a file's extents (btrfs, XFS): a copy-on-write copy
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}
SMALL_FILE_BYTES = 64 * 1024


def place(src, dst, mode):
    """Puts the bytes of `src` at `dst` (a new name); returns how: link, move, clone or copy."""
    if mode not in ("copy", "link", "move"):
        raise ValueError("mode must be copy, link or move, not %r" % (mode,))
    # A small file is copied whatever the mode: as cheap as a link, and it leaves the trainer's alone.
    if mode != "move" and os.path.getsize(src) <= SMALL_FILE_BYTES:
        shutil.copyfile(src, dst)
        return "copy"
    if mode == "link":
        try:
            os.link(src, dst)
            return "link"
        except OSError as err:
            if err.errno not in _NO_LINK:
                raise
    elif mode == "move":
        try:
            os.rename(src, dst)
            return "move"
        except OSError as err:
            if err.errno != errno.EXDEV:
                raise
    if _clone(src, dst):
        return "clone"
    shutil.copyfile(src, dst)
    if mode == "move":
        os.unlink(src)
    return "copy"


def _clone(src, dst):
    try:
        with open(src, "rb") as s, open(dst, "wb") as d:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
        return True
    except OSError:
        try:
            os.unlink(dst)
        except OSError:
            pass
        return False


def digest(path):
    """sha256 (hex) and size of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size
