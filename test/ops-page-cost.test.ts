/**
 * What an open operations page costs the gateway: 30 s of artifacts flowing (10 PUTs a second)
 * with no live stream open, then 30 s more with 50 streams open (each read to the end, as the
 * page does), the gateway's CPU seconds and RSS printed for both. Figures only, no timed
 * assertion: this machine's speed is not the point; what one more tab costs is.
 */
import { readFileSync } from "node:fs";
import { LEDGER_BUCKET } from "@artifact-bus/shared";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const CLIENTS = Number(process.env.OPS_COST_CLIENTS ?? 50);
const PHASE_MS = Number(process.env.OPS_COST_PHASE_MS ?? 30_000);
let stack: GatewayStack;
let publish: string;
let reader: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  publish = stack.token(["demo"], ["publish"]);
  reader = stack.token(["demo"], ["read"]);
  await stack.reload();
}, 120_000);
afterAll(async () => {
  await stack?.dispose();
});

/** CPU seconds (user + system) and RSS (MiB) of a process, from /proc. */
function usage(pid: number): { cpu: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return { cpu: ticks / 100, rssMiB: Number(rss) / 1024 };
}

/** PUTs a small artifact every 100 ms for `ms`; resolves with how many were accepted. */
async function flow(run: string, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) {
    const started = Date.now();
    const res = await stack.fetch(`/v1/projects/demo/runs/${run}/artifacts/step-${n}.bin`, publish, {
      method: "PUT",
      body: Buffer.alloc(1024, n),
    });
    await res.arrayBuffer();
    if (res.status === 202) n++;
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
  }
  return n;
}

it(`${CLIENTS} open live streams while artifacts flow: the gateway's CPU and RSS with and without them`, async () => {
  const pid = stack.gateway.proc.pid!;
  await flow("warm-up", 3_000);
  const ledgerWatchesBefore = await (async () => {
    const jsm = await jetstreamManager(stack.bus.nc);
    return (await jsm.consumers.list(`KV_${LEDGER_BUCKET}`).next()).length;
  })();

  const a0 = usage(pid);
  const without = await flow("without", PHASE_MS);
  const a1 = usage(pid);
  console.info(`ops page cost: first phase done (${without} artifacts)`);

  const gone = new AbortController();
  let events = 0;
  const streams = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const res = await stack.fetch("/v1/events/live", reader, { signal: gone.signal });
      expect(res.status).toBe(200);
      const body = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      // In an object: an async function returning a promise would wait for it.
      return {
        read: (async () => {
          try {
            for (;;) {
              const { value, done } = await body.read();
              if (done) return;
              events += value.split("event: ledger").length - 1;
            }
          } catch {
            // aborted at the end
          }
        })(),
      };
    }),
  );
  console.info(`ops page cost: ${CLIENTS} streams open`);
  // One watch of the ledger for all of them, the gateway's own (a KV watch is an ordered consumer of its stream).
  const jsm = await jetstreamManager(stack.bus.nc);
  const watches = async () => (await jsm.consumers.list(`KV_${LEDGER_BUCKET}`).next()).length;
  const b0 = usage(pid);
  const withStreams = await flow("with", PHASE_MS);
  const b1 = usage(pid);
  const ledgerWatchesWith = await watches();
  console.info(`ops page cost: second phase done`);
  gone.abort();
  await Promise.all(streams.map((s) => s.read));

  const figures = {
    phaseSeconds: PHASE_MS / 1000,
    clients: CLIENTS,
    withoutStreams: { artifacts: without, cpuSeconds: +(a1.cpu - a0.cpu).toFixed(2), rssMiB: +a1.rssMiB.toFixed(1) },
    withStreams: {
      artifacts: withStreams,
      cpuSeconds: +(b1.cpu - b0.cpu).toFixed(2),
      rssMiB: +b1.rssMiB.toFixed(1),
      eventsDelivered: events,
    },
    ledgerWatches: { before: ledgerWatchesBefore, with: ledgerWatchesWith },
  };
  console.info(`ops page cost: ${JSON.stringify(figures)}`);
  expect(events).toBeGreaterThan(0);
  // The gateway watches the ledger from its start (each destination's rate and newest error):
  // the streams share that watch and add none.
  expect(ledgerWatchesBefore).toBeGreaterThanOrEqual(1);
  expect(ledgerWatchesWith).toBe(ledgerWatchesBefore);
}, 180_000);
