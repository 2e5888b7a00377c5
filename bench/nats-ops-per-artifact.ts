/**
 * NATS operations per artifact, end to end: OPS_TRAINERS trainers (own connection each) log
 * OPS_COUNT 4 KiB artifacts in all with logFile and flush, one dir uploader uploads them. A
 * wiretap connection subscribed to `>` sees every message the clients send (publishes, requests,
 * acks) and every reply; each request is put to the trainers' or the uploader's side by its
 * reply inbox (the trainers' connections are in this process, so their inboxes are known), and
 * to a kind by its subject (KV get/create/update/put by key prefix, JetStream API call, ack...).
 * Prints a markdown table of operations per artifact. Run alone:
 * `flock /tmp/artifact-bus-bench.lock node bench/nats-ops-per-artifact.ts`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connectNats, EVENTS_PREFIX, LEDGER_BUCKET } from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { BusStack } from "../test/harness/bus-stack.ts";

const COUNT = Number(process.env.OPS_COUNT ?? 512);
const TRAINERS = Number(process.env.OPS_TRAINERS ?? 16);
const KV_SUBJECT = `$KV.${LEDGER_BUCKET}.`;
const DIRECT_GET = `$JS.API.DIRECT.GET.KV_${LEDGER_BUCKET}`;
const MSG_GET = `$JS.API.STREAM.MSG.GET.KV_${LEDGER_BUCKET}`;

/** The ledger key prefix (`ev`, `head`, ...) of a KV key, the unit the table counts by. */
const keyKind = (key: string) => key.split(".")[0] ?? "?";

/** What a message the clients sent is, or undefined for a reply or delivery (server to client). */
function kindOf(m: Msg): string | undefined {
  const s = m.subject;
  if (s.startsWith("_INBOX.")) return undefined;
  // A JetStream delivery: the server sends it with the stored subject and an ack reply subject.
  if (m.reply?.startsWith("$JS.ACK.")) {
    const [, , stream, consumer] = m.reply.split(".");
    return `received: ${stream} delivery to ${consumer?.startsWith("oc_") ? "a watch" : consumer}`;
  }
  if (s.startsWith(KV_SUBJECT)) {
    const expected = m.headers?.get("Nats-Expected-Last-Subject-Sequence");
    const write = expected === "0" ? "create" : expected ? "update" : "put";
    return `KV ${write} ${keyKind(s.slice(KV_SUBJECT.length))}`;
  }
  if (s.startsWith(DIRECT_GET)) {
    const key = s.length > DIRECT_GET.length ? s.slice(DIRECT_GET.length + 1 + KV_SUBJECT.length) : undefined;
    const bySubject = key ?? (m.data.length ? (m.json<{ last_by_subj?: string }>().last_by_subj ?? "") : "");
    return `KV get ${keyKind(bySubject.replace(KV_SUBJECT, ""))}`;
  }
  if (s === MSG_GET)
    return `KV get (message get) ${keyKind((m.json<{ last_by_subj?: string }>().last_by_subj ?? "").replace(KV_SUBJECT, ""))}`;
  if (s.startsWith(`${EVENTS_PREFIX}.`)) return "publish event";
  if (s.startsWith("$JS.ACK.")) return "ack";
  if (s.startsWith("$JS.API.CONSUMER.MSG.NEXT.")) return "fetch (pull request)";
  if (s.startsWith("$JS.API.")) return `JS API ${s.split(".").slice(2, 4).join(".")}`;
  // nats-server's own: an audit advisory for every JetStream API request (not for direct gets).
  if (s.startsWith("$JS.EVENT.")) return `server: advisory ${s.split(".").slice(3, 5).join(".")}`;
  if (s.startsWith("$O.")) return "object store";
  return s.split(".").slice(0, 2).join(".");
}

/** The side a kind belongs to whatever its reply subject (acks and deliveries have none of ours). */
function sideOfKind(kind: string): string | undefined {
  if (kind === "ack" || kind.includes("dest_")) return "uploader";
  if (kind.includes("a watch")) return "trainer";
  if (kind.startsWith("server:")) return "nats-server";
  return undefined;
}

