/**
 * `artifact-bus dlq`: print dead-lettered events, oldest first, one JSON object per line;
 * `artifact-bus dlq replay --destination D [--seq N ...] [--wait S]`: send them to D again, one
 * JSON line per entry (`replayed: true`, or `skipped` with the reason: an entry replayed already,
 * an event that died again since, or one that was never valid), a summary on stderr; with
 * `--wait`, then one line per replayed entry with the state it ended in (and where, or why).
 * Exits 0 once replayed (with `--wait`: each replay landed or was superseded), 1 when a replay
 * died again (named on stderr with why), the wait timed out or anything failed, 2 for bad arguments.
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { loadConfig } from "../config/config.ts";
import { readDeadLetters } from "../dead-letters/letters.ts";
import { replayDeadLetters } from "../dead-letters/replay.ts";
import { Ledger } from "../ledger/ledger.ts";
import { waitForTerminal } from "../ledger/ledger-waiter.ts";
import { connectNats } from "../nats/connect.ts";
import { LEDGER_BUCKET } from "../nats/topology-names.ts";
import { parseCommandArgs, UsageError } from "./args.ts";
import { destinationArg, requireKnownDestination } from "./destination-arg.ts";

/** What `dlq` and `dlq replay` take; `dlq --help` prints these names. */
export const DLQ_OPTIONS = {
  destination: { type: "string" },
  limit: { type: "string", default: "100" },
  seq: { type: "string", multiple: true },
  wait: { type: "string" },
} satisfies ParseArgsOptionsConfig;

export async function dlqCommand(args: string[]): Promise<number> {
  const replay = args[0] === "replay";
  const { values } = parseCommandArgs(replay ? args.slice(1) : args, DLQ_OPTIONS);
  // Checked before connecting: a flag the command would ignore, or a number that is none, is
  // said at once rather than acted on as something else (every letter listed, nothing replayed).
  const usage = usageProblem(values, replay);
  if (usage) throw new UsageError(usage);
  const needed = replay ? "dlq replay needs --destination, e.g. --destination s3:main" : undefined;
  const destination = destinationArg(values.destination, needed);
  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: "artifact-bus-dlq" });
  try {
    const jsm = await jetstreamManager(nc);
    if (destination) await requireKnownDestination(jsm, destination);
    // Without a destination this is not a replay: destinationArg refused that already.
    if (!replay || !destination) {
      const destinationToken = destination?.token;
      for await (const letter of readDeadLetters(jsm, { destinationToken, limit: Number(values.limit) })) {
        console.log(JSON.stringify(letter));
      }
      return 0;
    }
    const seqs = values.seq?.map(Number);
    const ledger = new Ledger(await new Kvm(nc).open(LEDGER_BUCKET));
    const results = await replayDeadLetters(jetstream(nc), jsm, ledger, destination.full, seqs ? { seqs } : {});
    for (const r of results) {
      const line = {
        dlqSeq: r.dlqSeq,
        eventId: r.eventId,
        ...(r.replayed ? { replayed: true } : { skipped: r.skipped }),
      };
      console.log(JSON.stringify(line));
    }
    const replayed = results.filter((r) => r.replayed);
    console.error(`${replayed.length} replayed, ${results.length - replayed.length} skipped`);
    if (values.wait) {
      const token = destination.token;
      const entries = replayed.flatMap(({ replayed: e }) =>
        e ? [{ destinationToken: token, project: e.project, run: e.run, eventId: e.id, name: e.name }] : [],
      );
      await waitForTerminal(ledger, entries, Number(values.wait) * 1000, { connection: nc });
      // What became of each: a replay refused (its blob gone) or dead again says why here.
      const dead: string[] = [];
      for (const r of replayed) {
        const e = r.replayed && (await ledger.get(token, { ...r.replayed, eventId: r.replayed.id }));
        if (!e) continue;
        const outcome = e.state === "uploaded" ? { location: e.location } : e.error ? { error: e.error } : {};
        console.log(JSON.stringify({ dlqSeq: r.dlqSeq, eventId: e.eventId, state: e.state, ...outcome }));
        if (e.state === "dead") {
          dead.push(
            `DLQ entry ${r.dlqSeq} (${e.eventId}, ${e.name}) dead again at ${destination.full}: ${e.error ?? "dead"}`,
          );
        }
      }
      console.error(`${entries.length} replayed event(s) terminal at ${destination.full}`);
      // As `put --wait`: a script waiting on the replay must not read "done" when it died again.
      if (dead.length > 0) {
        console.error(`artifact-bus: replay of ${dead.join("; ")} (see artifact-bus dlq)`);
        return 1;
      }
    }
    return 0;
  } finally {
    await nc.drain();
  }
}

function usageProblem(values: { limit?: string; seq?: string[]; wait?: string }, replay: boolean): string | undefined {
  if (!replay) {
    const only = values.seq !== undefined ? "--seq" : values.wait !== undefined ? "--wait" : undefined;
    if (only) return `${only} is taken only with \`dlq replay\``;
  }
  if (values.wait !== undefined && !(Number(values.wait) > 0)) {
    return `--wait: ${JSON.stringify(values.wait)} is not a number of seconds above 0`;
  }
  const counts: [string, string][] = [
    ["--limit", values.limit ?? "100"],
    ...(values.seq ?? []).map((v): [string, string] => ["--seq", v]),
  ];
  const bad = counts.find(([, v]) => !/^[1-9][0-9]*$/.test(v));
  return bad && `${bad[0]}: ${JSON.stringify(bad[1])} is not a positive whole number`;
}
