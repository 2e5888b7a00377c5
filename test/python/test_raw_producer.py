"""A producer written from docs/producers.md alone: no project code, the Python standard library
only. It stages blobs in the fs staging directory, publishes events with HPUB on the NATS protocol,
reads their PubAcks and waits in the ledger until every destination has uploaded them.

Run by test/raw-producer.test.ts, which starts nats-server, an S3 server and an S3 uploader and
passes NATS_URL, STAGING_DIR and OUT (where the published events are written for its checks).
"""

import base64
import hashlib
import json
import os
import socket
import time
import unittest
import uuid


class Nats:
    """Just enough of the NATS protocol: CONNECT, SUB, HPUB and PUB requests, MSG/HMSG, PING/PONG."""

    def __init__(self, url):
        host, port = url.replace("nats://", "").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buf = b""
        self.sid = 0
        info = self._line()
        assert info.startswith(b"INFO "), info
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\nPING\r\n')
        assert self._line() == b"PONG"

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def request(self, subject, payload, headers=None, timeout=10):
        """Sends one message with a reply inbox and returns (headers text, payload) of the answer."""
        self.sid += 1
        inbox = "_INBOX.%s" % uuid.uuid4().hex
        self.sock.sendall(b"SUB %s %d\r\n" % (inbox.encode(), self.sid))
        if headers:
            head = ("NATS/1.0\r\n" + "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n").encode()
            self.sock.sendall(b"HPUB %s %s %d %d\r\n%s%s\r\n" % (subject.encode(), inbox.encode(), len(head), len(head) + len(payload), head, payload))
        else:
            self.sock.sendall(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), inbox.encode(), len(payload), payload))
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                n = int(line.split()[-1])
                return "", self._bytes(n)
            elif line.startswith(b"HMSG "):
                parts = line.split()
                hlen, total = int(parts[-2]), int(parts[-1])
                data = self._bytes(total)
                return data[:hlen].decode(), data[hlen:]
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
        raise TimeoutError(subject)


def name_key(name):
    return base64.b32encode(hashlib.sha256(name.encode("utf-8")).digest()).decode().lower()[:26]


def stage(staging_dir, project, run, event_id, data):
    run_dir = os.path.join(staging_dir, project, run)
    os.makedirs(run_dir, exist_ok=True)
    temp = os.path.join(run_dir, ".tmp-%s-%s" % (event_id, uuid.uuid4().hex[:8]))
    with open(temp, "wb") as f:
        f.write(data)
    os.chmod(temp, 0o444)
    os.rename(temp, os.path.join(run_dir, event_id))
    return {"store": "fs", "ref": "%s/%s/%s" % (project, run, event_id), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class RawProducer(unittest.TestCase):
    def test_events_built_from_the_document_land(self):
        nats = Nats(os.environ["NATS_URL"])
        staging = os.environ["STAGING_DIR"]
        project, run = "raw", "run-%d" % os.getpid()
        names = ["checkpoints/ep1-ba100-rank0.pt", "my model final.pt", "résultats/modèle ☃.pt"]
        published = []
        for name in names:
            event_id = str(uuid.uuid4())
            data = os.urandom(5000) + name.encode("utf-8")
            event = {
                "schema": 1,
                "id": event_id,
                "project": project,
                "run": run,
                "name": name,
                "level": "epoch",
                "blob": stage(staging, project, run, event_id, data),
                "contentType": "application/octet-stream",
                "metadata": {"epoch": "1", "batch": "100"},
                "producer": {"host": socket.gethostname(), "pid": os.getpid(), "rank": 0},
                "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            subject = "artifacts.v1.events.%s.%s.%s.%s" % (project, run, "epoch", name_key(name))
            body = json.dumps(event).encode("utf-8")
            _, ack = nats.request(subject, body, {"Nats-Msg-Id": event_id})
            ack = json.loads(ack)
            self.assertEqual(ack.get("stream"), "ARTIFACTS", ack)
            # The same id again within the duplicate window is stored once.
            _, again = nats.request(subject, body, {"Nats-Msg-Id": event_id})
            self.assertEqual(json.loads(again), {"stream": "ARTIFACTS", "seq": ack["seq"], "duplicate": True})
            published.append(event)

        # Which destinations take them: the consumers whose filter matches the subject.
        _, listing = nats.request("$JS.API.CONSUMER.LIST.ARTIFACTS", b"{}")
        filters = [c["config"].get("filter_subject", "") for c in json.loads(listing)["consumers"] if c["name"].startswith("dest_")]
        tokens = [c["name"][len("dest_"):] for c in json.loads(listing)["consumers"] if c["name"].startswith("dest_")]

        def matches(flt, subject):
            f, s = flt.split("."), subject.split(".")
            return len(f) == len(s) and all(a in ("*", b) for a, b in zip(f, s))

        for event in published:
            subject = "artifacts.v1.events.%s.%s.epoch.%s" % (project, run, name_key(event["name"]))
            mine = [t for t, flt in zip(tokens, filters) if matches(flt, subject)]
            self.assertTrue(mine, "some destination takes %s" % subject)
            for token in mine:
                key = "$KV.artifact_ledger.ev.%s.%s.%s.%s" % (token, project, run, event["id"])
                deadline = time.time() + 30
                while True:
                    _, answer = nats.request("$JS.API.STREAM.MSG.GET.KV_artifact_ledger", json.dumps({"last_by_subj": key}).encode())
                    message = json.loads(answer).get("message")
                    entry = json.loads(base64.b64decode(message["data"])) if message else None
                    if entry and entry["state"] in ("uploaded", "superseded", "dead"):
                        break
                    self.assertLess(time.time(), deadline, "%s at %s still %s" % (event["name"], token, entry))
                    time.sleep(0.2)
                self.assertEqual(entry["state"], "uploaded", entry)
                event["location"] = entry["location"]

        with open(os.environ["OUT"], "w") as f:
            json.dump(published, f)


if __name__ == "__main__":
    unittest.main()
