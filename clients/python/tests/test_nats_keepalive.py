"""A NATS server that freezes (SIGSTOP: a hung host, a stuck VM) keeps its TCP connections open and
answers nothing. The client must notice by its own PINGs, drop the connection and reconnect: to
the next server listed, or to the same one once it answers again, instead of retrying publishes on
a dead socket forever. Real nats-servers, started here; no stack needed."""

import time
import unittest

from artifact_bus._nats import NatsClient, NatsError
from tests.nats_server import NatsServer

# Fast keepalive for the test: stale after about 3 s of silence instead of about 30 s.
KEEPALIVE = {"ping_interval": 1.0, "connect_timeout": 2.0}
INFO = "$JS.API.INFO"  # answered by the server itself: no stream or responder needed


def until(deadline_s, attempt):
    """Calls attempt() until it returns a value (not None) or deadline_s pass; returns (value, seconds)."""
    started = time.time()
    while time.time() - started < deadline_s:
        value = attempt()
        if value is not None:
            return value, time.time() - started
    return None, time.time() - started


def answered(client):
    try:
        return client.request_json(INFO, {}, timeout=1.0)
    except NatsError:
        return None


class FrozenServer(unittest.TestCase):
    def setUp(self):
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.stop()

    def start(self):
        self.servers.append(NatsServer())
        return self.servers[-1]

    def test_a_frozen_server_is_left_for_the_next_one_listed(self):
        first, second = self.start(), self.start()
        client = NatsClient("%s,%s" % (first.url, second.url), **KEEPALIVE)
        try:
            self.assertIn("memory", answered(client))
            first.freeze()
            answer, took = until(30, lambda: answered(client))
            self.assertIsNotNone(answer, "no answer within 30 s: the client stayed on the frozen server")
            self.assertLess(took, 15)  # about 3 s to notice plus 2 s to give up on the frozen one
        finally:
            client.close()

    def test_a_frozen_server_is_noticed_and_reconnected_when_it_answers_again(self):
        server = self.start()
        client = NatsClient(server.url, **KEEPALIVE)
        try:
            self.assertIsNotNone(answered(client))
            server.freeze()

            def noticed():
                try:
                    client.request_json(INFO, {}, timeout=1.0)
                except NatsError as err:
                    return True if "not connected" in str(err) else None

            self.assertTrue(until(20, noticed)[0], "the client never noticed the server froze")
            server.thaw()
            answer, _ = until(20, lambda: answered(client))
            self.assertIsNotNone(answer, "no answer within 20 s of the server coming back")
        finally:
            client.close()


if __name__ == "__main__":
    unittest.main()
