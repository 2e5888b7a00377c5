/**
 * DLQ replay from the command line, as an operator runs it: a replay keeps the place of the event
 * it replays in its key's order, is seen by its own destination only, lands once however often
 * it is asked for, and the staged blob stays until no destination can need it.
 */
import { execFile } from "node:child_process";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { LoggedArtifact } from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Trainer } from "./harness/bus-stack.ts";
import { S3Stack } from "./harness/s3-stack.ts";

const CLI = resolve(import.meta.dirname, "../shared/src/cli/main.ts");
let stack: S3Stack;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  // One failed attempt is enough to die: S3 being down kills what is logged meanwhile.
  stack = await S3Stack.start({ mirrorPrefix: "mirror", destination: { maxDeliver: 1 } });
});
afterAll(async () => {
  await stack?.dispose();
});

/** Runs `artifact-bus dlq replay` and returns its JSON lines (the last line may be a summary). */
async function replay(destination: string, seq: number, wait?: number): Promise<Record<string, unknown>[]> {
  const args = [CLI, "dlq", "replay", "--destination", destination, "--seq", String(seq)];
  if (wait) args.push("--wait", String(wait));
  const out = await promisify(execFile)(process.execPath, args, {
    env: { ...process.env, ARTIFACT_BUS_CONFIG: stack.bus.configPath },
  });
  return out.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l));
}

