"""The HTTP spool keeps each held file's request next to it (`<id>.json`), so what a process
could not send is sent later by `python3 -m artifact_bus resend`. These need no stack: the gateway
is nowhere, and what is checked is what stays in the spool, what is reported, and the exit code
(test/python-resend.test.ts sends for real)."""

import json
import os
import stat
import subprocess
import sys
import unittest

from artifact_bus import ArtifactClient, FlushError, _spool
from tests.support import scratch_dir, write

CLIENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "tok-resend-not-to-be-written"


class Spool(unittest.TestCase):
    def setUp(self):
        self.spool = os.path.join(scratch_dir(self), "spool")
        self.work = scratch_dir(self)
        self.env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": CLIENT, "ARTIFACT_BUS_URL": "http://127.0.0.1:9",
                    "ARTIFACT_BUS_TOKEN": TOKEN, "ARTIFACT_BUS_SPOOL_DIR": self.spool}

    def client(self):
        return ArtifactClient.from_env(project="pyresend", run="r1", env=self.env, rank=2, retry_base=0.05,
                                       retry_max=0.2)

    def a_file(self, name, data):
        path = os.path.join(self.work, name)
        write(path, data)
        return path

    def left_by_a_process(self, name="a/b.bin"):
        """An item a process that has ended could not send; its id."""
        bus = self.client()
        request_id = bus.log_file(self.a_file("f", b"x" * 100),
                                  name, level="epoch", metadata={"epoch": "1"}, content_type="text/x-test")
        with self.assertRaises(FlushError) as raised:
            bus.close(timeout=0.5)
        self.assertIn("python3 -m artifact_bus resend", str(raised.exception))
        self.assertIn(self.spool, str(raised.exception))
        return request_id

    def resend(self):
        out = subprocess.run([sys.executable, "-m", "artifact_bus", "--json", "resend", "--timeout", "0"],
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertNotIn("Traceback", out.stderr)
        return out.returncode, json.loads(out.stdout)["items"]

    def files(self):
        return sorted(f for f in os.listdir(self.spool) if not f.startswith("."))

    def test_the_request_is_held_next_to_the_copy_privately_and_without_the_token(self):
        request_id = self.left_by_a_process()
        self.assertEqual(self.files(), [request_id, request_id + ".json"])
        path = os.path.join(self.spool, request_id + ".json")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            text = f.read()
        self.assertNotIn(TOKEN, text)
        request = json.loads(text)
        self.assertEqual({k: request[k] for k in ("id", "project", "run", "name", "level", "metadata", "contentType",
                                                  "rank", "set")},
                         {"id": request_id, "project": "pyresend", "run": "r1", "name": "a/b.bin", "level": "epoch",
                          "metadata": {"epoch": "1"}, "contentType": "text/x-test", "rank": 2, "set": None})
        self.assertEqual(sorted(os.listdir(self.spool)), self.files())  # its owner's lock went with close

    def test_what_cannot_be_sent_is_reported_and_kept_and_the_exit_is_1(self):
        request_id = self.left_by_a_process()
        code, items = self.resend()
        self.assertEqual(code, 1)
        self.assertEqual([(i["outcome"], i["name"]) for i in items], [("failed", "a/b.bin")])
        self.assertIn("unreachable", items[0]["detail"])
        self.assertEqual(self.files(), [request_id, request_id + ".json"])

    def test_a_held_copy_with_no_or_an_unreadable_request_is_reported_not_deleted(self):
        self.client().close()  # makes the spool
        write(os.path.join(self.spool, "older"), b"an older client's")
        write(os.path.join(self.spool, "broken"), b"bytes")
        write(os.path.join(self.spool, "broken.json"), b"{not json")
        code, items = self.resend()
        self.assertEqual(code, 1)
        self.assertEqual(sorted((i["outcome"], i["requestId"]) for i in items),
                         [("unreadable", "broken"), ("unreadable", "older")])
        self.assertIn("no request file", next(i for i in items if i["requestId"] == "older")["detail"])
        self.assertEqual(self.files(), ["broken", "broken.json", "older"])

    def test_a_request_whose_copy_went_is_removed(self):
        request_id = self.left_by_a_process()
        os.unlink(os.path.join(self.spool, request_id))
        self.assertEqual(self.resend(), (0, []))
        self.assertEqual(os.listdir(self.spool), [])

    def test_a_running_clients_items_are_left_to_it(self):
        bus = self.client()
        bus.log_file(self.a_file("g", b"y"), "mine.bin")
        try:
            code, items = self.resend()
            self.assertEqual(code, 3)
            self.assertEqual([(i["outcome"], i["name"]) for i in items], [("running", "mine.bin")])
            self.assertEqual(len(self.files()), 2)
        finally:
            with self.assertRaises(FlushError):
                bus.close(timeout=0.2)

    def test_an_item_another_resend_is_sending_is_left_to_it(self):
        request_id = self.left_by_a_process()
        claim = _spool.claim_request(os.path.join(self.spool, request_id))
        try:
            code, items = self.resend()
        finally:
            os.close(claim)
        self.assertEqual(code, 3)
        self.assertEqual([(i["outcome"], i["detail"]) for i in items], [("running", "being sent by another resend")])
        self.assertEqual(self.files(), [request_id, request_id + ".json"])

    def test_a_staged_file_submitted_to_a_set_says_its_set(self):
        bus = self.client()
        staged = bus.stage_file(self.a_file("s", b"z"),
                                "ck/ep1.pt")
        with open(os.path.join(self.spool, staged.id + ".json")) as f:
            self.assertIsNone(json.load(f)["set"])
        bus.submit(staged, set={"name": "ck/ep1.pt", "members": 1, "step": 7})
        with open(os.path.join(self.spool, staged.id + ".json")) as f:
            self.assertEqual(json.load(f)["set"], {"name": "ck/ep1.pt", "members": 1, "step": 7})
        with self.assertRaises(FlushError):
            bus.close(timeout=0.2)

    def test_a_new_client_says_what_an_earlier_process_left_and_sends_nothing(self):
        self.left_by_a_process()
        with self.assertLogs("artifact_bus", "WARNING") as logged:
            self.client().close(timeout=1)
        self.assertIn("1 file(s) an earlier process could not send", logged.output[0])
        self.assertIn("python3 -m artifact_bus resend", logged.output[0])
        self.assertNotIn(TOKEN, "\n".join(logged.output))


if __name__ == "__main__":
    unittest.main()
