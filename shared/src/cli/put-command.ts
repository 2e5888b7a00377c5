/**
 * `artifact-bus put`: log one file, print its event as JSON on stdout, optionally wait until it
 * landed. Progress goes to stderr: bars on a terminal, plain lines otherwise (`--quiet`: none).
 * Exits 0 once logged (with `--wait`: once uploaded or superseded everywhere), 1 when it died
 * at a destination or anything failed, 2 for bad arguments (main.ts, from a UsageError).
 */
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import type { ParseArgsOptionsConfig } from "node:util";
import { openBlobStores } from "../blob/mod.ts";
import { STAGING_MODES } from "../blob/store.ts";
import { loadConfig } from "../config/config.ts";
import { destinationFromToken } from "../contract/destination-name.ts";
import { LEVELS } from "../contract/schema.ts";
import { connectNats } from "../nats/connect.ts";
import { ArtifactPublisher } from "../publisher/publisher.ts";
import { parseCommandArgs, UsageError } from "./args.ts";
import { type ProgressStream, putProgress } from "./progress/put-progress.ts";

/** Writes nothing: `--quiet`. */
const SILENT: ProgressStream = { write: () => true, isTTY: false };

/** What `put` takes; `put --help` prints these names. */
export const PUT_OPTIONS = {
  project: { type: "string" },
  run: { type: "string" },
  name: { type: "string" },
  level: { type: "string", default: "fit" },
  meta: { type: "string", multiple: true, default: [] },
  mode: { type: "string" },
  wait: { type: "string" },
  quiet: { type: "boolean", short: "q", default: false },
} satisfies ParseArgsOptionsConfig;

export async function putCommand(args: string[], stderr: ProgressStream = process.stderr): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, PUT_OPTIONS, ["FILE"]);
  const file = positionals[0];
  if (!file || !values.project || !values.run) throw new UsageError("put needs --project, --run and a FILE");
  const level = oneOf("--level", values.level, LEVELS);
  const mode = values.mode === undefined ? undefined : oneOf("--mode", values.mode, STAGING_MODES);
  const metadata: Record<string, string> = {};
  for (const kv of values.meta) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError(`--meta ${JSON.stringify(kv)} must look like key=value`);
    const key = kv.slice(0, i);
    // One key, one value: which of two the user meant is theirs to say, not ours to guess.
    if (Object.hasOwn(metadata, key)) throw new UsageError(`--meta: key ${JSON.stringify(key)} given twice`);
    metadata[key] = kv.slice(i + 1);
  }
  const waitS = values.wait === undefined ? undefined : Number(values.wait);
  if (waitS !== undefined && !(waitS >= 0))
    throw new UsageError(`--wait ${JSON.stringify(values.wait)} must be seconds`);
  const name = values.name ?? basename(file);
  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: "artifact-bus-cli" });
  try {
    const blobs = await openBlobStores(config.staging, nc);
    const publisher = await ArtifactPublisher.create({ nc, blobStore: blobs.get(config.staging.store) });
    const progress = putProgress(values.quiet ? SILENT : stderr, { name, total: (await stat(file)).size });
    const dead: string[] = [];
    try {
      const handle = await publisher.logFile({
        project: values.project,
        run: values.run,
        name,
        path: file,
        level,
        metadata,
        mode: mode ?? config.staging.mode,
        onStagingProgress: (bytes) => progress.staging(bytes),
      });
      // The command answers once the event is in the stream, with the sha256 it carries.
      const logged = await handle.durable;
      progress.staged();
      console.log(
        JSON.stringify({
          id: logged.id,
          streamSeq: logged.streamSeq,
          size: logged.blob.size,
          sha256: logged.blob.sha256,
          destinations: logged.destinations,
        }),
      );
      if (waitS !== undefined) {
        progress.waiting(logged.destinations);
        // Dead ones are reported below, one line each, with exit code 1: the flush only waits.
        await publisher.flush({
          timeoutMs: waitS * 1000,
          failOnDead: false,
          onEntry: (awaited, entry) => {
            const destination = destinationFromToken(awaited.destinationToken);
            progress.update(destination, entry);
            if (entry.state === "dead") dead.push(`${destination}: ${entry.error ?? "dead"}`);
          },
        });
      }
    } finally {
      progress.end();
    }
    await blobs.close();
    if (dead.length > 0) {
      console.error(`artifact-bus: dead at ${dead.join("; ")} (see artifact-bus dlq)`);
      return 1;
    }
    if (waitS !== undefined) console.log("landed at every destination");
    return 0;
  } finally {
    await nc.drain();
  }
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag} ${JSON.stringify(value)} is not one of ${allowed.join(", ")}`);
}
