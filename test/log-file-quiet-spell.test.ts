/**
 * A trainer logs a checkpoint after minutes of training, when the publisher's list of
 * destinations is always older than its check interval. logFile answers from that list at once,
 * whatever its age, and waits for no round trip to NATS; the list as the check behind the call
 * finds it decides before the event is published. Real nats-server (frozen with SIGSTOP); the
 * clock of this process is moved forward instead of waiting out the minutes.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { consumerName, EVENTS_STREAM, NoDestinationError } from "@artifact-bus/shared";
import { writeRandomFile } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BusStack } from "./harness/bus-stack.ts";

const DIR_MAIN = new URL("../services/dir-uploader/src/main.ts", import.meta.url).pathname;
let stack: BusStack;

beforeAll(async () => {
  stack = await BusStack.start({
    destination: { name: "dir:quiet", filter: { project: "quiet", run: "*", level: "*" }, options: {} },
    main: DIR_MAIN,
  });
});
afterAll(async () => {
  await stack?.dispose();
});
afterEach(() => {
  stack.nats.resume();
  vi.useRealTimers();
});

/** Moves this process's clock `ms` ahead (Date only: timers and the event loop run as usual). */
const quietSpell = (ms: number) =>
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true, now: Date.now() + ms });

const stagedFiles = (run: string) => {
  const dir = join(stack.config.staging.dir!, "quiet", run);
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe("logFile after a quiet spell", () => {
  it("answers from the list it has, whatever its age: with NATS frozen it returns without waiting for the check", async () => {
    const t = await stack.trainer();
    const run = `spell-${process.pid}`;
    const path = join(stack.dir, `${run}.bin`);
    await writeRandomFile(path, 64 << 10);
    await (await t.publisher.logFile({ project: "quiet", run, name: "first.pt", path, mode: "copy" })).durable;

    quietSpell(30 * 60_000);
    await stack.nats.pause();
    const t0 = performance.now();
    const handle = await t.publisher.logFile({ project: "quiet", run, name: "after.pt", path, mode: "copy" });
    const returnedMs = performance.now() - t0;
    // The check's requests wait up to 5 s for a frozen server: a logFile that waited for them
    // could not have returned sooner (before, it returned after 5.0 s here).
    expect(returnedMs).toBeLessThan(4_000);
    expect(handle.destinations).toEqual(["dir:quiet"]);
    stack.nats.resume();
    expect((await handle.durable).streamSeq).toBeGreaterThan(0);
    await t.close();
  });

  it("a destination removed meanwhile: the event is not published where no one takes it, durable names why, the blob is removed", async () => {
    const t = await stack.trainer();
    const run = `removed-${process.pid}`;
    const path = join(stack.dir, `${run}.bin`);
    await writeRandomFile(path, 64 << 10);
    await (await t.publisher.logFile({ project: "quiet", run, name: "first.pt", path, mode: "copy" })).durable;

    const jsm = await jetstreamManager(stack.nc);
    await jsm.consumers.delete(EVENTS_STREAM, consumerName(stack.token));
    quietSpell(30_000); // past the list's check interval (5 s)
    const before = (await jsm.streams.info(EVENTS_STREAM)).state.last_seq;
    const handle = await t.publisher.logFile({ project: "quiet", run, name: "lost.pt", path, mode: "copy" });
    const err = await handle.durable.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoDestinationError);
    expect((err as Error).message).toMatch(/no destination takes quiet\//);
    expect((await jsm.streams.info(EVENTS_STREAM)).state.last_seq).toBe(before);
    expect(stagedFiles(run)).toHaveLength(1); // the first artifact's blob only
    await t.close();
  });
});
