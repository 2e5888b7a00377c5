/**
 * `artifact-bus pause --destination D [--reason TEXT]`: every replica of D stops pulling within
 * a few seconds (in-flight uploads finish); D's events wait in its consumer, no attempt spent.
 * `artifact-bus resume --destination D`: its replicas pull again, and the backlog drains. The
 * pause is a record in the ledger bucket (ledger/destination-pause.ts), so it outlives uploader
 * restarts; `artifact-bus status --destinations` shows it. `by` is the NATS user.
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { loadConfig } from "../config/config.ts";
import { pauseDestination, readDestinationPause, resumeDestination } from "../ledger/destination-pause.ts";
import { connectNats } from "../nats/connect.ts";
import { LEDGER_BUCKET } from "../nats/topology-names.ts";
import { parseCommandArgs, UsageError } from "./args.ts";
import { destinationArg, requireKnownDestination } from "./destination-arg.ts";

/** What `pause` takes; `pause --help` prints these names. */
export const PAUSE_OPTIONS = {
  destination: { type: "string" },
  reason: { type: "string" },
} satisfies ParseArgsOptionsConfig;

/** What `resume` takes; `resume --help` prints these names. */
export const RESUME_OPTIONS = {
  destination: { type: "string" },
} satisfies ParseArgsOptionsConfig;

/** The longest reason kept: it is shown in status tables and logs. */
const MAX_REASON = 500;

export function pauseCommand(args: string[]): Promise<number> {
  return run("pause", args);
}

export function resumeCommand(args: string[]): Promise<number> {
  return run("resume", args);
}

async function run(command: "pause" | "resume", args: string[]): Promise<number> {
  // Checked before connecting: a missing or malformed flag is said at once, naming it.
  const values: { destination?: string; reason?: string } = parseCommandArgs(
    args,
    command === "pause" ? PAUSE_OPTIONS : RESUME_OPTIONS,
  ).values;
  const destination = destinationArg(values.destination, "--destination is required, e.g. --destination s3:main");
  const token = destination.token;
  const reason = values.reason?.trim();
  if (values.reason !== undefined && !reason) throw new UsageError("--reason: empty");
  if (reason && reason.length > MAX_REASON) throw new UsageError(`--reason: longer than ${MAX_REASON} characters`);

  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: `artifact-bus-${command}` });
  try {
    await requireKnownDestination(await jetstreamManager(nc), destination);
    const kv = await new Kvm(nc).open(LEDGER_BUCKET);
    const name = destination.full;
    if (command === "resume") {
      const was = await resumeDestination(kv, token);
      console.log(was ? `${name} resumed (paused by ${was.by} at ${was.at})` : `${name} was not paused`);
      return 0;
    }
    const before = await readDestinationPause(kv, token);
    const by = config.nats.user ?? "operator";
    const record = await pauseDestination(kv, token, { by, reason });
    if (before) console.error(`${name} was paused already by ${before.by} at ${before.at}: pause renewed`);
    console.log(`${name} paused by ${record.by}${record.reason ? `: ${record.reason}` : ""}`);
    console.log(`its uploaders stop pulling within seconds; resume with: artifact-bus resume --destination ${name}`);
    return 0;
  } finally {
    await nc.drain();
  }
}
