/**
 * A destination's pause without servers: the record as read (ledger/destination-pause.ts), the
 * gate a worker makes of it (delivery/pause-gate.ts), and the pull loop held by its gates
 * (delivery/pull-loop.ts). The whole story on real servers is test/destination-pause.test.ts.
 */
import type { Consumer } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { PauseGate } from "../src/delivery/pause-gate.ts";
import { type PullGate, PullLoop } from "../src/delivery/pull-loop.ts";
import { type DestinationPause, readDestinationPause } from "../src/ledger/destination-pause.ts";
import { silentLogger } from "../src/log.ts";

const PAUSE: DestinationPause = { paused: true, by: "admin", at: "2026-01-01T00:00:00.000Z", reason: "migration" };

/** A ledger bucket holding one value under `pause.s3_main`, or a delete marker. */
const kvWith = (value: string | undefined) =>
  ({
    get: async (key: string) =>
      key !== "pause.s3_main"
        ? null
        : value === undefined
          ? { operation: "DEL", string: () => "" }
          : { operation: "PUT", string: () => value },
  }) as unknown as KV;

describe("the pause record", () => {
  it("pauses only when it says paused: true", async () => {
    expect(await readDestinationPause(kvWith(JSON.stringify(PAUSE)), "s3_main")).toEqual(PAUSE);
    expect(await readDestinationPause(kvWith(JSON.stringify(PAUSE)), "s3_other")).toBeUndefined();
    expect(await readDestinationPause(kvWith(undefined), "s3_main")).toBeUndefined();
    expect(await readDestinationPause(kvWith('{"paused":false,"by":"x"}'), "s3_main")).toBeUndefined();
    expect(await readDestinationPause(kvWith("not json"), "s3_main")).toBeUndefined();
    expect(await readDestinationPause(kvWith('{"paused":true}'), "s3_main")).toEqual({
      paused: true,
      by: "unknown",
      at: "",
    });
  });
});

describe("the pause gate", () => {
  it("says no until it read the record, then follows it; a failed read keeps the last answer", async () => {
    let first = (_: DestinationPause | undefined) => {};
    let answer: () => Promise<DestinationPause | undefined> = () => new Promise((r) => (first = r));
    const g = new PauseGate({ read: () => answer(), pollMs: 20, log: silentLogger });
    const heard: boolean[] = [];
    g.on(() => heard.push(g.paused));
    g.start();
    try {
      // A replica restarted while its destination is paused pulls nothing before it knows.
      expect(await g.mayPull()).toBe(false);
      answer = async () => undefined;
      first(undefined);
      await g.waitForChange(1000);
      expect(await g.mayPull()).toBe(true);
      answer = async () => PAUSE;
      await g.waitForChange(1000);
      expect(await g.mayPull()).toBe(false);
      expect(g.pause).toEqual(PAUSE);
      answer = async () => {
        throw new Error("NATS away");
      };
      await new Promise((r) => setTimeout(r, 100));
      expect(await g.mayPull()).toBe(false);
      answer = async () => undefined;
      await g.waitForChange(1000);
      expect(await g.mayPull()).toBe(true);
      expect(heard).toEqual([false, true, false]);
    } finally {
      g.stop();
    }
  });
});

/** A consumer whose fetches deliver nothing and last 300 ms unless stopped. */
function idleConsumer() {
  const fetches: { stopped: boolean }[] = [];
  const consumer = {
    fetch: async () => {
      const f = { stopped: false };
      fetches.push(f);
      let wake = () => {};
      const over = new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 300);
      });
      return {
        stop() {
          f.stopped = true;
          wake();
        },
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            await over;
            return { done: true, value: undefined };
          },
        }),
      };
    },
  } as unknown as Consumer;
  return { consumer, fetches };
}

const loopOf = (consumer: Consumer, gates: PullGate[]) =>
  new PullLoop({
    consumer,
    concurrency: 2,
    gates,
    log: silentLogger,
    handle: async () => {},
    onHandlerError: () => {},
  });

describe("a pull loop's gates", () => {
  it("fetches nothing while a gate says no, and asks the later gates nothing", async () => {
    const { consumer, fetches } = idleConsumer();
    let open = false;
    let asked = 0;
    const wake = new Set<() => void>();
    const first: PullGate = {
      mayPull: async () => open,
      waitForChange: (ms) =>
        new Promise((r) => {
          wake.add(() => r());
          setTimeout(r, ms);
        }),
    };
    const second: PullGate = {
      mayPull: async () => {
        asked++;
        return true;
      },
      waitForChange: async () => {},
    };
    const loop = loopOf(consumer, [first, second]);
    loop.start();
    await new Promise((r) => setTimeout(r, 100));
    expect({ fetches: fetches.length, asked }).toEqual({ fetches: 0, asked: 0 });
    open = true;
    for (const w of wake) w();
    await new Promise((r) => setTimeout(r, 50));
    expect(fetches.length).toBe(1);
    expect(asked).toBe(1);
    await loop.stop(0);
  });

  it("stops the fetch that follows when a gate closed while the gates were being asked", async () => {
    const { consumer, fetches } = idleConsumer();
    let loop: PullLoop | undefined;
    let closedOnce = false;
    // The pause arrives while the breaker is being asked: the pause gate answered yes already.
    const closingWhileAsked: PullGate = {
      mayPull: async () => {
        if (!closedOnce) {
          closedOnce = true;
          loop?.interrupt();
        }
        return true;
      },
      waitForChange: async () => {},
    };
    loop = loopOf(consumer, [{ mayPull: async () => true, waitForChange: async () => {} }, closingWhileAsked]);
    loop.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(fetches[0]?.stopped).toBe(true);
    await loop.stop(0);
  });
});
