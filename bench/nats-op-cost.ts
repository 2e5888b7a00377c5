/**
 * nats-server's CPU per operation the bus makes per artifact (publish, lease create, ledger put,
 * fetch and ack, ledger get), and what ledger watchers add to each ledger write: one client, 64
 * requests in flight, nats-server's CPU from /proc. Prints a markdown table; run it alone, with
 * the bench lock: `flock /tmp/artifact-bus-bench.lock node bench/nats-op-cost.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { connectNats, consumerName, eventSubject, LEDGER_BUCKET } from "@artifact-bus/shared";
import { cpuSeconds } from "@artifact-bus/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import { BusStack } from "../test/harness/bus-stack.ts";

const N = Number(process.env.OP_COUNT ?? 20_000);
const root = mkdtempSync(join("/tmp", "artifact-bus-opcost-"));
const stack = await BusStack.start({
  destination: { name: "dir:load", filter: { project: "load", run: "*", level: "*" }, options: { root } },
  main: resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts"),
});
const nc = await connectNats(stack.config.nats, { name: "op-cost" });
const js = jetstream(nc);
const kv = await new Kvm(nc).open(LEDGER_BUCKET);
const event = new TextEncoder().encode("x".repeat(700));
const entry = "y".repeat(450);
const head = "z".repeat(150);
const row = (what: string, natsUs: number, clientUs: number) =>
  console.log(`| ${what} | ${natsUs.toFixed(0)} | ${clientUs.toFixed(0)} |`);

/** nats-server and client CPU (µs) per call of `op`, `n` calls with 64 in flight. */
async function measure(n: number, op: (i: number) => Promise<unknown>): Promise<[number, number]> {
  const server0 = cpuSeconds(stack.nats.pid);
  const client0 = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < n) await op(next++);
    }),
  );
  const client = process.cpuUsage(client0);
  return [(1e6 * (cpuSeconds(stack.nats.pid) - server0)) / n, (client.user + client.system) / n];
}

try {
  console.log("| operation (µs of CPU per call, 64 in flight) | nats-server | client |\n|---|---|---|");
  const subject = (i: number) => eventSubject({ project: "load", run: "r", level: "fit", name: `n-${i}` });
  row(
    "publish an event (700 B, with message id)",
    ...(await measure(N, (i) => js.publish(subject(i), event, { msgID: `id-${i}` }))),
  );
  row(
    "KV create of a new key (lease head, 150 B)",
    ...(await measure(N, (i) => kv.create(`head.dir_load.k${i}`, head))),
  );
  row(
    "KV put of a new key (ledger entry, 450 B)",
    ...(await measure(N, (i) => kv.put(`ev.dir_load.load.r.e${i}`, entry))),
  );
  row("KV get, present", ...(await measure(N, (i) => kv.get(`ev.dir_load.load.r.e${i}`))));
  row("KV get, absent (404)", ...(await measure(N, (i) => kv.get(`ev.dir_load.load.r.absent${i}`))));
  {
    // The events published above, through the destination's consumer.
    const consumer = await js.consumers.get("ARTIFACTS", consumerName("dir_load"));
    const server0 = cpuSeconds(stack.nats.pid);
    const client0 = process.cpuUsage();
    for (let got = 0; got < N; ) {
      for await (const m of await consumer.fetch({ max_messages: 64, expires: 2000 })) {
        m.ack();
        got++;
      }
    }
    const client = process.cpuUsage(client0);
    row(
      "fetch (batches of 64) and ack, per message",
      (1e6 * (cpuSeconds(stack.nats.pid) - server0)) / N,
      (client.user + client.system) / N,
    );
  }
  // Ledger watchers as flush() makes them, each on its own connection: of other runs, or of the
  // run written to (every watcher hears every write).
  for (const [count, run] of [
    [64, "other"],
    [256, "other"],
    [64, "fan"],
  ] as const) {
    const watchers = await Promise.all(
      Array.from({ length: count }, async () => {
        const c = await connectNats(stack.config.nats, { name: "op-cost-watcher" });
        const w = await (await new Kvm(c).open(LEDGER_BUCKET)).watch({
          key: `ev.*.load.${run}.*`,
          include: KvWatchInclude.UpdatesOnly,
        });
        let heard = 0;
        void (async () => {
          for await (const _ of w) heard++;
        })();
        return { c, w, heard: () => heard };
      }),
    );
    const M = 5000;
    const server0 = cpuSeconds(stack.nats.pid);
    const client0 = process.cpuUsage();
    await measure(M, (i) => kv.put(`ev.dir_load.load.fan.${count}-${run}-${i}`, entry));
    if (run === "fan") while (watchers.some((w) => w.heard() < M)) await new Promise((r) => setTimeout(r, 50));
    const client = process.cpuUsage(client0);
    const what = `KV put with ${count} ledger watchers${run === "fan" ? " of its run (all hear it; client: all of them)" : " of other runs"}`;
    row(what, (1e6 * (cpuSeconds(stack.nats.pid) - server0)) / M, (client.user + client.system) / M);
    for (const w of watchers) {
      w.w.stop();
      await w.c.close();
    }
  }
} finally {
  await nc.close();
  await stack.dispose();
  rmSync(root, { recursive: true, force: true });
}
