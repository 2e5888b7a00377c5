"""A small NATS client on the standard library: what artifact-bus needs to publish to JetStream.

CONNECT with user and password or a token (no NKEY or JWT creds: signing them needs ed25519,
which the standard library lacks), TLS through `ssl` when the server asks for it or the URL says
`tls://`, HPUB with headers, requests answered on one inbox subscription, PING/PONG, and
reconnects: a lost connection fails the requests in flight (the caller retries them) and is
re-established in the background, across the listed servers.

Keepalive: a frozen server (a hung host, SIGSTOP) keeps its TCP connection open and answers
nothing, so a closed socket never tells. After `ping_interval` seconds without a byte from the
server the client sends PING; after `max_pings_out` of them unanswered it drops the connection and
reconnects, trying the next listed server first. Sends time out the same way, so a publish never
waits on a dead socket for ever.
"""

import logging

import json
import random
import socket
import ssl
import threading
import time
import uuid
from urllib.parse import urlparse

from ._nats_wire import NatsError, _Buffer, _parse_headers

log = logging.getLogger("artifact_bus")

class NoResponders(NatsError):
    """Nobody listens on the subject (e.g. no stream takes it)."""


class NatsTimeout(NatsError):
    """No answer in time; the request may still have been carried out."""


class _Reply:
    __slots__ = ("event", "headers", "data", "error")

    def __init__(self):
        self.event = threading.Event()
        self.headers = {}
        self.data = b""
        self.error = None


def inbox_prefix_of(user, configured=None):
    """The subject prefix of this client's reply inboxes: the configured one, else `_INBOX_<user>`
    (a user's permissions let it subscribe to its own inboxes only: replies carry events and
    blobs), else NATS's `_INBOX` (no user: the local stack without permissions)."""
    prefix = configured or ("_INBOX_%s" % user if user else "_INBOX")
    if any(c in prefix for c in "*> \t\r\n") or "" in prefix.split("."):
        raise NatsError("NATS inbox prefix %r: no wildcard, whitespace or empty token allowed; set "
                         "ARTIFACT_BUS_NATS_INBOX_PREFIX to one the user may subscribe to" % prefix)
    return prefix


