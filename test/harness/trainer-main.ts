/**
 * A trainer as its own process, for cluster and load tests: it logs artifacts until SIGTERM
 * (or TRAINER_COUNT), one JSON line per PubAck on stdout: {id, name, sha256, seq, ms}, where ms is
 * how long logFile and its durable took. Every TRAINER_LATEST_EVERY-th artifact is a new version of `latest.pt`.
 * Environment: ARTIFACT_BUS_CONFIG, TRAINER_PROJECT, TRAINER_RUN, TRAINER_DIR, and optional
 * TRAINER_COUNT, TRAINER_SIZE (bytes, default 2000), TRAINER_INTERVAL_MS, TRAINER_LATEST_EVERY.
 */
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ArtifactPublisher, connectNats, loadConfig, openBlobStores } from "@artifact-bus/shared";

const env = process.env;
const config = loadConfig();
const nc = await connectNats(config.nats, { name: `trainer-${process.pid}` });
// Staging waits out a bucket without a leader as long as the publish waits for its PubAck.
const blobs = await openBlobStores(config.staging, nc, { stageTimeoutMs: 120_000 });
const publisher = await ArtifactPublisher.create({
  nc,
  blobStore: blobs.get(config.staging.store),
  publishTimeoutMs: 120_000,
});
const count = Number(env.TRAINER_COUNT ?? Number.POSITIVE_INFINITY);
const size = Number(env.TRAINER_SIZE ?? 2000);
const interval = Number(env.TRAINER_INTERVAL_MS ?? 50);
const latestEvery = Number(env.TRAINER_LATEST_EVERY ?? 0);
let stopping = false;
process.once("SIGTERM", () => {
  stopping = true;
});

const path = join(env.TRAINER_DIR as string, `trainer-${process.pid}.bin`);
for (let i = 0; i < count && !stopping; i++) {
  const data = Buffer.concat([randomBytes(size), Buffer.from(` ${process.pid}/${i}`)]);
  writeFileSync(path, data);
  const latest = latestEvery > 0 && i % latestEvery === 0;
  const name = latest ? `p${process.pid}/latest.pt` : `p${process.pid}/a-${i}.bin`;
  const started = performance.now();
  try {
    const handle = await publisher.logFile({
      project: env.TRAINER_PROJECT as string,
      run: env.TRAINER_RUN as string,
      name,
      path,
    });
    const logged = await handle.durable;
    const sha256 = createHash("sha256").update(data).digest("hex");
    const ms = performance.now() - started;
    process.stdout.write(`${JSON.stringify({ id: logged.id, name, sha256, seq: logged.streamSeq, ms })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: (err as Error).message, name })}\n`);
  }
  if (interval) await new Promise((r) => setTimeout(r, interval));
}
process.stdout.write(`${JSON.stringify({ done: true })}\n`);
await nc.drain();
