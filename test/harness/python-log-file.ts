/**
 * The Python client over NATS (clients/python) logging one file, as a trainer would: what it says
 * to `log_file` of a name, "accepted" or "refused: <why>". Its checks of a destination's name
 * rules are what the suites using it look at.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import type { BusStack } from "./bus-stack.ts";

const CLIENT = resolve(import.meta.dirname, "../../clients/python");

const SCRIPT = `
import os, sys
from artifact_bus import ArtifactClient, InvalidArtifact
bus = ArtifactClient.from_env(project="demo", run=sys.argv[1])
path = os.path.join(os.environ["DIR"], "py.bin")
open(path, "wb").write(b"x")
try:
    if len(sys.argv) > 3:
        bus.log_file(path, sys.argv[2], set=sys.argv[3])
    else:
        bus.log_file(path, sys.argv[2])
    print("accepted")
except InvalidArtifact as err:
    print("refused:", err)
bus.close(timeout=30)
`;

/** What `log_file` of `name` (in run `run` of project demo; a member of `set`, if given) says: "accepted" or "refused: <why>". */
export async function pythonLogFile(bus: BusStack, run: string, name: string, set?: string): Promise<string> {
  const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const { stdout } = await promisify(execFile)(python, ["-c", SCRIPT, run, name, ...(set ? [set] : [])], {
    cwd: CLIENT,
    env: {
      ...process.env,
      PYTHONPATH: CLIENT,
      ARTIFACT_BUS_NATS_URL: bus.nats.url,
      ARTIFACT_BUS_STAGING_DIR: bus.config.staging.dir,
      DIR: bus.dir,
    },
  });
  return stdout;
}