class NatsClient:
    def __init__(self, servers, user=None, password=None, token=None, tls_ca=None,
                 name="artifact-bus-python", connect_timeout=5.0, ping_interval=10.0, max_pings_out=2,
                 inbox_prefix=None):
        self.servers = [s.strip() for s in (servers.split(",") if isinstance(servers, str) else servers)]
        self.user, self.password, self.token = user, password, token
        self.tls_ca, self.name, self.connect_timeout = tls_ca, name, connect_timeout
        self.ping_interval, self.max_pings_out = ping_interval, max_pings_out
        self._pings_out = 0
        self._server = None  # the index in self.servers of the one connected to
        self._sock = None
        self._write = threading.Lock()
        self._pending = {}
        self._pending_lock = threading.Lock()
        self._inbox = "%s.%s" % (inbox_prefix_of(user, inbox_prefix), uuid.uuid4().hex)
        self._closed = False
        self._connected = threading.Event()
        self._connect(deadline=time.time() + connect_timeout)
        threading.Thread(target=self._read_loop, name="artifact-bus-nats", daemon=True).start()

    # -- public ---------------------------------------------------------------------------------

    def request(self, subject, payload, headers=None, timeout=10.0):
        """Publishes `payload` with a reply inbox; returns (headers, data) of the answer."""
        if not self._connected.wait(timeout):
            raise NatsTimeout("not connected to NATS at %s" % self._where())
        token = uuid.uuid4().hex
        reply = _Reply()
        with self._pending_lock:
            self._pending[token] = reply
        try:
            self._send(self._pub(subject, "%s.%s" % (self._inbox, token), payload, headers))
            if not reply.event.wait(timeout):
                raise NatsTimeout("no answer on %s within %.1f s" % (subject, timeout))
        finally:
            with self._pending_lock:
                self._pending.pop(token, None)
        if reply.error:
            raise reply.error
        if reply.headers.get(":status") == "503":
            raise NoResponders("no responders on %s" % subject)
        return reply.headers, reply.data

    def request_json(self, subject, body, timeout=10.0):
        _, data = self.request(subject, json.dumps(body).encode("utf-8"), timeout=timeout)
        return json.loads(data)

    def close(self):
        self._closed = True
        self._connected.clear()
        self._drop()

    def _drop(self):
        """Closes the socket; shutdown first, as close alone does not wake a thread in recv."""
        sock, self._sock = self._sock, None
        if sock:
            for end in (lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
                try:
                    end()
                except OSError:
                    pass

    # -- connection -----------------------------------------------------------------------------

    def _where(self):
        return ", ".join(_safe_url(s) for s in self.servers)

    def _connect(self, deadline):
        last = None
        # After a failure, the others first: a frozen server still accepts TCP connections.
        start = 0 if self._server is None else self._server + 1
        order = [(start + i) % len(self.servers) for i in range(len(self.servers))]
        while not self._closed:
            for index in order:
                try:
                    self._open(self.servers[index])
                    self._server = index
                    self._connected.set()
                    return
                except (OSError, NatsError) as err:
                    last = err
            if time.time() >= deadline:
                raise NatsError("cannot reach NATS at %s: %s" % (self._where(), last))
            time.sleep(0.25)

    def _open(self, server):
        url = urlparse(server if "://" in server else "nats://" + server)
        sock = socket.create_connection((url.hostname, url.port or 4222), timeout=self.connect_timeout)
        buf = _Buffer(sock)
        info = buf.line()
        if not info.startswith(b"INFO "):
            raise NatsError("not a NATS server at %s:%s" % (url.hostname, url.port))
        info = json.loads(info[5:])
        if url.scheme == "tls" or info.get("tls_required"):
            context = ssl.create_default_context(cafile=self.tls_ca)
            sock = context.wrap_socket(sock, server_hostname=url.hostname)
            buf = _Buffer(sock)
        options = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                   "lang": "python", "version": "0.1.0", "name": self.name, "protocol": 1}
        user = url.username or self.user
        password = url.password or self.password
        if user:
            options["user"], options["pass"] = user, password or ""
        elif self.token:
            options["auth_token"] = self.token
        sock.sendall(b"CONNECT " + json.dumps(options).encode() + b"\r\nPING\r\n")
        while True:
            line = buf.line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                sock.close()
                raise NatsError("NATS at %s:%s refused the connection: %s" % (url.hostname, url.port, line[5:].decode().strip(" '")))
        # From here on a silent server is asked whether it is alive (see _idle), and a send that
        # cannot proceed for that long fails instead of blocking.
        sock.settimeout(self.ping_interval)
        sock.sendall(b"SUB %s.* 1\r\n" % self._inbox.encode())
        self._pings_out = 0
        buf.idle = self._idle
        self._sock, self._buf = sock, buf

    def _idle(self):
        """The reader heard nothing for ping_interval: PING, or give up on the connection."""
        if self._pings_out >= self.max_pings_out:
            silent = self.ping_interval * (self.max_pings_out + 1)
            log.warning("artifact-bus: NATS at %s answered no PING for %.0f s; reconnecting",
                        _safe_url(self.servers[self._server]), silent)
            raise NatsError("NATS at %s stopped answering" % _safe_url(self.servers[self._server]))
        self._pings_out += 1
        self._send(b"PING\r\n")

    def _read_loop(self):
        while not self._closed:
            try:
                line = self._buf.line()
                self._pings_out = 0  # any byte from the server shows it is alive, a PONG too
                self._dispatch(line)
            except (OSError, NatsError, ValueError, AttributeError):
                if self._closed:
                    return
                self._connected.clear()
                self._drop()
                self._fail_pending(NatsError("connection to NATS lost"))
                time.sleep(random.uniform(0.1, 0.5))
                try:
                    self._connect(deadline=float("inf"))
                except NatsError:
                    return

    def _dispatch(self, line):
        if line.startswith(b"MSG ") or line.startswith(b"HMSG "):
            parts = line.split()
            has_headers = parts[0] == b"HMSG"
            subject = parts[1].decode()
            total = int(parts[-1])
            data = self._buf.exact(total)
            headers = {}
            if has_headers:
                hlen = int(parts[-2])
                headers, data = _parse_headers(data[:hlen]), data[hlen:]
            with self._pending_lock:
                reply = self._pending.get(subject.rsplit(".", 1)[-1])
            if reply:
                reply.headers, reply.data = headers, data
                reply.event.set()
        elif line == b"PING":
            self._send(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            # Permission errors and the like concern the request in flight, not the connection.
            message = line[5:].decode().strip(" '")
            if "permissions violation" in message.lower():
                self._fail_pending(NatsError(message))
            else:
                raise NatsError(message)

    def _fail_pending(self, error):
        with self._pending_lock:
            for reply in self._pending.values():
                reply.error = error
                reply.event.set()

    def _send(self, data):
        with self._write:
            if not self._sock:
                raise NatsError("not connected")
            try:
                self._sock.sendall(data)
            except OSError as err:
                # Part of a message may have gone: the stream is unusable. Dropping it wakes the
                # reader, which reconnects.
                self._drop()
                raise NatsError("connection to NATS lost while sending: %s" % err)

    @staticmethod
    def _pub(subject, reply, payload, headers):
        if headers:
            head = ("NATS/1.0\r\n" + "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n").encode()
            return b"HPUB %s %s %d %d\r\n%s%s\r\n" % (subject.encode(), reply.encode(), len(head),
                                                     len(head) + len(payload), head, payload)
        return b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(), len(payload), payload)


def _safe_url(server):
    """A server URL without the credentials it may carry."""
    url = urlparse(server if "://" in server else "nats://" + server)
    return "%s://%s:%s" % (url.scheme, url.hostname, url.port or 4222)
