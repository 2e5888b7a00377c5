"""A real nats-server (Debian's binary) for the tests that start their own: on a port it picks
itself (read from its log, so no port race), JetStream on, its own store; SIGSTOP/SIGCONT to freeze
and thaw it as a hung host would be."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

BINARY = shutil.which("nats-server") or "/usr/sbin/nats-server"


class NatsServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="artifact-bus-nats-")
        try:
            self._start()
        except BaseException:
            # The caller gets no server to stop: its store goes now.
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _start(self):
        self.proc = subprocess.Popen([BINARY, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", self.dir],
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        self.url = None
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("nats-server exited: %s" % self.proc.wait())
            found = re.search(r"Listening for client connections on (\S+:\d+)", line)
            if found:
                self.url = "nats://%s" % found.group(1)
            if "Server is ready" in line:
                break
        if not self.url:
            self.stop()
            raise RuntimeError("nats-server did not get ready")
        # Go on reading the log, so a full pipe never blocks the server (and a closed one would
        # kill it: Go exits on SIGPIPE from stderr).
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def freeze(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self):
        try:
            self.thaw()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
