"""The same file logged over each transport, with the same name, level, metadata and content type,
lands the same: the wrapper compares the objects' bytes, content type and metadata."""

import os
import unittest

from tests.support import TRANSPORTS, client, record, scratch_dir, write


class TransportsAgree(unittest.TestCase):
    def test_one_artifact_over_each_transport_lands_identically(self):
        work = scratch_dir(self)
        path = os.path.join(work, "model.safetensors")
        data = os.urandom(300_000)
        sha = write(path, data)
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                bus = client(transport, run="agree-%s-%s" % (transport, os.urandom(3).hex()))
                bus.log_file(path, "models/ünïcode name.safetensors", level="epoch",
                             metadata={"epoch": "3", "note": "same bytes, ünïcode"}, content_type="application/x-safetensors")
                bus.close(timeout=120)
                record("agree_%s" % transport, {"%s/%s/models/ünïcode name.safetensors" % (bus.project, bus.run): sha})


if __name__ == "__main__":
    unittest.main()
