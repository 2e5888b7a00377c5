/**
 * The runtime's promises in the cases that used to break them, on the real servers: the order of
 * versions is kept per path the destination writes, waiting never turns into loss, and a message
 * whose attempts run out ends in the DLQ and in the ledger with its reason.
 */
import { join } from "node:path";
import { eventually, writeRandomFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

const ACK_WAIT_MS = 1000;
const MAX_DELIVER = 2;
let stack: S3Stack;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  stack = await S3Stack.start({
    destination: { ackWaitMs: ACK_WAIT_MS, maxDeliver: MAX_DELIVER },
    s3Options: { keyTemplate: "{project}/{run}/rank{rank}/{name}" },
  });
});
afterAll(async () => {
  stack?.s3.resume();
  await stack?.dispose();
});

describe("runtime guarantees", () => {
  it("a path template with {rank}: two ranks logging the same name at once both land", async () => {
    const run = unique("ranks");
    const trainers = await Promise.all([0, 1].map((rank) => stack.bus.trainer({ rank })));
    // Both versions are in the stream before an uploader looks, so nothing can hide a wrong
    // coalescing behind timing; large enough that the runtime does look for newer versions.
    const data = trainers.map((_, rank) => writeRandomFile(join(stack.bus.dir, `${run}-${rank}`), 2 << 20));
    const logged = [];
    for (const [rank, t] of trainers.entries()) {
      const path = join(stack.bus.dir, `${run}-${rank}`);
      logged.push(await (await t.publisher.logFile({ project: "ranks", run, name: "ckpt/latest.pt", path })).durable);
    }
    const uploader = await stack.bus.startUploader();
    await Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 30_000 })));
    for (const [rank, l] of logged.entries()) {
      expect(await stack.bus.ledger(l)).toMatchObject({ state: "uploaded" });
      expect(await stack.getObject(`ranks/${run}/rank${rank}/ckpt/latest.pt`)).toEqual(data[rank]);
    }
    await Promise.all(trainers.map((t) => t.close()));
    await uploader.kill("SIGTERM");
  });

  it("a newer version waiting behind a slow upload of its key for longer than maxDeliver deliveries still lands", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer({ rank: 0 });
    const run = unique("slow");
    const path = join(stack.bus.dir, run);
    const base = (await stack.bus.consumerInfo()).delivered.consumer_seq;
    await stack.s3.pause(); // the first upload hangs, holding the key
    try {
      writeRandomFile(path, 1000);
      const v1 = await t.publisher.logFile({ project: "slow", run, name: "latest.pt", path });
      await stack.bus.ledgerReaches(v1, "uploading");
      const v2data = writeRandomFile(path, 2000);
      const v2 = await t.publisher.logFile({ project: "slow", run, name: "latest.pt", path });
      // v2 waits for the key: let it be delivered more often than maxDeliver allows attempts.
      await eventually(
        async () => (await stack.bus.consumerInfo()).delivered.consumer_seq >= base + MAX_DELIVER + 3 || undefined,
        40_000,
        `v2 delivered more than ${MAX_DELIVER + 1} times`,
      );
      stack.s3.resume();
      await t.publisher.flush({ timeoutMs: 30_000 });
      expect(await stack.bus.ledger(v2)).toMatchObject({ state: "uploaded" });
      expect(await stack.getObject(`slow/${run}/rank0/latest.pt`)).toEqual(v2data);
      expect((await stack.bus.deadLetters()).filter((d) => d.eventId === v2.id)).toEqual([]);
    } finally {
      stack.s3.resume();
    }
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("uploads that never finish (the uploader dies each time) end dead after maxDeliver attempts, with the reason", async () => {
    const t = await stack.bus.trainer({ rank: 0 });
    const run = unique("crashloop");
    const path = join(stack.bus.dir, run);
    writeRandomFile(path, 1000);
    await stack.s3.pause(); // every upload hangs until its uploader is killed
    try {
      const logged = await t.publisher.logFile({ project: "crash", run, name: "never.pt", path });
      for (let kills = 0; ; kills++) {
        expect(kills).toBeLessThanOrEqual(MAX_DELIVER);
        const uploader = await stack.bus.startUploader();
        const entry = await eventually(
          async () => {
            const e = await stack.bus.ledger(logged);
            return e?.state === "dead" || (e?.state === "uploading" && e.attempts === kills + 1) ? e : undefined;
          },
          20_000,
          `attempt ${kills + 1} to start, or the event to be dead`,
        );
        await uploader.kill("SIGKILL");
        if (entry.state === "dead") break;
      }
      const entry = await stack.bus.ledger(logged);
      expect(entry).toMatchObject({ state: "dead", attempts: MAX_DELIVER });
      expect(entry?.error).toMatch(/did not finish/);
      // The ledger says dead before the letter is published: an uploader killed in between
      // leaves the delivery unsettled, and the next uploader sends the missing letter.
      const survivor = await stack.bus.startUploader();
      const letters = await eventually(
        async () => {
          const found = (await stack.bus.deadLetters()).filter((d) => d.eventId === logged.id);
          return found.length > 0 ? found : undefined;
        },
        20_000,
        "the dead letter",
      );
      expect(letters).toHaveLength(1);
      expect(letters[0]?.reason).toMatch(/did not finish/);
      await survivor.kill("SIGTERM");
    } finally {
      stack.s3.resume();
    }
    await t.close();
  });
});
