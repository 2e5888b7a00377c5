"""Reading artifacts and checkpoint sets back through the gateway (HTTP only): ArtifactClient's
download methods, kept apart from logging and sending. Each writes through a temporary name and
checks the bytes (against the sha256 the gateway names, and a set's members against its manifest)
before renaming them into place."""

import os

from . import _sets
from .errors import ArtifactBusError


class ReadBack:
    """Mixed into ArtifactClient: needs its `transport`, `project` and `run`."""

    def download(self, name, destination, project=None, run=None, overwrite=False):
        """The bytes of the newest version of `name` that landed, written to `destination` (HTTP only)."""
        return self.transport.download(project or self.project, run or self.run, name, destination, overwrite)

    def download_set(self, set_or_pointer, dest_dir, project=None, run=None, source=None):
        """Fetches a complete checkpoint set into `dest_dir` (HTTP only): `set_or_pointer` is a
        pointer's name (e.g. "checkpoints/latest": its bytes name the set) or a set's name. Reads
        the set's manifest, then every member, each checked against the manifest's size and sha256
        (ArtifactBusError naming the member on a mismatch) and renamed into place only then: a
        member's path in `dest_dir` is its name below the set's. The manifest is written last, as
        `_set-manifest.json`. A set of one file (no manifest) comes back as its file, checked against
        the sha256 the gateway names for it. Returns {"set", "step", "files": [paths]}."""
        return _sets.download_set(self.transport, project or self.project, run or self.run, set_or_pointer, dest_dir,
                                  source)

    def set_manifest(self, set_or_pointer, project=None, run=None, pointer=True):
        """The manifest (a dict: "set", "step", "members" with each one's "name", "size" and
        "sha256") of the complete set `set_or_pointer` names, a pointer or the set itself (with
        pointer=False, only the set itself; HTTP only); FileNotFoundError when the set has none
        (not complete, or no such set)."""
        return _sets.read_manifest(self.transport, project or self.project, run or self.run, set_or_pointer,
                                   pointer=pointer)[0]

    def download_member(self, manifest, name, destination, project=None, run=None, overwrite=False):
        """Member `name` of the set `manifest` describes (see set_manifest) written to
        `destination`, checked against the manifest's size and sha256 first (ArtifactBusError
        naming it on a mismatch, and on a name the manifest does not list)."""
        member = next((m for m in manifest["members"] if m["name"] == name), None)
        if member is None:
            raise ArtifactBusError("%s is no member of set %s (its manifest lists %d others)"
                                   % (name, manifest["set"], len(manifest["members"])))
        if os.path.exists(destination) and not overwrite:
            raise FileExistsError("%s exists; pass overwrite=True to replace it" % destination)
        return _sets.fetch_member(self.transport, project or self.project, run or self.run, manifest, member,
                                  destination)
