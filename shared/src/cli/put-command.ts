/**
 * `artifact-bus put`: log one file, print its event as JSON on stdout, optionally wait until it
 * landed. Progress goes to stderr: bars on a terminal, plain lines otherwise (`--quiet`: none).
 * Exits 0 once logged (with `--wait`: once uploaded or superseded everywhere), 1 when it died
 * at a destination or anything failed.
 */
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { openBlobStores } from "../blob/mod.ts";
import { loadConfig } from "../config/config.ts";
import { destinationFromToken } from "../contract/destination-name.ts";
import type { Level } from "../contract/schema.ts";
import { connectNats } from "../nats/connect.ts";
import { ArtifactPublisher } from "../publisher/publisher.ts";
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
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: PUT_OPTIONS,
  });
  const file = positionals[0];
  if (!file || !values.project || !values.run) throw new Error("put needs --project, --run and a FILE");
  const metadata: Record<string, string> = {};
  for (const kv of values.meta ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new Error(`--meta ${JSON.stringify(kv)} must look like key=value`);
    metadata[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const waitS = values.wait === undefined ? undefined : Number(values.wait);
  if (waitS !== undefined && !(waitS >= 0)) throw new Error(`--wait ${JSON.stringify(values.wait)} must be seconds`);
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
        level: values.level as Level,
        metadata,
        mode: (values.mode ?? config.staging.mode) as "copy" | "link" | "move",
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
