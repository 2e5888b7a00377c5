/**
 * A destination that is broken (revoked credentials) pauses: its events wait in the stream with
 * the reason in the ledger, nothing is dead-lettered, and once it is fixed everything flows
 * without a replay.
 */
import { join } from "node:path";
import type { LedgerEntry, LoggedArtifact } from "@artifact-bus/shared";
import { eventually, writeRandomFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUICK_BREAKER } from "./harness/bus-stack.ts";
import { S3Stack } from "./harness/s3-stack.ts";

let stack: S3Stack;

beforeAll(async () => {
  stack = await S3Stack.start({
    destination: {
      maxDeliver: 2,
      breaker: QUICK_BREAKER,
    },
  });
});
afterAll(async () => {
  await stack?.dispose();
});

describe("a broken destination", () => {
  it("wrong credentials: the breaker opens, nothing is dead-lettered; fixed, every event uploads with no replay", async () => {
    const bad = await stack.bus.startUploader({
      AWS_ACCESS_KEY_ID: "REVOKEDKEY",
      AWS_SECRET_ACCESS_KEY: "revoked-secret",
    });
    const t = await stack.bus.trainer();
    const run = `creds-${process.pid}`;
    const data = new Map<string, Buffer>();
    const logged: LoggedArtifact[] = [];
    for (let i = 0; i < 6; i++) {
      const path = join(stack.bus.dir, `${run}-${i}`);
      data.set(`f${i}.bin`, writeRandomFile(path, 1000 + i));
      logged.push(await (await t.publisher.logFile({ project: "broken", run, name: `f${i}.bin`, path })).durable);
    }
    await bad.waitForLog((l) => l.msg === "breaker open: pausing pulls", 20_000);
    // The reason reaches the ledger of what was tried, and the log, without the secret.
    const pending = await eventually(
      async () => {
        const entries = await Promise.all(logged.map((l) => stack.bus.ledger(l)));
        return entries.find(
          (e): e is LedgerEntry => e?.state === "pending" && /InvalidAccessKeyId/.test(e.error ?? ""),
        );
      },
      20_000,
      "a pending ledger entry naming the credential error",
    );
    expect(pending.attempts).toBe(0);
    // Several half-open probes later the destination is still paused and nothing died.
    const probes = () => bad.lines.filter((l) => l.msg === "probe failed: breaker stays open").length;
    await bad.waitForLog(() => probes() >= 3, 20_000);
    const states = await Promise.all(logged.map(async (l) => (await stack.bus.ledger(l))?.state));
    expect(states).not.toContain("dead");
    expect(await stack.bus.deadLetters()).toEqual([]);
    expect(JSON.stringify(bad.lines)).not.toMatch(/revoked-secret/);
    expect(JSON.stringify(bad.lines)).toMatch(/InvalidAccessKeyId/);
    await bad.kill("SIGTERM");

    // The operator fixes the credentials: a replica with good ones takes the waiting events.
    const good = await stack.bus.startUploader();
    await t.publisher.flush({ timeoutMs: 30_000 });
    for (const l of logged) expect(await stack.bus.ledger(l)).toMatchObject({ state: "uploaded" });
    for (const [name, bytes] of data) expect(await stack.getObject(`broken/${run}/${name}`)).toEqual(bytes);
    expect(await stack.bus.deadLetters()).toEqual([]);
    await t.close();
    await good.kill("SIGTERM");
  });
});
