/**
 * One process of the load benchmark: LOAD_CONNECTIONS trainers, each with its own NATS connection
 * and publisher, log LOAD_SIZE-byte artifacts one after another for LOAD_SECONDS into run LOAD_RUN
 * of project `load`. Then it prints {published}, waits for a `flush` line on stdin, flushes all
 * its trainers at once, reads its run's ledger, and prints one JSON summary line (with the
 * flush phase's CPU and the messages its connections sent and received meanwhile).
 * Environment: ARTIFACT_BUS_CONFIG, LOAD_DIR, LOAD_RUN, LOAD_CONNECTIONS, LOAD_SECONDS, LOAD_SIZE.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  ArtifactPublisher,
  connectNats,
  LEDGER_BUCKET,
  type LedgerEntry,
  loadConfig,
  openBlobStores,
  runLedgerFilter,
} from "@artifact-bus/shared";
import { Kvm } from "@nats-io/kv";

const env = process.env;
const run = env.LOAD_RUN as string;
const connections = Number(env.LOAD_CONNECTIONS ?? 64);
const seconds = Number(env.LOAD_SECONDS ?? 60);
const size = Number(env.LOAD_SIZE ?? 4096);
const config = loadConfig();

const trainers = await Promise.all(
  Array.from({ length: connections }, async (_, rank) => {
    const nc = await connectNats(config.nats, { name: `load-${run}-${rank}` });
    const blobs = await openBlobStores(config.staging, nc);
    const publisher = await ArtifactPublisher.create({ nc, blobStore: blobs.get(config.staging.store), rank });
    const path = join(env.LOAD_DIR as string, `${run}-${rank}.bin`);
    writeFileSync(path, randomBytes(size));
    return { nc, publisher, path, rank };
  }),
);

const ackedAt = new Map<string, { at: number; rank: number }>();
const publishMs: number[] = [];
const errors = new Map<string, number>();
const cpuStart = process.cpuUsage();
const started = Date.now();
const deadline = started + seconds * 1000;
await Promise.all(
  trainers.map(async (t) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const t0 = performance.now();
      try {
        const handle = await t.publisher.logFile({
          project: "load",
          run,
          name: `r${t.rank}/step-${i}.bin`,
          path: t.path,
          mode: "copy",
        });
        // Publish latency is to the PubAck, as before logFile returned earlier than that.
        const logged = await handle.durable;
        publishMs.push(performance.now() - t0);
        ackedAt.set(logged.id, { at: Date.now(), rank: t.rank });
      } catch (err) {
        const m = (err as Error).message;
        errors.set(m, (errors.get(m) ?? 0) + 1);
      }
    }
  }),
);
const publishedAt = Date.now();
const publishCpu = process.cpuUsage(cpuStart);
process.stdout.write(
  `${JSON.stringify({ published: publishMs.length, ms: publishedAt - started, cpuSeconds: (publishCpu.user + publishCpu.system) / 1e6 })}\n`,
);

await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once("line", () => resolve()));
// What the flushes send and hear: a KV get is one message out and its reply one in; a watch
// delivery is one in. Counted by the client, so the measurement costs nothing.
const msgs = () =>
  trainers.reduce(
    (n, t) => {
      const s = t.nc.stats();
      return { sent: n.sent + s.outMsgs, received: n.received + s.inMsgs };
    },
    { sent: 0, received: 0 },
  );
const flushMsgs0 = msgs();
const flushCpu0 = process.cpuUsage();
const flushEnds = await Promise.all(
  trainers.map(async (t) => {
    await t.publisher.flush({ timeoutMs: 600_000 });
    return Date.now();
  }),
);
const cpu = process.cpuUsage(cpuStart);
const flushCpu = process.cpuUsage(flushCpu0);
const flushMsgs1 = msgs();

// Logged (PubAck) to uploaded, from the ledger: the uploader stamps updatedAt when it records
// the upload. Read once at the end so the measurement costs the run nothing.
const kv = await new Kvm(trainers[0]!.nc).open(LEDGER_BUCKET);
const toUploaded: number[] = [];
let lastUploadAt = 0;
// Each trainer's own last upload: its flush can return only after it, so the flush's lag is
// measured from there (the run's last upload may belong to a trainer that flushes later).
const lastUploadByRank = new Map<number, number>();
let uploadedWhilePublishing = 0;
const watch = await kv.watch({ key: runLedgerFilter("load", run) });
for await (const e of watch) {
  if (e.operation === "PUT") {
    const entry = e.json<LedgerEntry>();
    const acked = ackedAt.get(entry.eventId);
    if (entry.state === "uploaded" && acked !== undefined) {
      const t = Date.parse(entry.updatedAt);
      toUploaded.push(t - acked.at);
      lastUploadAt = Math.max(lastUploadAt, t);
      lastUploadByRank.set(acked.rank, Math.max(lastUploadByRank.get(acked.rank) ?? 0, t));
      if (t <= publishedAt) uploadedWhilePublishing++;
    }
  }
  if (e.delta === 0) break; // the last of the values present when the watch began
}
watch.stop();

const summary = `${JSON.stringify({
  run,
  started,
  publishedAt,
  publishMs,
  toUploaded,
  lastUploadAt,
  flushEnds,
  flushLags: trainers.flatMap((t, i) => {
    const last = lastUploadByRank.get(t.rank);
    return last === undefined ? [] : [flushEnds[i]! - last];
  }),
  uploadedWhilePublishing,
  errors: Object.fromEntries(errors),
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  flush: {
    cpuSeconds: (flushCpu.user + flushCpu.system) / 1e6,
    sent: flushMsgs1.sent - flushMsgs0.sent,
    received: flushMsgs1.received - flushMsgs0.received,
  },
  peakRssMb: process.resourceUsage().maxRSS / 1024,
})}\n`;
await Promise.all(trainers.map((t) => t.nc.close()));
// Exit rather than wait for stdin to close (a profile, --cpu-prof, is written on exit), but only
// once the summary (hundreds of KB at 60 s) is through the pipe: an exit would cut it.
process.stdout.write(summary, () => process.exit(0));
