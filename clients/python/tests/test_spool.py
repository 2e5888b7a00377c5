"""The HTTP transport's spool holds the trainer's files until the gateway has them: it must be the
user's own private directory, or another user of the host could read or swap what is sent."""

import os
import stat
import unittest

from artifact_bus._http import HttpTransport
from artifact_bus.errors import ArtifactBusError
from tests.support import scratch_dir


class Spool(unittest.TestCase):
    def setUp(self):
        self.root = scratch_dir(self)

    def transport(self, spool):
        return HttpTransport("http://127.0.0.1:1", spool_dir=spool)

    def test_it_is_created_private(self):
        spool = os.path.join(self.root, "new")
        self.transport(spool)
        self.assertEqual(stat.S_IMODE(os.lstat(spool).st_mode), 0o700)

    def test_a_readable_one_of_ours_is_made_private(self):
        spool = os.path.join(self.root, "open")
        os.mkdir(spool, 0o755)
        os.chmod(spool, 0o777)
        self.transport(spool)
        self.assertEqual(stat.S_IMODE(os.lstat(spool).st_mode), 0o700)

    def test_a_symlink_is_refused(self):
        target = os.path.join(self.root, "elsewhere")
        os.mkdir(target, 0o700)
        spool = os.path.join(self.root, "link")
        os.symlink(target, spool)
        with self.assertRaisesRegex(ArtifactBusError, "spool.*not a directory of its own"):
            self.transport(spool)

    @unittest.skipUnless(os.getuid() == 0, "making a directory another user owns needs root")
    def test_one_another_user_made_first_is_refused(self):
        spool = os.path.join(self.root, "squatted")
        os.mkdir(spool, 0o777)
        os.chown(spool, 65534, 65534)
        with self.assertRaisesRegex(ArtifactBusError, "spool.*owned by uid 65534"):
            self.transport(spool)
