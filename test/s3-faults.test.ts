/**
 * Fault tests: real processes are stopped, killed and restarted; nothing accepted may be lost.
 */
import { existsSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  consumerName,
  EVENTS_STREAM,
  type LedgerEntry,
  type LoggedArtifact,
  PublishUnconfirmedError,
} from "@artifact-bus/shared";
import { eventually, sha256, writeLargeFile, writeRandomFile } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

let stack: S3Stack;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  stack = await S3Stack.start({
    destination: {
      maxDeliver: 5,
      breaker: {
        resetTimeoutMs: 500,
        volumeThreshold: 3,
        errorThresholdPercentage: 50,
        rollingWindowMs: 30_000,
        probeTimeoutMs: 2_000,
      },
    },
    s3Options: { partSizeBytes: 8 * 1024 * 1024, queueSize: 4 },
  });
});
afterAll(async () => {
  await stack?.dispose();
});

async function deliveredCount(): Promise<number> {
  const jsm = await jetstreamManager(stack.bus.nc);
  return (await jsm.consumers.info(EVENTS_STREAM, consumerName(stack.bus.token))).delivered.consumer_seq;
}

describe("s3 faults", () => {
  it("S3 down for a while: the breaker opens, stops burning deliveries, and everything uploads after recovery", async () => {
    const uploader = await stack.bus.startUploader();
    await stack.s3.stop();
    const t = await stack.bus.trainer();
    const run = unique("outage");
    const logged: LoggedArtifact[] = [];
    for (let i = 0; i < 10; i++) {
      const path = join(stack.bus.dir, `${run}-${i}`);
      writeRandomFile(path, 2000);
      logged.push(await (await t.publisher.logFile({ project: "outage", run, name: `f${i}.bin`, path })).durable);
    }
    await uploader.waitForLog((l) => l.msg === "breaker open: pausing pulls", 20_000);
    const probesBefore = uploader.lines.filter((l) => l.msg === "probe failed: breaker stays open").length;
    const deliveredAtOpen = await deliveredCount();
    // Two failed half-open probes later, the breaker has been open a while: no message was pulled.
    await uploader.waitForLog(
      () => uploader.lines.filter((l) => l.msg === "probe failed: breaker stays open").length >= probesBefore + 2,
      20_000,
    );
    expect(await deliveredCount()).toBe(deliveredAtOpen);

    await stack.s3.restart();
    await t.publisher.flush({ timeoutMs: 60_000 });
    const entries = (await Promise.all(logged.map((l) => stack.bus.ledger(l)))) as LedgerEntry[];
    expect(entries.map((e) => e.state)).toEqual(Array(10).fill("uploaded"));
    expect(Math.max(...entries.map((e) => e.attempts))).toBeLessThan(5);
    const ids = logged.map((l) => l.id);
    expect((await stack.bus.deadLetters()).filter((d) => ids.includes(d.eventId ?? ""))).toEqual([]);
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("an uploader SIGKILLed mid multipart upload: a second replica finishes it, bytes intact", async () => {
    const first = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "big.pt");
    const hash = await writeLargeFile(path, 256 * 1024 * 1024);
    const run = unique("kill");
    const logged = await t.publisher.logFile({ project: "crash", run, name: "ckpt/big.pt", path, mode: "move" });
    await first.waitForLog((l) => l.msg === "upload progress" && Number(l.bytesDone) > 0, 30_000);
    await stack.bus.ledgerReaches(logged, "uploading");
    await first.kill("SIGKILL");

    const second = await stack.bus.startUploader();
    await t.publisher.flush({ timeoutMs: 120_000 });
    const entry = await stack.bus.ledger(logged);
    expect(entry).toMatchObject({ state: "uploaded", attempts: 2 });
    const got = await stack.getObject(`crash/${run}/ckpt/big.pt`);
    expect(got?.length).toBe(256 * 1024 * 1024);
    expect(got && sha256(got)).toBe(hash);
    await t.close();
    await second.kill("SIGTERM");
  });

  it("the same name logged 20 times quickly across 2 replicas: the newest content wins, never overwritten by an older one", async () => {
    const replicas = await Promise.all([stack.bus.startUploader(), stack.bus.startUploader()]);
    const t = await stack.bus.trainer();
    const run = unique("lww");
    const path = join(stack.bus.dir, "latest.pt");
    const logged: { id: string; project: string; run: string; seq: number; hash: string }[] = [];
    for (let i = 0; i < 20; i++) {
      const data = Buffer.from(`version ${i} ${"x".repeat(i * 100)}`);
      writeFileSync(path, data);
      const l = await (await t.publisher.logFile({ project: "lww", run, name: "checkpoints/latest.pt", path })).durable;
      logged.push({ ...l, seq: l.streamSeq, hash: sha256(data) });
    }
    unlinkSync(path);
    await t.publisher.flush({ timeoutMs: 60_000 });
    const got = await stack.getObject(`lww/${run}/checkpoints/latest.pt`);
    expect(got && sha256(got)).toBe(logged.at(-1)!.hash);

    const entries = (await Promise.all(logged.map((l) => stack.bus.ledger(l)))) as LedgerEntry[];
    expect(entries.at(-1)!.state).toBe("uploaded");
    expect(entries.every((e) => e.state === "uploaded" || e.state === "superseded")).toBe(true);
    // In the order uploads completed (across both replicas), sequences only grow.
    const uploaded = entries
      .filter((e) => e.state === "uploaded")
      .sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
    const seqs = uploaded.map((e) => e.streamSeq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await t.close();
    await Promise.all(replicas.map((r) => r.kill("SIGTERM")));
  });

  it("a publish that timed out may still land: its blob is kept, and the late event uploads", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer({ publishTimeoutMs: 1000 });
    const run = unique("late");
    const path = join(stack.bus.dir, `${run}.bin`);
    writeRandomFile(path, 100);
    await (await t.publisher.logFile({ project: "late", run, name: "warm-up.bin", path })).durable; // destinations cached
    const data = writeRandomFile(path, 2000);
    await stack.bus.nats.pause(); // the request reaches the server's socket, but no PubAck comes in time
    let err: unknown;
    try {
      const handle = await t.publisher.logFile({ project: "late", run, name: "late.bin", path });
      err = await handle.durable.catch((e: unknown) => e);
    } finally {
      stack.bus.nats.resume();
    }
    expect(err).toBeInstanceOf(PublishUnconfirmedError);
    const { eventId, blob } = err as PublishUnconfirmedError;
    expect(existsSync(t.blobs.get("fs").localPath(blob)!)).toBe(true);
    // The server takes the publish once it runs again: the event lands and uploads.
    await stack.bus.ledgerReaches({ id: eventId, project: "late", run }, "uploaded");
    expect(await stack.getObject(`late/${run}/late.bin`)).toEqual(data);
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("NATS restarted while a publisher and an uploader run: both reconnect, nothing accepted is lost", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const run = unique("natsrestart");
    const accepted = new Map<string, string>();
    const publishing = (async () => {
      for (let i = 0; i < 40; i++) {
        const path = join(stack.bus.dir, `${run}-${i}`);
        const hash = sha256(writeRandomFile(path, 3000 + i));
        await (await t.publisher.logFile({ project: "restart", run, name: `r/${i}.bin`, path })).durable;
        accepted.set(`r/${i}.bin`, hash);
      }
    })();
    await eventually(async () => (accepted.size >= 10 ? true : undefined), 20_000, "10 accepted artifacts");
    await stack.bus.nats.restart();
    await publishing;
    await t.publisher.flush({ timeoutMs: 90_000 });
    expect(accepted.size).toBe(40);
    for (const [name, hash] of accepted) {
      const got = await stack.getObject(`restart/${run}/${name}`);
      expect(got && sha256(got), name).toBe(hash);
    }
    await t.close();
    await uploader.kill("SIGTERM");
  });
});
