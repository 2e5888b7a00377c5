/**
 * `flush()` at the end of a run when a checkpoint never landed: by default it fails naming the
 * dead artifact, its destination and the reason (as the Python client's `close()` does); with
 * `failOnDead: false` it only waits. Real processes: nats-server and the dir uploader; the
 * artifact dies because its staged bytes vanish before the uploader reads them (a permanent
 * error for that artifact, whatever its name).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DeadArtifactsError, DLQ_STREAM, ensureTopology, FlushTimeoutError } from "@artifact-bus/shared";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BusStack } from "./harness/bus-stack.ts";
import { CliRun } from "./harness/cli.ts";

const DIR_MAIN = resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts");
let stack: BusStack;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "artifact-bus-flush-dead-"));
  stack = await BusStack.start({
    destination: { name: "dir:dead", filter: { project: "demo", run: "*", level: "*" }, options: { root } },
    main: DIR_MAIN,
  });
});
afterAll(async () => {
  await stack?.dispose();
  rmSync(root, { recursive: true, force: true });
});

/** Logs `lost.pt` (its staged bytes removed before any upload) and `kept.pt` in `run`. */
async function logOneLostOneKept(run: string) {
  const t = await stack.trainer();
  const lostPath = join(stack.dir, `${run}-lost`);
  const keptPath = join(stack.dir, `${run}-kept`);
  writeFileSync(lostPath, "lost bytes");
  writeFileSync(keptPath, "kept bytes");
  const lost = await t.publisher.logFile({ project: "demo", run, name: "ckpt/lost.pt", path: lostPath });
  const kept = await t.publisher.logFile({ project: "demo", run, name: "ckpt/kept.pt", path: keptPath });
  await Promise.all([lost.durable, kept.durable]);
  rmSync(join(stack.dir, "staging", "demo", run, lost.id));
  return { t, lost, kept };
}

it("by default, flush fails naming each dead artifact, its destination and why; the next flush has nothing left", async () => {
  const { t, lost } = await logOneLostOneKept("fails");
  const uploader = await stack.startUploader();
  const err = await t.publisher.flush({ timeoutMs: 30_000 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DeadArtifactsError);
  const dead = (err as DeadArtifactsError).dead;
  expect(dead).toEqual([{ id: lost.id, name: "ckpt/lost.pt", destination: "dir:dead", error: expect.any(String) }]);
  expect((err as Error).message).toContain("ckpt/lost.pt at dir:dead (");
  expect((err as Error).message).toMatch(/missing|ENOENT|no such/i);
  expect(readFileSync(join(root, "demo", "fails", "ckpt", "kept.pt"), "utf8")).toBe("kept bytes");
  // Reported once, like a failed publish.
  await t.publisher.flush({ timeoutMs: 5_000 });
  await t.close();
  await uploader.kill("SIGTERM");
});

it("with failOnDead: false, flush only waits: it resolves once everything is terminal, dead included", async () => {
  const { t, lost } = await logOneLostOneKept("waits");
  const uploader = await stack.startUploader();
  await t.publisher.flush({ timeoutMs: 30_000, failOnDead: false });
  expect(await stack.ledger(lost)).toMatchObject({ state: "dead" });
  expect(readFileSync(join(root, "demo", "waits", "ckpt", "kept.pt"), "utf8")).toBe("kept bytes");
  await t.close();
  await uploader.kill("SIGTERM");
});

it("artifact-bus put --wait on an artifact that dies: one line naming the destination and why, exit code 1", async () => {
  const path = join(stack.dir, "cli-lost");
  writeFileSync(path, "cli bytes");
  const put = new CliRun(["put", "--project", "demo", "--run", "cli", "--name", "lost.pt", "--wait", "30", path], {
    ARTIFACT_BUS_CONFIG: stack.configPath,
  });
  await put.until((r) => r.stdout.includes("\n"), 30_000, "the event's line");
  const { id } = JSON.parse(put.stdout.split("\n")[0]!) as { id: string };
  rmSync(join(stack.dir, "staging", "demo", "cli", id));
  const uploader = await stack.startUploader();
  expect(await put.exited, put.output()).toBe(1);
  expect(put.stderr).toMatch(/artifact-bus: dead at dir:dead: .+ \(see artifact-bus dlq\)/);
  expect(put.stdout).not.toContain("landed");
  await uploader.kill("SIGTERM");
});

it("flush reports an artifact dead only once its letter is out, so whoever hears 'dead' can replay it", async () => {
  // The DLQ cannot take letters: the death is recorded, its letter waits for the stream.
  const jsm = await jetstreamManager(stack.nc);
  await jsm.streams.delete(DLQ_STREAM);
  const { t, lost } = await logOneLostOneKept("letter-first");
  const uploader = await stack.startUploader();
  try {
    const early = await t.publisher.flush({ timeoutMs: 6_000 }).catch((e: unknown) => e);
    expect(early, String(early)).toBeInstanceOf(FlushTimeoutError);
    expect((early as FlushTimeoutError).pending.map((p) => p.name)).toEqual(["ckpt/lost.pt"]);
    await ensureTopology(stack.nc, { stream: stack.config.stream, destinations: stack.config.destinations });
    const err = await t.publisher.flush({ timeoutMs: 30_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadArtifactsError);
    expect((await stack.deadLetters()).map((l) => l.eventId)).toContain(lost.id);
  } finally {
    await t.close();
    await uploader.kill("SIGTERM");
  }
});
