"""A TCP proxy in front of the real gateway that loses one answer: the gateway gets the request
and does its work, but the client's connection drops before the answer reaches it, as when a
network or a load balancer fails between the two. The client sees a connection error and retries.
It passes every other request and answer through unchanged (the client opens a connection per
request, so each connection carries one)."""

import re
import socket
import threading
from urllib.parse import urlparse


class LosingProxy:
    """Loses the answer to the first request whose request line `lose` accepts."""

    def __init__(self, upstream_url, lose):
        upstream = urlparse(upstream_url)
        if upstream.scheme != "http":
            raise ValueError("the proxy reads plain HTTP; %s is not" % upstream_url)
        self.upstream = (upstream.hostname, upstream.port or 80)
        self.lose = lose
        self.seen = []  # request lines, in order
        self.lost = []  # (request line, the answer's body) of the answer lost
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d%s" % (self._sock.getsockname()[1], upstream.path)
        threading.Thread(target=self._serve, name="losing-proxy", daemon=True).start()

    def close(self):
        self._sock.close()

    def _serve(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn, socket.create_connection(self.upstream) as up:
            request = _read_message(conn.makefile("rb"))
            if request is None:
                return
            line = request.split(b"\r\n", 1)[0].decode("latin-1")
            up.sendall(request)
            answer = _read_message(up.makefile("rb"))
            with self._lock:
                self.seen.append(line)
                lose = not self.lost and self.lose(line)
                if lose:
                    self.lost.append((line, answer.split(b"\r\n\r\n", 1)[1]))
            if not lose:
                conn.sendall(answer)


def _read_message(f):
    """One HTTP/1.1 message (head and a Content-Length body), or None at end of stream."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = f.readline()
        if not line:
            return None
        head += line
    if re.search(rb"(?im)^transfer-encoding:", head):
        raise ValueError("the proxy reads Content-Length bodies only: %r" % head)
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return head + (f.read(int(length.group(1))) if length else b"")
