"""Reading a checkpoint set back through the gateway: the pointer names the set, the manifest
lists its members with their sizes and sha256, and each member is checked against it before it
is renamed into place, so a resuming trainer never loads a member of another set or a torn file.
A set of one file has no manifest: its file is checked against the sha256 the gateway names for the
version it serves (docs/contract.md section 8, "Reading a set back")."""

import json
import os
import re
from urllib.parse import quote, unquote, urlencode

from . import _events, _staging
from .errors import ArtifactBusError


def download_set(transport, project, run, set_or_pointer, dest_dir, source=None):
    set_name = _set_named(transport, project, run, set_or_pointer, source)
    try:
        manifest, manifest_bytes = _manifest_of(transport, project, run, set_name, source)
    except FileNotFoundError:
        return _download_file_set(transport, project, run, set_name, set_or_pointer, dest_dir, source)
    os.makedirs(dest_dir, exist_ok=True)
    files = []
    for member in manifest["members"]:
        rel = _below(set_name, member["name"])
        final = os.path.join(dest_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(final), exist_ok=True)
        files.append(fetch_member(transport, project, run, manifest, member, final, source))
    _write_atomically(os.path.join(dest_dir, _events.SET_MANIFEST_BASENAME), manifest_bytes)
    return {"set": set_name, "step": manifest.get("step"), "files": files}


def read_manifest(transport, project, run, set_or_pointer, source=None, pointer=True):
    """The manifest of the set `set_or_pointer` names (a pointer's bytes name it, else it is the
    set's own name; with pointer=False, the set's own name), and its bytes; FileNotFoundError when
    that set has no manifest (not complete at the destination read, or no such set, or a set of
    one file, which has none)."""
    _events.check_name(set_or_pointer)
    set_name = _set_named(transport, project, run, set_or_pointer, source) if pointer else set_or_pointer
    return _manifest_of(transport, project, run, set_name, source)


def _set_named(transport, project, run, set_or_pointer, source=None):
    """The set `set_or_pointer` names: a pointer's bytes; the name itself when nothing of that name
    landed (a set's own name) or when it is the file of a set of one file (named as its set)."""
    if getattr(transport, "kind", None) != "http":
        raise ArtifactBusError("reading a checkpoint set back goes through the HTTP gateway: set ARTIFACT_BUS_URL")
    _events.check_name(set_or_pointer)
    try:
        res, conn = _open(transport, project, run, set_or_pointer, source)
    except FileNotFoundError:
        return set_or_pointer  # no artifact of that name: the set itself
    try:
        if _set_of(res) == set_or_pointer:
            return set_or_pointer
        raw = _read_at_most(res, project, run, set_or_pointer, _events.MAX_NAME_BYTES)
    finally:
        conn.close()
    set_name = raw.decode("utf-8", "replace").strip()
    try:
        _events.check_name(set_name)
    except _events.InvalidArtifact:
        raise ArtifactBusError("%s is no pointer: its bytes name no set" % set_or_pointer)
    return set_name


def _manifest_of(transport, project, run, set_name, source=None):
    manifest_name = "%s/%s" % (set_name, _events.SET_MANIFEST_BASENAME)
    try:
        manifest_bytes = _read_small(transport, project, run, manifest_name, source)
    except FileNotFoundError:
        raise FileNotFoundError("%s/%s: set %s has no manifest (not complete at the destination read, or no such set)"
                                % (project, run, set_name))
    manifest = json.loads(manifest_bytes)
    if manifest.get("set") != set_name or not isinstance(manifest.get("members"), list):
        raise ArtifactBusError("%s is no manifest of set %s" % (manifest_name, set_name))
    return manifest, manifest_bytes


def _download_file_set(transport, project, run, set_name, set_or_pointer, dest_dir, source=None):
    """A set of one file, which has no manifest: the newest landed version of the set's name, which
    the gateway must say is that set's file (Artifact-Set), checked against the sha256 it names for
    it (ETag) before it is renamed to its last segment in `dest_dir`."""
    def check(res):
        if _set_of(res) != set_name:
            raise ArtifactBusError("set %s has no manifest, and the newest %s landed is no set of one file's"
                                   % (set_name, set_name))
        if not re.match(r'^"[0-9a-f]{64}"$', res.getheader("ETag") or ""):
            raise ArtifactBusError("the gateway names no sha256 for %s (its ETag): nothing to check it by" % set_name)

    os.makedirs(dest_dir, exist_ok=True)
    final = os.path.join(dest_dir, set_name.rsplit("/", 1)[-1])
    part = os.path.join(dest_dir, ".%s.set-part" % os.path.basename(final))
    try:
        transport.download(project, run, set_name, part, overwrite=True, source=source, check=check)
    except FileNotFoundError:
        what = "no pointer %s, and set %s" % (set_name, set_name) if set_name == set_or_pointer else "set " + set_name
        raise FileNotFoundError("%s/%s: %s has no manifest, nor a file of its name (not complete at the destination "
                                "read, or no such set)" % (project, run, what))
    os.replace(part, final)
    return {"set": set_name, "step": None, "files": [final]}


def _open(transport, project, run, name, source=None):
    """GETs the newest landed version of `name`: (response, connection); FileNotFoundError when
    nothing of that name landed."""
    query = "?" + urlencode({"destination": source}) if source else ""
    path = "%s/artifacts/%s/content%s" % (transport._run_path(project, run), quote(name, safe="/"), query)
    try:
        _, res, conn = transport._call("GET", path, stream=True)
    except ArtifactBusError as err:
        if err.status == 404:
            raise FileNotFoundError("%s/%s/%s: %s" % (project, run, name, err))
        raise
    return res, conn


def _set_of(res):
    """The set the version served was logged in (the gateway's Artifact-Set), or None."""
    header = res.getheader("Artifact-Set")
    return None if header is None else unquote(header)


def _read_small(transport, project, run, name, source=None, limit=16 << 20):
    """The bytes of the newest landed version of `name` (a pointer, a manifest), at most `limit`;
    FileNotFoundError when nothing of that name landed."""
    res, conn = _open(transport, project, run, name, source)
    try:
        return _read_at_most(res, project, run, name, limit)
    finally:
        conn.close()


def _read_at_most(res, project, run, name, limit):
    data = res.read(limit + 1)
    if len(data) > limit:
        raise ArtifactBusError("%s/%s/%s is larger than %d bytes" % (project, run, name, limit))
    return data


def _below(set_name, name):
    """`name` relative to its set, checked: a manifest naming a file outside its set is refused."""
    rel = name[len(set_name) + 1:] if name.startswith(set_name + "/") else None
    if not rel:
        raise ArtifactBusError("the manifest of %s names %r, which is not under the set" % (set_name, name))
    _events.check_name(rel)
    return rel


def fetch_member(transport, project, run, manifest, member, final, source=None):
    """Downloads `member` (an entry of `manifest`) to a temporary name beside `final`, checks its
    size and sha256 against the manifest, then renames it to `final`."""
    name = member["name"]
    _below(manifest["set"], name)
    part = os.path.join(os.path.dirname(final) or ".", ".%s.set-part" % os.path.basename(final))
    transport.download(project, run, name, part, overwrite=True, source=source)
    sha, size = _staging.digest(part)
    if size != member["size"] or sha != member["sha256"]:
        os.unlink(part)
        raise ArtifactBusError("member %s of set %s does not match its manifest: %d bytes, sha256 %s; the manifest says "
                               "%d bytes, sha256 %s" % (name, manifest["set"], size, sha, member["size"], member["sha256"]))
    os.replace(part, final)
    return final


def _write_atomically(path, data):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