const root = mkdtempSync(join("/tmp", "artifact-bus-ops-"));
const stack = await BusStack.start({
  destination: { name: "dir:ops", filter: { project: "ops", run: "*", level: "*" }, options: { root } },
  main: resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts"),
});
const counts = new Map<string, number>();
let replies = { trainer: 0, uploader: 0 };
let trainerInboxes: string[] = [];
const sideOf = (reply: string | undefined) =>
  reply === undefined ? "uploader" : trainerInboxes.some((p) => reply.startsWith(p)) ? "trainer" : "uploader";
try {
  const uploader = await stack.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
  const trainers = await Promise.all(Array.from({ length: TRAINERS }, (_, rank) => stack.trainer({ rank })));
  const file = join(stack.dir, "a.bin");
  writeFileSync(file, Buffer.alloc(4096, 7));
  // A first artifact per trainer makes its request inbox, and the uploader past its start.
  await Promise.all(
    trainers.map((t, i) =>
      t.publisher.logFile({ project: "ops", run: "warm", name: `w${i}`, path: file, mode: "copy" }),
    ),
  );
  await Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 60_000 })));
  trainerInboxes = trainers.map((t) => inboxOf(t.nc));
  const tap = await connectNats(stack.config.nats, { name: "ops-wiretap" });
  const sub = tap.subscribe(">");
  void (async () => {
    for await (const m of sub) {
      const kind = kindOf(m);
      if (kind === undefined) {
        if (m.subject.startsWith("_INBOX."))
          replies = { ...replies, [sideOf(m.subject)]: replies[sideOf(m.subject)] + 1 };
        continue;
      }
      const key = `${sideOfKind(kind) ?? sideOf(m.reply)} | ${kind}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  })();
  await tap.flush();
  const t0 = performance.now();
  await Promise.all(
    trainers.map(async (t, rank) => {
      for (let i = rank; i < COUNT; i += TRAINERS) {
        await (await t.publisher.logFile({ project: "ops", run: "r", name: `a/${i}`, path: file, mode: "copy" }))
          .durable;
      }
      await t.publisher.flush({ timeoutMs: 120_000 });
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  // Whatever the uploader still sends after the trainers' flushes returned (acks) is counted too.
  await eventually(
    async () => ((await stack.consumerInfo()).num_ack_pending === 0 ? true : undefined),
    30_000,
    "acked",
  );
  await tap.flush();
  sub.unsubscribe();
  console.log(`${COUNT} artifacts of 4 KiB, ${TRAINERS} trainers, one dir uploader, ${seconds.toFixed(1)} s\n`);
  console.log("| side | operation | per artifact |\n|---|---|---|");
  for (const [key, n] of [...counts].sort()) console.log(`| ${key} | ${(n / COUNT).toFixed(2)} |`);
  const total = (side: string) =>
    [...counts].filter(([k]) => k.startsWith(side) && !k.includes("received:")).reduce((a, [, n]) => a + n, 0);
  console.log(`| trainer | all sent | ${(total("trainer") / COUNT).toFixed(2)} |`);
  console.log(`| uploader | all sent | ${(total("uploader") / COUNT).toFixed(2)} |`);
  console.log(
    `| trainer / uploader | replies received (requests answered) | ${(replies.trainer / COUNT).toFixed(2)} / ${(replies.uploader / COUNT).toFixed(2)} |`,
  );
  await tap.close();
  await Promise.all(trainers.map((t) => t.close()));
  await uploader.kill("SIGTERM");
} finally {
  await stack.dispose();
  rmSync(root, { recursive: true, force: true });
}

/** The connection's request inbox prefix (nats.js keeps it on its request multiplexer). */
function inboxOf(nc: NatsConnection): string {
  const base = (nc as any).protocol?.muxSubscriptions?.baseInbox as string | undefined;
  if (!base) throw new Error("no request inbox yet on a trainer connection");
  return base;
}
