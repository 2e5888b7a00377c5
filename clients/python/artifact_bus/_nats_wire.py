"""The NATS wire protocol on a socket: reading protocol lines and payloads (with the keepalive's
idle hook), a message's headers, and the error a protocol or connection failure raises."""

import socket


class NatsError(Exception):
    """A protocol or connection failure."""


class _Buffer:
    """Reads protocol lines and payloads from a socket."""

    def __init__(self, sock):
        self.sock, self.data = sock, b""
        self.idle = None  # called when the socket's timeout passes without a byte (keepalive)

    def _more(self):
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
                break
            except socket.timeout:
                if self.idle is None:
                    raise
                self.idle()
        if not chunk:
            raise NatsError("connection closed by the server")
        self.data += chunk

    def line(self):
        while b"\r\n" not in self.data:
            self._more()
        line, self.data = self.data.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.data) < n + 2:
            self._more()
        out, self.data = self.data[:n], self.data[n + 2:]
        return out


def _parse_headers(raw):
    lines = raw.decode("utf-8", "replace").split("\r\n")
    headers = {}
    status = lines[0].split(" ", 2)
    if len(status) > 1:
        headers[":status"] = status[1]
    if len(status) > 2:
        headers[":description"] = status[2]
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip()] = value.strip()
    return headers
