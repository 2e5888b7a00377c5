/**
 * The gateway's one ledger watch ending on its own, while NATS stays connected: waiters and live
 * streams must not be left deaf. The watch is ended the way the server ends it in production:
 * nats-server reloads a config in which the gateway user may no longer subscribe to its reply
 * subjects, so the server drops the watch's subscription ("Permissions Violation for
 * Subscription") and nats.js stops the watch's iterator. The grant is then put back. (nats.js's
 * other way of giving up, 30 failed re-creations of the ordered consumer with nothing received,
 * takes over two minutes of its backoff after a minute of missed heartbeats: too slow for a test.)
 * Real processes: nats-server with the sample permissions, the S3 double, the gateway, an uploader.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LEDGER_BUCKET } from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

let stack: GatewayStack;

beforeAll(async () => {
  stack = await GatewayStack.start({ secured: true, uploader: false });
}, 120_000);
afterAll(async () => stack?.dispose());

/** A Server-Sent Events stream read as it comes; `until` waits for a pattern with a deadline. */
class EventStream {
  text = "";
  private readonly reader: ReadableStreamDefaultReader<string>;
  private readonly abort: AbortController;
  private constructor(reader: ReadableStreamDefaultReader<string>, abort: AbortController) {
    this.reader = reader;
    this.abort = abort;
  }
  static async open(token: string): Promise<EventStream> {
    const abort = new AbortController();
    const res = await stack.fetch("/v1/events/live", token, { signal: abort.signal });
    expect(res.status).toBe(200);
    return new EventStream(res.body!.pipeThrough(new TextDecoderStream()).getReader(), abort);
  }
  async until(pattern: RegExp, ms: number, what: string): Promise<void> {
    const deadline = AbortSignal.timeout(ms);
    const expired = new Promise<never>((_, reject) =>
      deadline.addEventListener("abort", () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`))),
    );
    while (!pattern.test(this.text)) {
      const { value, done } = await Promise.race([this.reader.read(), expired]);
      if (done) throw new Error(`the stream ended while waiting for ${what}:\n${this.text}`);
      this.text += value;
    }
  }
  close(): void {
    this.abort.abort();
  }
}

/** The server's config with the gateway user's grant to subscribe to its reply subjects taken out, or not. */
function writeServerConfig(original: string, withoutGatewayReplies: boolean): void {
  const file = join(stack.bus.nats.dir, "server.conf");
  const start = original.indexOf('user: "gateway"');
  const end = original.indexOf("user: ", start + 1);
  expect(start).toBeGreaterThan(-1);
  const gateway = original.slice(start, end);
  expect(gateway).toContain('"_INBOX_gateway.>"');
  const changed = withoutGatewayReplies ? gateway.replace('"_INBOX_gateway.>"', '"no.replies.granted"') : gateway;
  // Another subject, not none: an allow list left empty would allow everything. JetStream is on
  // by the command line (-js -sd), which a reload does not read: a file without it would switch
  // JetStream off.
  const jetstream = `jetstream { store_dir: "${stack.bus.nats.storeDir}" }\n`;
  writeFileSync(file, jetstream + original.slice(0, start) + changed + original.slice(end));
  process.kill(stack.bus.nats.pid, "SIGHUP");
}

/**
 * Whether the gateway's ledger watch has a subscription on the server (its push consumer is
 * bound); undefined while JetStream does not answer, as for a moment after a config reload.
 */
async function watchBound(): Promise<boolean | undefined> {
  try {
    const jsm = await jetstreamManager(stack.bus.nc);
    for await (const c of jsm.consumers.list(`KV_${LEDGER_BUCKET}`)) if (c.push_bound) return true;
    return false;
  } catch (err) {
    const text = `${String(err)} ${String((err as { cause?: unknown }).cause)}`;
    if (/no responders|not enabled/i.test(text)) return undefined;
    throw err;
  }
}
const boundNow = () => eventually(watchBound, 10_000, "JetStream to answer");

const metric = async (name: string) =>
  Number(new RegExp(`^${name} (\\d+)$`, "m").exec(await (await stack.fetch("/metrics", undefined)).text())?.[1]);

it("a watch the server ends is restarted: a waiting client gets its answer and a live stream resyncs", async () => {
  const token = stack.token(["demo"], ["publish"]);
  await stack.reload();
  const put = await stack.fetch("/v1/projects/demo/runs/watch-ends/artifacts/ckpt.pt", token, {
    method: "PUT",
    body: "weights",
  });
  expect(put.status).toBe(202);
  const { id } = (await put.json()) as { id: string };

  const live = await EventStream.open(token);
  await live.until(/^event: ready$/m, 10_000, "the live stream to be ready");
  const answer = stack
    .fetch("/v1/projects/demo/runs/watch-ends/wait?timeout=60", token, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ids: [id] }),
    })
    .then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { done: boolean; counts: { uploaded: number } },
    }));
  // Awaited below; a failure before that must not surface as an unhandled rejection.
  answer.catch(() => undefined);
  await eventually(
    async () => ((await metric("artifact_bus_gateway_waiters")) === 1 ? true : undefined),
    10_000,
    "the waiter to be registered",
  );
  expect(await boundNow()).toBe(true);

  // The server drops the watch's subscription: nats.js ends the watch's iterator.
  const original = readFileSync(join(stack.bus.nats.dir, "server.conf"), "utf8");
  writeServerConfig(original, true);
  await eventually(
    async () => ((await watchBound()) === false ? true : undefined),
    10_000,
    "the server to drop the watch",
  );
  writeServerConfig(original, false);

  // The watch is started again: the stream is told to read the state again, and hears what follows.
  await live.until(/^event: resync$/m, 30_000, "event: resync on the live stream");
  expect(await boundNow()).toBe(true);
  await stack.bus.startUploader();
  // The entry is written after the watch ended: only a restarted watch (or a re-read) tells the waiter.
  const { status, body } = await answer;
  expect(status).toBe(200);
  expect(body).toMatchObject({ done: true, counts: { uploaded: 1 } });
  await live.until(
    new RegExp(`^data: \\{"eventId":"${id}"[^\\n]*"state":"uploaded"`, "m"),
    20_000,
    "the upload on the live stream",
  );
  live.close();
}, 120_000);

it("while the server refuses the watch, its restarts come ever slower, with a warning each", async () => {
  const token = stack.token(["demo"], ["read"]);
  await stack.reload();
  const live = await EventStream.open(token);
  await live.until(/^event: ready$/m, 10_000, "the live stream to be ready");
  const restarts = () => stack.gateway.lines.filter((l) => l.msg === "restarting the ledger watch");
  const before = restarts().length;
  const original = readFileSync(join(stack.bus.nats.dir, "server.conf"), "utf8");
  writeServerConfig(original, true);
  // Each restart fails while the grant is away (the watch cannot subscribe).
  await stack.gateway.waitForLog(() => restarts().length >= before + 3, 30_000);
  writeServerConfig(original, false);
  await live.until(/^event: resync$/m, 30_000, "event: resync on the live stream");
  const [first, second, third] = restarts().slice(before);
  // Counted on from the restart above (that watch lived briefly): a watch that keeps ending is
  // not retried at the first, shortest delay each time.
  const n = Number(first?.attempt);
  expect([second?.attempt, third?.attempt]).toEqual([n + 1, n + 2]);
  expect(Number(second?.time) - Number(first?.time)).toBeGreaterThanOrEqual(Number(first?.delayMs));
  expect(Number(third?.time) - Number(second?.time)).toBeGreaterThanOrEqual(Number(second?.delayMs));
  expect(Number(third?.delayMs)).toBeGreaterThan(Number(first?.delayMs));
  expect(JSON.stringify(restarts())).not.toContain(token);
  live.close();
}, 120_000);
