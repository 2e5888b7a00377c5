"""`python -m artifact_bus put|get|status|wait|resend`: the client from a shell.

stdout carries only the answer (`put`: the event id alone, so `ID=$(python -m artifact_bus put
...)` works; `--json`: one JSON object); messages and errors go to stderr, each error one line.
Exit codes: 0 done; 1 failed (refused, dead, unreachable); 2 usage or configuration (a bad
option, name or project, an existing destination); 3 timed out (still pending); 4 not found (an
id, a name or a local file); 130 interrupted. ARTIFACT_BUS_DEBUG=1 adds the traceback.
"""

import argparse
import json
import os
import sys
import time
import traceback

from ._events import InvalidArtifact
from .client import ArtifactClient
from .errors import ArtifactBusError, FlushError

OK, FAILED, USAGE, TIMEOUT, NOT_FOUND, INTERRUPTED = 0, 1, 2, 3, 4, 130


class _Usage(Exception):
    """A usage error found by argparse: reported in one line like every other error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the whole usage and then the error; one line that names the problem is
        # what a script's log should hold, and --help has the usage.
        raise _Usage("%s (see --help)" % message)


def _parser():
    parser = _Parser(prog="python -m artifact_bus", description="artifact-bus client")
    parser.add_argument("--project", help="default: ARTIFACT_BUS_PROJECT")
    parser.add_argument("--run", help="default: ARTIFACT_BUS_RUN")
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    put = sub.add_parser("put", help="log a file; prints its event id")
    put.add_argument("file")
    put.add_argument("--name", help="artifact name (default: the file's name)")
    put.add_argument("--level", default="fit", choices=("fit", "epoch", "batch"))
    put.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    put.add_argument("--mode", default="copy", choices=("copy", "link", "move"))
    put.add_argument("--wait", type=float, metavar="SECONDS", help="wait until it landed everywhere")
    get = sub.add_parser("get", help="download the newest landed version of an artifact (HTTP)")
    get.add_argument("name")
    get.add_argument("destination")
    get.add_argument("--overwrite", action="store_true")
    status = sub.add_parser("status", help="an artifact's state at each destination (HTTP)")
    status.add_argument("id")
    wait = sub.add_parser("wait", help="wait until every artifact of the run is final (HTTP)")
    wait.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS")
    resend = sub.add_parser("resend", help="send what earlier processes left in the spool (HTTP)")
    resend.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long to retry an unreachable gateway")
    return parser


def main(argv=None):
    as_json = "--json" in (sys.argv[1:] if argv is None else argv)

    def fail(code, message):
        print("artifact-bus: %s" % " ".join(str(message).split()), file=sys.stderr)
        if as_json:
            print(json.dumps({"error": str(message), "exit": code}))
        return code

    client = None
    try:
        args = _parser().parse_args(argv)
        if args.command == "resend":
            return _resend_left(args)
        client = ArtifactClient.from_env(project=args.project, run=args.run)
        return _run(args, client)
    except _Usage as err:
        return fail(USAGE, err)
    except FlushError as err:
        return fail(TIMEOUT if err.timed_out and not err.dead else FAILED, err)
    except FileNotFoundError as err:
        return fail(NOT_FOUND, err)
    except FileExistsError as err:
        return fail(USAGE, "%s (get: pass --overwrite)" % err)
    except InvalidArtifact as err:
        return fail(USAGE, err)
    except ArtifactBusError as err:
        # No transport configured is the caller's configuration: a usage error.
        code = NOT_FOUND if err.status == 404 else USAGE if client is None else FAILED
        return fail(code, err)
    except KeyboardInterrupt:
        return fail(INTERRUPTED, "interrupted")
    except Exception as err:  # noqa: BLE001 - the promise is one line, whatever went wrong
        if os.environ.get("ARTIFACT_BUS_DEBUG"):
            traceback.print_exc()
        return fail(FAILED, "%s: %s" % (type(err).__name__, err))
    finally:
        if client is not None and getattr(client, "_closing_deadline", None) is None:
            client.transport.close()


def _resend_left(args):
    """resend: every item of the spool, each with its own request (project, run, ...); 0 when
    nothing is left, 1 when something could not be sent (or has no request), 3 when only a
    running client's items are left."""
    from . import _resend
    from ._http import HttpTransport

    if not os.environ.get("ARTIFACT_BUS_URL"):
        raise _Usage("resend needs the HTTP gateway (ARTIFACT_BUS_URL)")
    transport = HttpTransport(os.environ["ARTIFACT_BUS_URL"], token=os.environ.get("ARTIFACT_BUS_TOKEN"),
                              spool_dir=os.environ.get("ARTIFACT_BUS_SPOOL_DIR"), ca=os.environ.get("ARTIFACT_BUS_CA"),
                              warn_left=False)
    report = _resend.resend(transport, timeout=args.timeout)
    lines, left = _resend.summary(report)
    if args.json:
        print(json.dumps({"spool": transport.spool_dir, "items": [
            {"outcome": o, "requestId": i, "name": n, "detail": d} for o, i, n, d in report], "left": len(left)}))
    else:
        print("\n".join(lines + ["%d sent, %d left in %s" % (len(report) - len(left), len(left), transport.spool_dir)]))
    if left:
        print("artifact-bus: %d item(s) left in %s, not sent" % (len(left), transport.spool_dir), file=sys.stderr)
    return OK if not left else TIMEOUT if all(r[0] == _resend.RUNNING for r in left) else FAILED


def _run(args, client):
    def say(obj, text):
        print(json.dumps(obj) if args.json else text)

    if args.command == "put":
        if any("=" not in m for m in args.meta):
            raise _Usage("--meta must look like key=value")
        metadata = dict(m.split("=", 1) for m in args.meta)
        if not os.path.isfile(args.file):
            raise FileNotFoundError("%s: no such file" % args.file)
        request_id = client.log_file(args.file, args.name, level=args.level, metadata=metadata, mode=args.mode)
        # Without --wait: until it is accepted (durable in the stream), not until it landed.
        client.close(args.wait if args.wait is not None else 60.0, landed=args.wait is not None)
        event_id = client.event_id(request_id)
        landed = args.wait is not None
        print("artifact-bus: %s %s" % (args.name or args.file, "landed" if landed else "accepted"), file=sys.stderr)
        say({"id": event_id, "requestId": request_id, "landed": landed}, event_id)
        return OK
    transport = client.transport
    if transport.kind != "http":
        raise _Usage("%s needs the HTTP gateway (ARTIFACT_BUS_URL)" % args.command)
    if args.command == "get":
        client.download(args.name, args.destination, overwrite=args.overwrite)
        say({"name": args.name, "destination": args.destination}, "wrote %s" % args.destination)
        return OK
    if args.command == "status":
        _, _, data = transport._call("GET", "/v1/artifacts/%s" % args.id)
        answer = json.loads(data)
        say(answer, "\n".join("%s: %s" % (d, s.get("state")) for d, s in answer.get("destinations", {}).items()))
        states = [s.get("state") for s in answer.get("destinations", {}).values()]
        return FAILED if "dead" in states else OK if answer.get("done") else TIMEOUT
    answer = transport.wait_run(client.project, client.run, None, time.time() + args.timeout)
    say(answer, "done" if answer.get("done") else "still pending: %d" % len(answer.get("pending", [])))
    return FAILED if answer.get("dead") else OK if answer.get("done") else TIMEOUT


if __name__ == "__main__":
    sys.exit(main())
