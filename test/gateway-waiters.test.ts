/**
 * 200 trainers waiting at once: each logs an artifact in its own run while the uploader is down,
 * then waits on `/wait` on its own connection; the uploader starts and every waiter is answered
 * `done` as its artifact lands. The gateway's CPU over the whole wait is measured and kept
 * modest: the waits share one ledger watch instead of polling.
 */
import { randomBytes } from "node:crypto";
import { cpuSeconds, peakRssMb } from "@artifact-bus/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const TRAINERS = Number(process.env.ARTIFACT_BUS_TEST_WAITERS ?? 200);
let stack: GatewayStack;

beforeAll(async () => {
  stack = await GatewayStack.start({ uploader: false, destination: { concurrency: 16 } });
});
afterAll(async () => stack?.dispose());

it(`${TRAINERS} trainers waiting on /wait at once are all answered when their artifacts land`, async () => {
  const token = stack.token(["demo"], ["publish"]);
  await stack.reload();
  // fetch's default agent opens a connection per request in flight: one per waiting trainer.
  const call = (path: string, init: RequestInit) => stack.fetch(path, token, init);
  for (let i = 0; i < TRAINERS; i++) {
    const r = await call(`/v1/projects/demo/runs/t${i}/artifacts/ckpt.pt`, { method: "PUT", body: randomBytes(4096) });
    expect(r.status).toBe(202);
  }
  const pid = stack.gateway.pid;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const waits = Array.from({ length: TRAINERS }, (_, i) =>
    call(`/v1/projects/demo/runs/t${i}/wait?timeout=120`, { method: "POST" }).then(
      (r) => r.json() as Promise<{ done: boolean }>,
    ),
  );
  // Every waiter is registered before anything can land.
  await stack.bus.startUploader();
  const answers = await Promise.all(waits);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  console.log(
    `${TRAINERS} waiters answered in ${seconds.toFixed(1)} s; gateway CPU ${cpu.toFixed(2)} s (${((100 * cpu) / seconds).toFixed(0)}% of one core), peak RSS ${peakRssMb(pid).toFixed(0)} MB`,
  );
  expect(answers.every((a) => a.done)).toBe(true);
  // Modest: well under a core on average while they wait (polling per waiter would not be).
  expect(cpu / seconds).toBeLessThan(0.5);
}, 240_000);
