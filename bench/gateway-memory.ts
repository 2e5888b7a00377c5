/**
 * The gateway's memory with many clients waiting: 256 trainers each PUT a small artifact and
 * then long-poll `/wait` for it while no uploader runs, so every wait stays open. The gateway's
 * resident set is read once all of them are counted as waiting, against its idle one.
 */
import { peakRssMb, resetPeakRss, rssMb } from "@artifact-bus/testkit";
import type { GatewayStack } from "../test/harness/gateway-stack.ts";
import { atMost, type BenchContext, forEachConcurrently } from "./bench-kit.ts";

const WAITERS = 256;

/** The gateway's `artifact_bus_gateway_waiters` gauge. */
async function waiting(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^artifact_bus_gateway_waiters (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Reports the gateway's RSS idle and with WAITERS clients waiting; `token` may publish and read project bench. */
export async function runGatewayWaitersMemory(
  stack: GatewayStack,
  token: string,
  { report, target }: Pick<BenchContext, "report" | "target">,
): Promise<void> {
  const pid = stack.gateway.proc.pid!;
  const idleMb = rssMb(pid);
  resetPeakRss(pid);
  const auth = { authorization: `Bearer ${token}` };
  const base = `${stack.url}/v1/projects/bench/runs/waiters`;
  const ids: string[] = [];
  await forEachConcurrently(WAITERS, 16, async (i) => {
    const r = await fetch(`${base}/artifacts/w/${i}`, { method: "PUT", body: Buffer.alloc(4096, i), headers: auth });
    if (r.status !== 202) throw new Error(`PUT answered ${r.status}`);
    ids[i] = ((await r.json()) as { id: string }).id;
  });
  const gone = new AbortController();
  // One connection each, as separate trainers have: fetch opens a new one per concurrent request.
  const waits = ids.map((id) =>
    fetch(`${base}/wait?timeout=300`, {
      method: "POST",
      body: JSON.stringify({ ids: [id] }),
      headers: { ...auth, "content-type": "application/json" },
      signal: gone.signal,
    }).catch(() => undefined),
  );
  const deadline = Date.now() + 120_000;
  for (let seen = await waiting(stack.url); seen < WAITERS; seen = await waiting(stack.url)) {
    if (Date.now() > deadline) throw new Error(`only ${seen} of ${WAITERS} clients were waiting after 120 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const waitingMb = rssMb(pid);
  const peakMb = peakRssMb(pid);
  gone.abort();
  await Promise.all(waits);
  report(
    `| gateway resident set, ${WAITERS} clients each waiting on /wait for its artifact | ${waitingMb.toFixed(0)} MB (peak ${peakMb.toFixed(0)} MB while they PUT and waited) | idle ${idleMb.toFixed(0)} MB | (target ≤ 200 MB) |`,
  );
  target(atMost(`Gateway peak RSS, ${WAITERS} clients waiting`, peakMb, 200, " MB", 0));
}
