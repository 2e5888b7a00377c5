"""Run by test/python-resend.test.ts (not by discovery) while the gateway is down: logs two files
over HTTP and closes, which raises FlushError naming them and the command that sends them; their
held copies and requests stay in ARTIFACT_BUS_SPOOL_DIR for `python3 -m artifact_bus resend`. RUN
names the run; what was logged goes to OUT_DIR (support.record) for the wrapper to read back."""

import os
import tempfile

from tests.support import client, record, write


def main():
    bus = client("http", project="pyresend", run=os.environ["RUN"], retry_base=0.1, retry_max=0.5)
    with tempfile.TemporaryDirectory() as work:
        logged = {}
        for name, level, size in (("left/model.pt", "epoch", 300_000), ("left/notes.txt", "fit", 700)):
            path = os.path.join(work, os.path.basename(name))
            logged["%s/%s/%s" % (bus.project, bus.run, name)] = write(path, os.urandom(size))
            bus.log_file(path, name, level=level, metadata={"epoch": "3", "origin": "spool_left"},
                         content_type="application/x-resend-test")
        record("resend", logged)
        bus.close(timeout=3)  # the gateway is down: FlushError, and this process exits 1


if __name__ == "__main__":
    main()
