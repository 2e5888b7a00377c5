/**
 * DLQ replay when an event died at two destinations: each replay lands at its own destination,
 * and the staged blob stays until the last of them no longer needs it.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { eventually, writeRandomFile } from "@artifact-bus/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

const CLI = resolve(import.meta.dirname, "../shared/src/cli/main.ts");
let stack: S3Stack;

beforeAll(async () => {
  stack = await S3Stack.start({ mirrorPrefix: "mirror" });
});
afterAll(async () => {
  await stack?.dispose();
});

async function replay(destination: string, seq: number): Promise<string> {
  const out = await promisify(execFile)(
    process.execPath,
    [CLI, "dlq", "replay", "--destination", destination, "--seq", String(seq), "--wait", "30"],
    { env: { ...process.env, ARTIFACT_BUS_CONFIG: stack.bus.configPath } },
  );
  return JSON.parse(out.stdout.split("\n")[0]!).replayId;
}

describe("dlq replay", () => {
  it("an event dead at two destinations: replaying one keeps the blob for the other, whose replay then lands too", async () => {
    const bad = await stack.bus.startUploader({ AWS_ACCESS_KEY_ID: "WRONGKEY", AWS_SECRET_ACCESS_KEY: "wrong" });
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "twice-dead.txt");
    const data = writeRandomFile(path, 5000);
    const logged = await t.publisher.logFile({ project: "replay", run: "r1", name: "twice.txt", path });
    expect(logged.destinations.sort()).toEqual(["s3:e2e", "s3:mirror"]);
    for (const d of logged.destinations) await stack.bus.ledgerReaches(logged.id, "dead", 20_000, d);
    await bad.kill("SIGTERM");
    const blob = t.blobs.get("fs").localPath(logged.blob)!;
    expect(existsSync(blob)).toBe(true);

    const good = await stack.bus.startUploader();
    const [first, second] = ["s3:e2e", "s3:mirror"] as const;
    const firstLetter = (await stack.bus.deadLetters(first)).find((l) => l.eventId === logged.id)!;
    const firstReplay = await replay(first, firstLetter.seq);
    expect(await stack.bus.ledger(firstReplay, first)).toMatchObject({ state: "uploaded" });
    expect(await stack.getObject("replay/r1/twice.txt")).toEqual(data);
    // The original event is uploaded at the first destination now, still dead at the second.
    expect(await stack.bus.ledger(logged.id, first)).toMatchObject({ state: "uploaded", replayId: firstReplay });
    expect(await stack.bus.ledger(logged.id, second)).toMatchObject({ state: "dead" });
    expect(existsSync(blob)).toBe(true);

    const secondLetter = (await stack.bus.deadLetters(second)).find((l) => l.eventId === logged.id)!;
    const secondReplay = await replay(second, secondLetter.seq);
    expect(await stack.bus.ledger(secondReplay, second)).toMatchObject({ state: "uploaded" });
    expect(await stack.getObject("mirror/replay/r1/twice.txt")).toEqual(data);
    expect(await stack.bus.ledger(logged.id, second)).toMatchObject({ state: "uploaded", replayId: secondReplay });
    // Nobody needs the blob any more.
    await eventually(async () => (existsSync(blob) ? undefined : true), 10_000, "the blob to be released");
    await t.close();
    await good.kill("SIGTERM");
  });
});
