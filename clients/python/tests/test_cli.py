"""`python -m artifact_bus` as a shell script uses it (README, "Command line"): the id alone on
stdout, so `ID=$(python -m artifact_bus put ...)` works; every error one line on stderr with a
documented exit code, never a traceback. The put tests need the stack the wrapper starts; the
error tests need none (nothing listens where they point, and they fail before any network)."""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import uuid

from tests.support import TRANSPORTS, scratch_dir

CLIENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The README's exit codes.
FAILED, USAGE, NOT_FOUND = 1, 2, 4


def cli(*args, env=None, transport=None):
    """Runs the CLI as a user would; `transport` "nats" hides the gateway from it."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = CLIENT
    if transport == "nats":
        env.pop("ARTIFACT_BUS_URL", None)
    return subprocess.run([sys.executable, "-m", "artifact_bus"] + list(args), env=env, cwd=tempfile.gettempdir(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


def a_file(test, data=b"cli bytes"):
    """A file to put, in a temp dir removed when `test` ends."""
    fd, path = tempfile.mkstemp(suffix=".bin", dir=scratch_dir(test))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def nowhere(test):
    """Configured, but nowhere reachable: an error found before the network shows as itself."""
    return {"PATH": os.environ.get("PATH", ""), "ARTIFACT_BUS_URL": "http://127.0.0.1:9",
            "ARTIFACT_BUS_TOKEN": "t", "ARTIFACT_BUS_SPOOL_DIR": scratch_dir(test)}


class PutPrintsTheIdAlone(unittest.TestCase):
    def test_stdout_is_the_id_and_nothing_else_and_json_still_works(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                run = "cli-%s" % uuid.uuid4().hex[:8]
                out = cli("--project", "pyclient", "--run", run, "put", a_file(self), "--name", "cli/a.bin",
                          transport=transport)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertRegex(out.stdout, r"^[A-Za-z0-9_-]{8,}\n$")  # what $(...) captures, whole
                self.assertNotIn("Traceback", out.stderr)
                as_json = cli("--project", "pyclient", "--run", run, "--json", "put", a_file(self), "--name", "cli/b.bin",
                              transport=transport)
                self.assertEqual(as_json.returncode, 0, as_json.stderr)
                self.assertRegex(json.loads(as_json.stdout)["id"], r"^[A-Za-z0-9_-]{8,}$")
                if transport == "http":
                    # The id printed is the one `status` takes.
                    status = cli("--project", "pyclient", "--run", run, "status", out.stdout.strip())
                    self.assertIn(status.returncode, (0, 3), status.stderr)


class ErrorsAreOneLine(unittest.TestCase):
    def assertOneLine(self, out, code, pattern):
        self.assertEqual(out.returncode, code, out.stderr)
        self.assertNotIn("Traceback", out.stderr)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)
        self.assertRegex(out.stderr, pattern)
        self.assertEqual(out.stdout, "")

    def test_a_name_that_escapes_is_refused_naming_the_name(self):
        self.assertOneLine(cli("--project", "p", "--run", "r", "put", a_file(self), "--name", "../x", env=nowhere(self)),
                           USAGE, re.compile(r"^artifact-bus: .*name.*\.\./x", re.S))

    def test_a_missing_file_is_not_found(self):
        self.assertOneLine(cli("--project", "p", "--run", "r", "put", "/nonexistent/model.pt", env=nowhere(self)),
                           NOT_FOUND, r"^artifact-bus: .*/nonexistent/model.pt")

    def test_an_invalid_project_a_bad_option_and_no_run_are_usage_errors(self):
        self.assertOneLine(cli("--project", "a b", "--run", "r", "put", a_file(self), env=nowhere(self)), USAGE, r"project")
        self.assertOneLine(cli("put", a_file(self), "--level", "weekly", env=nowhere(self)), USAGE, r"level")
        self.assertOneLine(cli("--project", "p", "put", a_file(self), env=nowhere(self)), USAGE, r"run")
        self.assertOneLine(cli("--project", "p", "--run", "r", "put", a_file(self), "--meta", "nokey", env=nowhere(self)),
                           USAGE, r"--meta")

    def test_an_existing_destination_is_refused_without_overwrite(self):
        there = a_file(self)
        self.assertOneLine(cli("--project", "p", "--run", "r", "get", "x.pt", there, env=nowhere(self)), USAGE,
                           r"exists.*--overwrite")

    def test_an_unreachable_gateway_is_one_line_and_json_keeps_stdout_parseable(self):
        out = cli("--project", "p", "--run", "r", "--json", "status", "ik-" + "a" * 32, env=nowhere(self))
        self.assertEqual(out.returncode, FAILED, out.stderr)
        self.assertNotIn("Traceback", out.stderr)
        self.assertRegex(out.stderr, r"^artifact-bus: .*unreachable.*\n$")
        self.assertIn("unreachable", json.loads(out.stdout)["error"])


if __name__ == "__main__":
    unittest.main()
