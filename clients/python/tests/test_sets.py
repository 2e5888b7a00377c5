"""Checkpoint sets from Python, over each transport: members logged with their set and the set
closed by rank 0 (or its count known up front) complete at the destination; `download_set` reads
the pointer, the manifest and every member back through the gateway, each checked against the
manifest (a member changed behind the bus is refused, named: tests/changed_member.py, which the
wrapper runs); a close whose answer was lost is retried over HTTP without publishing a second close."""

import hashlib
import json
import os
import unittest

from artifact_bus import ArtifactBusError, ArtifactClient, InvalidArtifact
from tests.losing_proxy import LosingProxy
from tests.support import TRANSPORTS, client, scratch_dir, write


def sha(data):
    return hashlib.sha256(data).hexdigest()


class CheckpointSets(unittest.TestCase):
    def setUp(self):
        self.work = scratch_dir(self)

    def shard(self, name, size):
        path = os.path.join(self.work, name.replace("/", "_"))
        data = os.urandom(size)
        write(path, data)
        return path, data

    def test_a_set_closed_by_rank_0_downloads_whole_through_its_pointer(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                run = "sets-%s-%s" % (transport, os.urandom(3).hex())
                bus = client(transport, run=run)
                ranks = [client(transport, run=run, rank=r) for r in (0, 1)]
                want = {}
                for r, rank_bus in enumerate(ranks):
                    for i in range(2):
                        path, data = self.shard("r%d-%d" % (r, i), 50_000 + 1000 * r + i)
                        rel = "rank%d/shard%d.distcp" % (r, i)
                        rank_bus.log_file(path, "checkpoints/ep1-ba100/%s" % rel, set={"name": "checkpoints/ep1-ba100", "step": 100})
                        want[rel] = data
                for rank_bus in ranks:
                    rank_bus.close(timeout=120)
                bus.close_set("checkpoints/ep1-ba100", members=4, step=100)
                bus.close(timeout=120)

                reader = client("http", run=run)
                dest = os.path.join(self.work, "restore-%s" % transport)
                got = reader.download_set("checkpoints/latest", dest)
                self.assertEqual(got["set"], "checkpoints/ep1-ba100")
                self.assertEqual(got["step"], 100)
                for rel, data in want.items():
                    with open(os.path.join(dest, *rel.split("/")), "rb") as f:
                        self.assertEqual(sha(f.read()), sha(data), rel)
                self.assertTrue(os.path.exists(os.path.join(dest, "_set-manifest.json")))
                self.assertEqual(sorted(p for p in os.listdir(dest) if p.startswith(".")), [])
                reader.close(timeout=10)

    def test_a_count_known_up_front_moves_the_pointer_on_and_a_file_logged_over_a_member_is_refused(self):
        transport = TRANSPORTS[0]
        run = "sets-count-%s" % os.urandom(3).hex()
        bus = client(transport, run=run)
        path, first = self.shard("a", 20_000)
        bus.log_file(path, "ck/ep1/model.pt", set={"name": "ck/ep1", "members": 1})
        path2, second = self.shard("b", 30_000)
        bus.log_file(path2, "ck/ep2/model.pt", set={"name": "ck/ep2", "members": 1, "step": 2})
        bus.close(timeout=120)
        reader = client("http", run=run)
        got = reader.download_set("ck/latest", os.path.join(self.work, "latest"))
        self.assertEqual(got["set"], "ck/ep2")
        with open(os.path.join(self.work, "latest", "model.pt"), "rb") as f:
            self.assertEqual(f.read(), second)
        # The set by its own name, not its pointer.
        reader.download_set("ck/ep1", os.path.join(self.work, "ep1"))
        with open(os.path.join(self.work, "ep1", "model.pt"), "rb") as f:
            self.assertEqual(f.read(), first)

        # A file logged outside the set over its member is refused at the destination, naming the
        # set (a download that finds a changed member: tests/changed_member.py, the object changed
        # behind the bus by the wrapper). The set still reads back as it landed.
        path3, _ = self.shard("c", 20_000)
        reader.log_file(path3, "ck/ep1/model.pt")
        with self.assertRaisesRegex(ArtifactBusError, r'is a member of checkpoint set "ck/ep1"'):
            reader.flush(timeout=120)
        dest = os.path.join(self.work, "ep1-again")
        reader.download_set("ck/ep1", dest)
        with open(os.path.join(dest, "model.pt"), "rb") as f:
            self.assertEqual(f.read(), first)
        reader.close(timeout=10, fail_on_dead=False)

    def test_a_bad_set_is_refused_when_logged(self):
        bus = client(TRANSPORTS[0])
        path, _ = self.shard("bad", 10)
        with self.assertRaisesRegex(InvalidArtifact, "must lie under its set's name"):
            bus.log_file(path, "elsewhere/model.pt", set="ck/ep1")
        with self.assertRaisesRegex(InvalidArtifact, "are a checkpoint set's own"):
            bus.log_file(path, "ck/ep1/_set-manifest.json", set="ck/ep1")
        # Without a set too: a plain "manifest" would replace a complete set's.
        with self.assertRaisesRegex(InvalidArtifact, "are a checkpoint set's own"):
            bus.log_file(path, "ck/ep1/_set-manifest.json")
        with self.assertRaisesRegex(InvalidArtifact, "set.members"):
            bus.log_file(path, "ck/ep1/model.pt", set={"name": "ck/ep1", "members": 0})
        with self.assertRaisesRegex(InvalidArtifact, "set.members"):
            bus.close_set("ck/ep1", members=0)
        bus.close(timeout=10)


class CloseSetRetried(unittest.TestCase):
    def test_a_close_whose_answer_was_lost_is_retried_under_its_key_and_published_once(self):
        # The gateway publishes the close; its answer is lost on the way back, so the client retries.
        proxy = LosingProxy(os.environ["ARTIFACT_BUS_URL"], lambda line: line.startswith("POST ") and "/sets/close" in line)
        self.addCleanup(proxy.close)
        run = "close-retry-%s" % os.urandom(3).hex()
        env = dict(os.environ, ARTIFACT_BUS_URL=proxy.url)
        bus = ArtifactClient.from_env(project="pyclient", run=run, env=env, retry_base=0.05)
        path = os.path.join(scratch_dir(self), "a")
        write(path, os.urandom(2000))
        bus.log_file(path, "ck/ep1/a.pt", set="ck/ep1")
        request = bus.close_set("ck/ep1", members=1, step=1)
        bus.close(timeout=120)

        self.assertEqual(len([line for line in proxy.seen if "/sets/close" in line]), 2, "one close, retried once")
        # The retry got the first close's answer again: the close published is the one the lost
        # answer named, and no second close event was published.
        lost_answer = json.loads(proxy.lost[0][1])
        self.assertEqual(bus.event_id(request), lost_answer["id"])


if __name__ == "__main__":
    unittest.main()
