"""Times the Python client's log_file of a 1 GiB file in link mode, per transport, and os.link of
the same file as the floor; prints one JSON object {transport: [ms, ...], "os.link": [ms, ...]}.
Run by bench/python-bench.ts against a live stack described in the environment."""

import json
import os
import sys
import tempfile
import time

from artifact_bus import ArtifactClient

ROUNDS = int(os.environ.get("ROUNDS", "5"))
SIZE = int(os.environ.get("SIZE", str(1 << 30)))

work = tempfile.mkdtemp(dir=os.environ.get("WORK_DIR"))
path = os.path.join(work, "big.pt")
with open(path, "wb") as f:
    block = os.urandom(1 << 20)
    for _ in range(SIZE // len(block)):
        f.write(block)
out = {"os.link": []}
for i in range(ROUNDS):
    t0 = time.perf_counter()
    os.link(path, path + ".%d" % i)
    out["os.link"].append((time.perf_counter() - t0) * 1000)
    os.unlink(path + ".%d" % i)
for transport in sys.argv[1:]:
    env = dict(os.environ)
    if transport == "nats":
        env.pop("ARTIFACT_BUS_URL", None)
    bus = ArtifactClient.from_env(project="bench", run="pylog-%s" % transport, env=env, mode="link")
    times = []
    for i in range(ROUNDS):
        t0 = time.perf_counter()
        bus.log_file(path, "big-%d.pt" % i)
        times.append((time.perf_counter() - t0) * 1000)
        bus.flush(timeout=600)  # the next round starts with nothing in flight
    bus.close(timeout=600)
    out[transport] = times
print(json.dumps(out))
