"""Run by the wrapper (not by discovery): a set's member whose bytes at the destination were
changed behind the bus (the bus itself refuses a file logged over a member) is refused on
download, named, and nothing of it is placed. This script logs two sets over HTTP, waits until
they landed, and prints as JSON the S3 key of one member of each; the wrapper overwrites both
objects (same size, other bytes, as test/cli-get-set.test.ts does) and creates the GO file:
  "keep": its metadata kept, so the sha256 the gateway names (its ETag) is the old bytes': the
          download's own check refuses it;
  "rehash": its metadata's sha256 made the new bytes' (a consistent replacement, e.g. another
          version restored from a backup): the gateway vouches for the bytes, and only the
          manifest's sha256 refuses them."""

import json
import os
import time
import unittest

from artifact_bus import ArtifactBusError
from tests.support import client, scratch_dir, write


class ChangedMember(unittest.TestCase):
    def test_a_member_changed_at_the_destination_is_refused_naming_it(self):
        work = scratch_dir(self)
        bus = client("http")
        for set_name, step in (("ck/ep1", 1), ("ck/ep2", 2)):
            for rank, size in ((0, 30_000), (1, 40_000)):
                path = os.path.join(work, "%s-%d" % (set_name.replace("/", "-"), rank))
                write(path, os.urandom(size))
                member = {"name": set_name, "members": 2, "step": step}
                bus.log_file(path, "%s/rank%d.pt" % (set_name, rank), set=member)
        bus.flush(timeout=120)
        key = "%s/%s/%%s" % (bus.project, bus.run)
        print(json.dumps({"keep": key % "ck/ep1/rank1.pt", "rehash": key % "ck/ep2/rank1.pt"}), flush=True)
        deadline = time.time() + 120
        while not os.path.exists(os.environ["GO"]):
            self.assertLess(time.time(), deadline, "the wrapper never said the members were changed")
            time.sleep(0.05)

        with self.subTest("the bytes are not those the gateway names"):
            refused = r"ck/ep1/rank1\.pt: the downloaded bytes do not match the sha256 the gateway named"
            self.assert_refused(bus, "ck/ep1", refused, os.path.join(work, "ep1"))
            with self.assertRaisesRegex(ArtifactBusError, refused):
                bus.download("ck/ep1/rank1.pt", os.path.join(work, "ep1-rank1.pt"))
            self.assertEqual([p for p in os.listdir(work) if p.startswith("ep1-rank1.pt")], [])

        with self.subTest("the bytes are not those the manifest names"):
            refused = r"member ck/ep2/rank1\.pt of set ck/ep2 does not match its manifest: 40000 bytes, sha256 [0-9a-f]{64}"
            self.assert_refused(bus, "ck/latest", refused, os.path.join(work, "latest"))
        bus.close(timeout=30)

    def assert_refused(self, bus, set_or_pointer, refused, dest):
        """download_set and download_member refuse the changed member, naming it, and place nothing
        of it (nor the manifest, whose presence says the set is whole); the other member still reads."""
        with self.assertRaisesRegex(ArtifactBusError, refused):
            bus.download_set(set_or_pointer, dest)
        placed = sorted(os.listdir(dest))
        self.assertNotIn("rank1.pt", placed)
        self.assertNotIn("_set-manifest.json", placed)
        self.assertEqual([p for p in placed if p.startswith(".")], [])

        manifest = bus.set_manifest(set_or_pointer)
        one = os.path.join(dest, "only-rank1.pt")
        with self.assertRaisesRegex(ArtifactBusError, refused):
            bus.download_member(manifest, "%s/rank1.pt" % manifest["set"], one)
        self.assertFalse(os.path.exists(one))
        self.assertEqual([p for p in os.listdir(dest) if p.startswith(".")], [])
        bus.download_member(manifest, "%s/rank0.pt" % manifest["set"], os.path.join(dest, "only-rank0.pt"))


if __name__ == "__main__":
    unittest.main()
