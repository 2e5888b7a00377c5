"""Run by the wrapper (not by discovery): an artifact that ends dead makes flush() (or close())
raise FlushError naming it, its destination and why, once; close(fail_on_dead=False) only waits. The wrapper stops the
S3 server first, so nothing uploads until this script removed the staged bytes of `lost.pt` and
printed "ready"; it starts S3 again and creates the GO file."""

import os
import time
import unittest

from artifact_bus import FlushError
from tests.support import TRANSPORTS, client, record, scratch_dir, write


def log_lost_and_kept(bus, work):
    """Logs lost.pt and kept.pt, waits until both are accepted, removes lost.pt's staged bytes."""
    kept = write(os.path.join(work, "kept"), os.urandom(700))
    write(os.path.join(work, "lost"), os.urandom(500))
    lost_id = bus.log_file(os.path.join(work, "lost"), "dead/lost.pt")
    bus.log_file(os.path.join(work, "kept"), "dead/kept.pt")
    bus.flush(timeout=60, landed=False)
    event_id = bus.event_id(lost_id)
    os.unlink(os.path.join(os.environ["ARTIFACT_BUS_STAGING_DIR"], bus.project, bus.run, event_id))
    return {"%s/%s/dead/kept.pt" % (bus.project, bus.run): kept}


class CloseWithADeadArtifact(unittest.TestCase):
    def test_flush_raises_once_naming_the_dead_artifact_unless_told_only_to_wait(self):
        work = scratch_dir(self)
        buses = []
        for transport in TRANSPORTS:
            for fail_on_dead in (True, False):
                bus = client(transport)
                sub = os.path.join(work, "%s-%s" % (transport, fail_on_dead))
                os.mkdir(sub)
                record("dead_%s_%s" % (transport, fail_on_dead), log_lost_and_kept(bus, sub))
                buses.append((transport, fail_on_dead, bus))
        print("ready", flush=True)
        while not os.path.exists(os.environ["GO"]):
            time.sleep(0.05)
        for transport, fail_on_dead, bus in buses:
            with self.subTest(transport=transport, fail_on_dead=fail_on_dead):
                if not fail_on_dead:
                    bus.close(timeout=60, fail_on_dead=False)
                    continue
                with self.assertRaises(FlushError) as raised:
                    bus.flush(timeout=60)
                self.assertFalse(raised.exception.timed_out)
                self.assertEqual([(d[0], d[1]) for d in raised.exception.dead], [("dead/lost.pt", "s3:e2e")])
                self.assertIn("dead/lost.pt at s3:e2e (", str(raised.exception))
                bus.close(timeout=60)  # reported once, as by the TypeScript flush()


if __name__ == "__main__":
    unittest.main()
