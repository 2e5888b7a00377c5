"""What the client's tests share. They run against a real stack that test/python-client.test.ts
starts (nats-server, an S3 server, an S3 uploader, the gateway) and describes in the environment:
ARTIFACT_BUS_NATS_URL and ARTIFACT_BUS_STAGING_DIR (direct), ARTIFACT_BUS_URL and
ARTIFACT_BUS_TOKEN (HTTP), OUT_DIR (where a test writes what it logged, for the wrapper's
independent checks of the S3 objects)."""

import hashlib
import json
import os
import tempfile
import uuid

from artifact_bus import ArtifactClient

# Which transports the wrapper's stack serves: it says so explicitly, so nothing is skipped silently.
TRANSPORTS = tuple(os.environ.get("TRANSPORTS", "nats,http").split(","))


def client(transport, project="pyclient", run=None, **options):
    """A client on one transport, whatever else the environment holds."""
    env = dict(os.environ)
    if transport == "nats":
        env.pop("ARTIFACT_BUS_URL", None)
    run = run or "run-%s" % uuid.uuid4().hex[:8]
    return ArtifactClient.from_env(project=project, run=run, env=env, **options)


def scratch_dir(test):
    """A fresh temp dir removed when `test` (a TestCase) ends, whether it passed or not."""
    made = tempfile.TemporaryDirectory()
    test.addCleanup(made.cleanup)
    return made.name


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def record(test, artifacts):
    """Writes {s3 key: sha256} of what a test logged, for the wrapper to GET and hash."""
    out = os.path.join(os.environ["OUT_DIR"], "%s.json" % test)
    with open(out, "w") as f:
        json.dump(artifacts, f)