/** Runs `artifact-bus dlq replay --wait` however it exits: its exit code, JSON lines and stderr. */
async function replayExit(destination: string, seq: number, wait: number) {
  const args = [CLI, "dlq", "replay", "--destination", destination, "--seq", String(seq), "--wait", String(wait)];
  const env = { ...process.env, ARTIFACT_BUS_CONFIG: stack.bus.configPath };
  const out = await promisify(execFile)(process.execPath, args, { env }).then(
    (o) => ({ code: 0, stdout: o.stdout, stderr: o.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  const lines = out.stdout.split("\n").filter((l) => l.startsWith("{"));
  return { code: out.code, lines: lines.map((l) => JSON.parse(l)), stderr: out.stderr };
}

async function letterSeq(eventId: string, destination: string): Promise<number> {
  const letter = (await stack.bus.deadLetters(destination)).find((l) => l.eventId === eventId);
  if (!letter) throw new Error(`no dead letter for ${eventId} at ${destination}`);
  return letter.seq;
}

/** Logs `data` as `name` while S3 is down, so it dies at every destination served meanwhile. */
async function logWhileS3Down(t: Trainer, run: string, name: string, data: Buffer, dead: string[]) {
  await stack.s3.stop();
  try {
    const path = join(stack.bus.dir, `${run}-down`);
    writeFileSync(path, data);
    const logged = await (await t.publisher.logFile({ project: "replay", run, name, path })).durable;
    for (const d of dead) await stack.bus.ledgerReaches(logged, "dead", 20_000, d);
    return logged;
  } finally {
    await stack.s3.restart();
  }
}

async function log(t: Trainer, run: string, name: string, data: Buffer): Promise<LoggedArtifact> {
  const path = join(stack.bus.dir, `${run}-up`);
  writeFileSync(path, data);
  return (await t.publisher.logFile({ project: "replay", run, name, path })).durable;
}

describe("dlq replay", () => {
  it("a replay keeps its place: after a newer version landed it is superseded, and another destination still gets the newer version", async () => {
    const e2eOnly = await stack.bus.startUploader({ ARTIFACT_BUS_SERVE: "s3:e2e" });
    const t = await stack.bus.trainer();
    const run = unique("order");
    const [v1data, v2data] = [Buffer.from("version one"), Buffer.from("version two, newer")];
    const v1 = await logWhileS3Down(t, run, "latest.pt", v1data, ["s3:e2e"]);
    const v2 = await log(t, run, "latest.pt", v2data);
    await stack.bus.ledgerReaches(v2, "uploaded", 20_000, "s3:e2e");

    const out = await replay("s3:e2e", await letterSeq(v1.id, "s3:e2e"), 30);
    expect(out[0]).toMatchObject({ eventId: v1.id, replayed: true });
    expect(await stack.bus.ledger(v1, "s3:e2e")).toMatchObject({ state: "superseded" });
    expect(await stack.getObject(`replay/${run}/latest.pt`)).toEqual(v2data);

    // The mirror was not running: v1 and v2 wait there, and the replay must not hide v2.
    const mirror = await stack.bus.startUploader({ ARTIFACT_BUS_SERVE: "s3:mirror" });
    await t.publisher.flush({ timeoutMs: 30_000 });
    expect(await stack.bus.ledger(v2, "s3:mirror")).toMatchObject({ state: "uploaded" });
    expect(await stack.getObject(`mirror/replay/${run}/latest.pt`)).toEqual(v2data);
    await t.close();
    await Promise.all([e2eOnly.kill("SIGTERM"), mirror.kill("SIGTERM")]);
  });

  it("replaying the same entry twice uploads once; the second run says it was replayed already", async () => {
    const uploader = await stack.bus.startUploader({ ARTIFACT_BUS_SERVE: "s3:e2e" });
    const t = await stack.bus.trainer();
    const run = unique("twice");
    const data = Buffer.from("replayed once");
    const logged = await logWhileS3Down(t, run, "once.txt", data, ["s3:e2e"]);
    const seq = await letterSeq(logged.id, "s3:e2e");

    expect((await replay("s3:e2e", seq))[0]).toMatchObject({ eventId: logged.id, replayed: true });
    const second = await replay("s3:e2e", seq, 30);
    expect(second[0]).toMatchObject({ eventId: logged.id, skipped: expect.stringMatching(/already replayed/) });
    await stack.bus.ledgerReaches(logged, "uploaded", 20_000, "s3:e2e");
    expect(await stack.getObject(`replay/${run}/once.txt`)).toEqual(data);
    const uploads = uploader.lines.filter((l) => l.msg === "uploaded" && l.eventId === logged.id);
    expect(uploads).toHaveLength(1);
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("an event dead at two destinations: replaying one keeps the blob for the other, whose replay then lands too", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const run = unique("both");
    const data = Buffer.from("dead twice, then landed twice");
    const logged = await logWhileS3Down(t, run, "twice.txt", data, ["s3:e2e", "s3:mirror"]);
    expect(logged.destinations.sort()).toEqual(["s3:e2e", "s3:mirror"]);
    const blob = t.blobs.get("fs").localPath(logged.blob)!;
    expect(existsSync(blob)).toBe(true);

    await replay("s3:e2e", await letterSeq(logged.id, "s3:e2e"), 30);
    expect(await stack.bus.ledger(logged, "s3:e2e")).toMatchObject({ state: "uploaded" });
    expect(await stack.getObject(`replay/${run}/twice.txt`)).toEqual(data);
    expect(await stack.bus.ledger(logged, "s3:mirror")).toMatchObject({ state: "dead" });
    expect(existsSync(blob)).toBe(true);

    await replay("s3:mirror", await letterSeq(logged.id, "s3:mirror"), 30);
    expect(await stack.bus.ledger(logged, "s3:mirror")).toMatchObject({ state: "uploaded" });
    expect(await stack.getObject(`mirror/replay/${run}/twice.txt`)).toEqual(data);
    await eventually(async () => (existsSync(blob) ? undefined : true), 10_000, "the blob to be released");
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("a replay that dies again: --wait exits 1, naming the entry, the event, the destination and why", async () => {
    const t = await stack.bus.trainer();
    const run = unique("again");
    // Logged while no uploader runs; its staged bytes are then corrupted (same size), so the
    // sha256 check refuses it at once, and again when it is replayed unrepaired.
    const logged = await log(t, run, "again.pt", Buffer.from("dies, and dies again"));
    const blob = t.blobs.get("fs").localPath(logged.blob)!;
    chmodSync(blob, 0o644);
    writeFileSync(blob, Buffer.from("DIES, AND DIES AGAIN"));
    const uploader = await stack.bus.startUploader({ ARTIFACT_BUS_SERVE: "s3:e2e" });
    await stack.bus.ledgerReaches(logged, "dead", 20_000, "s3:e2e");
    const seq = await eventually(() => letterSeq(logged.id, "s3:e2e").catch(() => undefined), 10_000, "the letter");

    const out = await replayExit("s3:e2e", seq, 30);
    expect(out.lines[0]).toMatchObject({ eventId: logged.id, replayed: true });
    expect(out.lines[1]).toMatchObject({
      dlqSeq: seq,
      eventId: logged.id,
      state: "dead",
      error: expect.stringMatching(/sha256/),
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(
      new RegExp(`DLQ entry ${seq} \\(${logged.id}, again\\.pt\\) dead again at s3:e2e: .*sha256`),
    );
    await t.close();
    await uploader.kill("SIGTERM");
  });
});
