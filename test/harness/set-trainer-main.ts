/**
 * A trainer of checkpoint sets as its own process (its own NATS connection, the public API),
 * driven by one JSON command a line on stdin, as a training loop is driven by its steps; it
 * answers each with one JSON line on stdout:
 * - `{"set": name, "shards": n, "size": bytes}`: logs its n shards of the set (rank 0 adds
 *   `<set>/metadata`) and answers `{"logged": count}` once all are durable: its arrival at the barrier.
 * - `{"close": name, "members": n}` (rank 0, after the barrier): closes the set; `{"closed": name}` once durable.
 * - `{"flush": timeoutMs}`: waits until everything it logged is settled; `{"flushed": true}`.
 * A command that throws answers `{"error": message}`. stdin closed: it drains and exits.
 * Environment: ARTIFACT_BUS_CONFIG, TRAINER_PROJECT, TRAINER_RUN, TRAINER_DIR, TRAINER_RANK.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ArtifactPublisher, connectNats, loadConfig, openBlobStores } from "@artifact-bus/shared";

const env = process.env;
const project = env.TRAINER_PROJECT as string;
const run = env.TRAINER_RUN as string;
const rank = Number(env.TRAINER_RANK);
const config = loadConfig();
const nc = await connectNats(config.nats, { name: `set-trainer-${rank}` });
const blobs = await openBlobStores(config.staging, nc);
const publisher = await ArtifactPublisher.create({ nc, blobStore: blobs.get(config.staging.store), rank });

/** Writes `data` as a file of this rank and logs it as member `name` of `set`. */
async function logMember(set: string, name: string, data: Buffer) {
  const path = join(env.TRAINER_DIR as string, `${run}-rank${rank}-${name.replaceAll("/", "_")}`);
  writeFileSync(path, data);
  return publisher.logFile({ project, run, name, path, set: { name: set } });
}

async function answer(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
  if (typeof cmd.set === "string") {
    const set = cmd.set;
    const handles = [];
    for (let shard = 0; shard < Number(cmd.shards); shard++) {
      // Random bytes (sizes differing by rank and shard): a member mixed up with another is caught by its sha256.
      const data = randomBytes(Number(cmd.size) + rank * 101 + shard);
      handles.push(await logMember(set, `${set}/rank${rank}-shard${shard}.pt`, data));
    }
    if (rank === 0) handles.push(await logMember(set, `${set}/metadata`, Buffer.from(JSON.stringify({ set, run }))));
    await Promise.all(handles.map((h) => h.durable));
    return { logged: handles.length };
  }
  if (typeof cmd.close === "string") {
    await (await publisher.closeSet({ project, run, set: cmd.close, members: Number(cmd.members) })).durable;
    return { closed: cmd.close };
  }
  if (typeof cmd.flush === "number") {
    await publisher.flush({ timeoutMs: cmd.flush });
    return { flushed: true };
  }
  throw new Error(`unknown command ${JSON.stringify(cmd)}`);
}

// One command at a time, in order: the parent waits for each answer before it sends the next.
for await (const line of createInterface({ input: process.stdin })) {
  const reply = await answer(JSON.parse(line)).catch((err: Error) => ({ error: err.message }));
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
await nc.drain();
