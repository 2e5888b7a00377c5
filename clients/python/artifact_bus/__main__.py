"""`python -m artifact_bus put|get|status|wait`: the client from a shell.

Exit codes: 0 done; 1 failed (refused, dead); 2 usage or configuration; 3 timed out (still
pending); 4 not found. `--json` prints one JSON object instead of text.
"""

import argparse
import json
import sys
import time

from .client import ArtifactClient
from .errors import ArtifactBusError, FlushError

OK, FAILED, USAGE, TIMEOUT, NOT_FOUND = 0, 1, 2, 3, 4


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m artifact_bus", description="artifact-bus client")
    parser.add_argument("--project", help="default: ARTIFACT_BUS_PROJECT")
    parser.add_argument("--run", help="default: ARTIFACT_BUS_RUN")
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    put = sub.add_parser("put", help="log a file")
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
    args = parser.parse_args(argv)

    def say(obj, text):
        print(json.dumps(obj) if args.json else text)

    try:
        client = ArtifactClient.from_env(project=args.project, run=args.run)
    except ArtifactBusError as err:
        print("artifact-bus: %s" % err, file=sys.stderr)
        return USAGE
    try:
        if args.command == "put":
            metadata = dict(m.split("=", 1) for m in args.meta if "=" in m)
            if len(metadata) != len(args.meta):
                print("artifact-bus: --meta must look like key=value", file=sys.stderr)
                return USAGE
            request_id = client.log_file(args.file, args.name, level=args.level, metadata=metadata, mode=args.mode)
            # Without --wait: until it is accepted (durable in the stream), not until it landed.
            client.close(args.wait if args.wait is not None else 60.0, landed=args.wait is not None)
            event_id = client.event_id(request_id)
            say({"id": event_id, "requestId": request_id, "landed": args.wait is not None},
                "logged %s as %s" % (args.name or args.file, event_id))
            return OK
        transport = client.transport
        if transport.kind != "http":
            print("artifact-bus: %s needs the HTTP gateway (ARTIFACT_BUS_URL)" % args.command, file=sys.stderr)
            return USAGE
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
    except FlushError as err:
        say({"error": str(err)}, "artifact-bus: %s" % err)
        return TIMEOUT if err.timed_out and not err.dead else FAILED
    except FileNotFoundError as err:
        say({"error": str(err)}, "artifact-bus: %s" % err)
        return NOT_FOUND
    except ArtifactBusError as err:
        say({"error": str(err)}, "artifact-bus: %s" % err)
        return NOT_FOUND if err.status == 404 else FAILED
    finally:
        if args.command != "put":
            client.transport.close()


if __name__ == "__main__":
    sys.exit(main())
