/**
 * End to end on real servers: trainer -> NATS JetStream -> s3-uploader process(es) -> S3 server.
 */
import { existsSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { eventSubject, FlushTimeoutError, type LogFileHandle } from "@artifact-bus/shared";
import { eventually, sha256, writeRandomFile } from "@artifact-bus/testkit";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

let stack: S3Stack;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  stack = await S3Stack.start();
  await stack.bus.startUploader();
});
afterAll(async () => {
  await stack?.dispose();
});

describe("s3 end to end", () => {
  it("a logged file arrives under the templated key with identical bytes; the trainer may delete it at once", async () => {
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "ckpt.pt");
    const data = writeRandomFile(path, 3 * 1024 * 1024 + 17);
    const run = unique("run");
    const handle = await t.publisher.logFile({
      project: "vision",
      run,
      name: "checkpoints/ep1-ba100-rank0.pt",
      path,
      level: "epoch",
    });
    unlinkSync(path); // the trainer cleans up right after logFile returns
    await t.publisher.flush({ timeoutMs: 30_000 });
    const logged = await handle.durable;

    const key = `vision/${run}/checkpoints/ep1-ba100-rank0.pt`;
    const got = await stack.getObject(key);
    expect(got && sha256(got)).toBe(sha256(data));
    const entry = await stack.bus.ledger(logged);
    expect(entry).toMatchObject({ state: "uploaded", location: `s3://${stack.bucket}/${key}` });
    // Every destination is terminal, so the staged blob is gone.
    expect(existsSync(join(stack.bus.config.staging.dir, logged.blob.ref))).toBe(false);
    await t.close();
  });

  it("200 artifacts from 4 concurrent publishers all arrive; ledger and S3 agree", async () => {
    const run = unique("many");
    const trainers = await Promise.all([0, 1, 2, 3].map(() => stack.bus.trainer()));
    const expected = new Map<string, string>();
    const logged: LogFileHandle[] = [];
    await Promise.all(
      trainers.map(async (t, rank) => {
        for (let i = 0; i < 50; i++) {
          const name = `rank${rank}/step-${i}.log`;
          const path = join(stack.bus.dir, `${run}-${rank}-${i}`);
          expected.set(name, sha256(writeRandomFile(path, 1024 + i)));
          logged.push(await t.publisher.logFile({ project: "nlp", run, name, path, level: "batch" }));
          unlinkSync(path);
        }
      }),
    );
    await Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 60_000 })));
    const keys = await stack.listKeys(`nlp/${run}/`);
    expect(keys).toHaveLength(200);
    for (const [name, hash] of expected) {
      const got = await stack.getObject(`nlp/${run}/${name}`);
      expect(got && sha256(got), name).toBe(hash);
    }
    const states = await Promise.all(logged.map(async (l) => (await stack.bus.ledger(l))?.state));
    expect(new Set(states)).toEqual(new Set(["uploaded"]));
    await Promise.all(trainers.map((t) => t.close()));
  });

  it("malformed events published raw end in the DLQ with a reason; the uploader keeps running", async () => {
    const js = jetstream(stack.bus.nc);
    const run = unique("bad");
    const subject = eventSubject({ project: "raw", run, level: "fit", name: "x" });
    await js.publish(subject, "{not json", { msgID: unique("garbage") });
    const wrongType = {
      schema: 1,
      id: unique("evt-wrongtype"),
      project: "raw",
      run,
      name: "x",
      level: "fit",
      blob: { store: "fs", ref: "raw/x/y", size: "ten", sha256: "0".repeat(64) },
      contentType: "text/plain",
      metadata: {},
      producer: { host: "h", pid: 1 },
      createdAt: new Date().toISOString(),
    };
    await js.publish(subject, JSON.stringify(wrongType), { msgID: wrongType.id });

    const letters = await eventually(
      async () => {
        const all = (await stack.bus.deadLetters()).filter((d) => d.subject === subject);
        return all.length >= 2 ? all : undefined;
      },
      20_000,
      "two dead letters",
    );
    expect(letters.map((l) => l.reason).sort()).toEqual([
      expect.stringMatching(/invalid event: blob\.size/),
      expect.stringMatching(/invalid event: event: payload is not UTF-8 JSON/),
    ]);
    expect(letters.every((l) => l.errorClass === "invalid" && l.attempts === 0)).toBe(true);
    expect(letters.find((l) => l.payload === "{not json")).toBeDefined();
    // Terminated for good (a bare +TERM on nats-server 2.9, which ignores a term with a reason):
    // nothing stays pending for redelivery, so no second letter can ever follow.
    await eventually(
      async () => ((await stack.bus.consumerInfo()).num_ack_pending === 0 ? true : undefined),
      10_000,
      "no message pending acknowledgement",
    );

    // Still serving.
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "after-garbage.txt");
    const data = writeRandomFile(path, 100);
    await t.publisher.logFile({ project: "raw", run, name: "after.txt", path });
    await t.publisher.flush({ timeoutMs: 20_000 });
    expect(await stack.getObject(`raw/${run}/after.txt`)).toEqual(data);
    await t.close();
  });

  it("an event whose blob is missing is a permanent error: DLQ at once, with the reason", async () => {
    const run = unique("gone");
    const id = unique("evt-missing-blob");
    const event = {
      schema: 1,
      id,
      project: "lost",
      run,
      name: "gone.bin",
      level: "fit",
      blob: { store: "fs", ref: `lost/${run}/${id}`, size: 5, sha256: "0".repeat(64) },
      contentType: "application/octet-stream",
      metadata: {},
      producer: { host: "test", pid: 1 },
      createdAt: new Date().toISOString(),
    };
    await jetstream(stack.bus.nc).publish(eventSubject(event as never), JSON.stringify(event), { msgID: id });
    const entry = await stack.bus.ledgerReaches({ id, project: "lost", run }, "dead");
    expect(entry).toMatchObject({ attempts: 1, error: expect.stringMatching(/blob missing/) });
    const letter = (await stack.bus.deadLetters()).find((d) => d.eventId === id);
    expect(letter).toMatchObject({ errorClass: "permanent", attempts: 1 });
  });

  it("flush rejects clearly, naming what is pending, when the destination is down", async () => {
    await stack.s3.stop();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "while-down.txt");
    writeRandomFile(path, 10);
    await t.publisher.logFile({ project: "down", run: unique("r"), name: "notes/while-down.txt", path });
    const err = await t.publisher.flush({ timeoutMs: 1500 }).catch((e) => e);
    expect(err).toBeInstanceOf(FlushTimeoutError);
    expect(err.message).toMatch(/notes\/while-down\.txt at s3:e2e/);
    await stack.s3.restart();
    await t.publisher.flush({ timeoutMs: 30_000 });
    await t.close();
  });
});
