/**
 * A destination with coalescing off (`coalesce: false`, W&B's default): every event of a key is
 * uploaded, one after another in logging order, across replicas; none is skipped.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LedgerEntry, LogFileHandle } from "@artifact-bus/shared";
import { eventually, sha256 } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

let stack: S3Stack;

beforeAll(async () => {
  stack = await S3Stack.start({ destination: { coalesce: false } });
});
afterAll(async () => {
  await stack?.dispose();
});

describe("coalescing off", () => {
  it("ten versions of one name logged quickly, two replicas: all ten uploaded, in logging order", async () => {
    const replicas = await Promise.all([stack.bus.startUploader(), stack.bus.startUploader()]);
    const t = await stack.bus.trainer();
    const run = `ordered-${process.pid}`;
    const path = join(stack.bus.dir, "latest.pt");
    const logged: (LogFileHandle & { data: Buffer })[] = [];
    // logFile returns before each event is published; the versions still go out in call order.
    for (let i = 0; i < 10; i++) {
      const data = Buffer.from(`version ${i} ${"x".repeat(1000 * i)}`);
      writeFileSync(path, data);
      logged.push({ ...(await t.publisher.logFile({ project: "ordered", run, name: "latest.pt", path })), data });
    }
    await t.publisher.flush({ timeoutMs: 60_000 });
    const entries = (await Promise.all(logged.map((l) => stack.bus.ledger(l)))) as LedgerEntry[];
    expect(entries.map((e) => e.state)).toEqual(Array(10).fill("uploaded"));
    // Each upload started after the one before it finished: the log shows them strictly in turn.
    // The ledger says uploaded before the uploader's log line reaches us through its stdout.
    const events = await eventually(
      () => {
        const lines = replicas
          .flatMap((r) => r.lines)
          .filter(
            (l) => (l.msg === "upload started" || l.msg === "uploaded") && logged.some((x) => x.id === l.eventId),
          );
        return lines.filter((l) => l.msg === "uploaded").length >= 10 ? lines : undefined;
      },
      10_000,
      "ten 'uploaded' log lines",
    );
    events.sort((a, b) => Number(a.time) - Number(b.time));
    const order = events.map(
      (l) => `${l.msg === "uploaded" ? "end" : "start"} ${logged.findIndex((x) => x.id === l.eventId)}`,
    );
    expect(order).toEqual(logged.flatMap((_, i) => [`start ${i}`, `end ${i}`]));
    expect(sha256((await stack.getObject(`ordered/${run}/latest.pt`))!)).toBe(sha256(logged[9]!.data));
    await t.close();
    await Promise.all(replicas.map((r) => r.kill("SIGTERM")));
  });
});
