/**
 * `flush()` under the conditions it meets at the end of a job: NATS restarting while trainers
 * wait, and many trainers of one run waiting at once, each for its own artifacts only.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusStack } from "./harness/bus-stack.ts";

const DIR_MAIN = resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts");
let stack: BusStack;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "artifact-bus-flush-"));
  stack = await BusStack.start({
    destination: { name: "dir:flush", filter: { project: "flush", run: "*", level: "*" }, options: { root } },
    main: DIR_MAIN,
  });
});
afterAll(async () => {
  await stack?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe("flush", () => {
  it("a flush waiting while NATS restarts returns once its artifacts land after the restart", async () => {
    const t = await stack.trainer();
    const path = join(stack.dir, "restart.bin");
    const logged = [];
    // More than a flush reads one by one before it watches: both ways are taken.
    for (let i = 0; i < 30; i++) {
      writeFileSync(path, `version ${i}`);
      logged.push(await t.publisher.logFile({ project: "flush", run: "restart", name: `a${i}.bin`, path }));
    }
    // No uploader yet: the flush is waiting when NATS goes away, and its artifacts land only after.
    const flushed = t.publisher.flush({ timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 300)); // the flush's watch is up (the fault's timing, not a result's)
    await stack.nats.stop();
    await stack.nats.restart();
    const uploader = await stack.startUploader();
    await flushed;
    for (const [i, l] of logged.entries()) {
      expect(await stack.ledger(l)).toMatchObject({ state: "uploaded" });
      expect(readFileSync(join(root, "flush", "restart", `a${i}.bin`), "utf8")).toBe(`version ${i}`);
    }
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("trainers of one run flushing at once each return when their own artifacts are terminal", async () => {
    const trainers = await Promise.all(Array.from({ length: 8 }, (_, rank) => stack.trainer({ rank })));
    const logged = await Promise.all(
      trainers.map(async (t, rank) => {
        const path = join(stack.dir, `rank-${rank}.bin`);
        writeFileSync(path, `rank ${rank}`);
        const out = [];
        for (let i = 0; i < 12; i++) {
          out.push(await t.publisher.logFile({ project: "flush", run: "many", name: `r${rank}/s${i}.bin`, path }));
        }
        return out;
      }),
    );
    const uploader = await stack.startUploader();
    await Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 30_000 })));
    for (const l of logged.flat()) expect(await stack.ledger(l)).toMatchObject({ state: "uploaded" });
    // Nothing of theirs is left to wait for: a second flush returns at once, without an uploader.
    await uploader.kill("SIGTERM");
    await Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 1_000 })));
    await Promise.all(trainers.map((t) => t.close()));
  });
});
