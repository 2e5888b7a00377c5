/**
 * `artifact-bus status`: where artifacts are, for a person (tables) or a script (`--json`).
 *   status ID [--project P --run R]  one version: its event and its state at each destination
 *   status --project P --run R     a run: each name's newest version and its state per destination
 *   status --destinations          each destination: breaker, replicas alive, backlog, dead letters
 * It answers with the same code as the gateway's GET /v1/artifacts/{id}, run listing and
 * GET /v1/destinations (shared/src/status). Exit codes are in {@link STATUS_EXIT}.
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError, loadConfig } from "../config/config.ts";
import { checkSubjectToken } from "../contract/names.ts";
import { EVENT_ID_PATTERN } from "../contract/schema.ts";
import { Ledger } from "../ledger/ledger.ts";
import { connectNats } from "../nats/connect.ts";
import { DestinationDirectory } from "../nats/destinations.ts";
import { LEDGER_BUCKET } from "../nats/topology-names.ts";
import { type ArtifactStatus, artifactStatus, runArtifacts } from "../status/artifact-status.ts";
import { destinationHealth, isHealthy } from "../status/destination-health.ts";
import { EventLookup } from "../status/event-lookup.ts";
import { runSets } from "../status/set-status.ts";
import { parseCommandArgs, USAGE_EXIT, UsageError } from "./args.ts";
import { artifactView, countStates, destinationsView, runView, setsView } from "./status-view.ts";

/** What `artifact-bus status` exits with; scripts may rely on these. */
export const STATUS_EXIT = {
  /** Uploaded or superseded at every destination; every destination has a live replica and a closed breaker. */
  ok: 0,
  /** Dead at some destination; or a destination without a live replica, or with its breaker open. */
  failed: 1,
  /** Bad arguments or configuration. */
  usage: USAGE_EXIT,
  /** Not final everywhere yet, and dead nowhere. */
  pending: 3,
  /** No such event, a run without artifacts, no destinations. */
  notFound: 4,
  /** NATS unreachable, the user lacks a permission, or a read failed. */
  unavailable: 5,
} as const;

const PAGE = 500;

/** What `status` takes; `status --help` prints these names. */
export const STATUS_OPTIONS = {
  project: { type: "string" },
  run: { type: "string" },
  destinations: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
} satisfies ParseArgsOptionsConfig;

export async function statusCommand(args: string[]): Promise<number> {
  let json = false;
  try {
    const parsed = parseCommandArgs(args, STATUS_OPTIONS, ["EVENT_ID"]);
    json = parsed.values.json ?? false;
    const query = queryOf(parsed.values, parsed.positionals);
    const config = loadConfig();
    const nc = await connectNats(config.nats, { name: "artifact-bus-status" });
    try {
      return await answer(nc, query, json);
    } finally {
      await nc.close();
    }
  } catch (err) {
    // Caught here rather than in main.ts: with --json the usage error is on stdout as well.
    const usage = err instanceof UsageError || err instanceof ConfigError;
    return fail(usage ? STATUS_EXIT.usage : STATUS_EXIT.unavailable, explain(err), json);
  }
}

type Run = { project: string; run: string };
type Query = { kind: "event"; id: string; in?: Run } | ({ kind: "run" } & Run) | { kind: "destinations" };

function queryOf(v: { project?: string; run?: string; destinations?: boolean }, positionals: string[]): Query {
  const id = positionals[0];
  const run = v.project !== undefined || v.run !== undefined;
  if ([id !== undefined || run, v.destinations === true].filter(Boolean).length !== 1) {
    throw new UsageError("status needs one of: an event ID, --project P --run R, or --destinations");
  }
  if (v.destinations) return { kind: "destinations" };
  if (id !== undefined && !new RegExp(EVENT_ID_PATTERN).test(id)) {
    throw new UsageError(`${JSON.stringify(id)} is not an event id`);
  }
  if (run && (v.project === undefined || v.run === undefined)) {
    throw new UsageError("a run needs both --project and --run");
  }
  const where = run ? runOf(v.project as string, v.run as string) : undefined;
  if (id !== undefined) return { kind: "event", id, ...(where ? { in: where } : {}) };
  return { kind: "run", ...(where as Run) };
}

function runOf(project: string, run: string): Run {
  try {
    return { project: checkSubjectToken("project", project), run: checkSubjectToken("run", run) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function answer(nc: NatsConnection, q: Query, json: boolean): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const kv = await new Kvm(nc).open(LEDGER_BUCKET);
  const directory = new DestinationDirectory(nc, kv);
  if (q.kind === "destinations") {
    const list = await destinationHealth(jsm, kv, directory);
    if (list.length === 0) return fail(STATUS_EXIT.notFound, "no destinations: apply the topology", json);
    print(json ? { destinations: list } : destinationsView(list), json);
    return list.every(isHealthy) ? STATUS_EXIT.ok : STATUS_EXIT.failed;
  }
  const ledger = new Ledger(kv);
  let skipped = 0;
  const lookup = new EventLookup(jsm, kv, () => skipped++);
  const code = await answerEvents(lookup, ledger, directory, q, json, kv);
  if (skipped > 0) {
    console.error(`artifact-bus status: skipped ${skipped} message(s) whose subject does not vouch for their body`);
  }
  return code;
}

async function answerEvents(
  lookup: EventLookup,
  ledger: Ledger,
  directory: DestinationDirectory,
  q: Exclude<Query, { kind: "destinations" }>,
  json: boolean,
  kv: KV,
): Promise<number> {
  if (q.kind === "event") {
    // An event no destination touched yet is found only among its run's events.
    const inProject = (project: string) => !q.in || project === q.in.project;
    const stored =
      (await lookup.byId(q.id, inProject)) ?? (q.in && (await lookup.findInRun(q.in.project, q.in.run, q.id)));
    if (!stored) {
      const hint = q.in
        ? `in ${q.in.project}/${q.in.run}`
        : "(unknown, expired, or not yet seen: add --project and --run to search its run)";
      return fail(STATUS_EXIT.notFound, `no artifact version ${q.id} ${hint}`, json);
    }
    const status = await artifactStatus(ledger, directory, stored);
    print(json ? status : artifactView(status), json);
    return exitOf([status]);
  }
  const items: ArtifactStatus[] = [];
  for (let after: string | undefined; ; ) {
    const page = await runArtifacts(lookup, ledger, directory, {
      project: q.project,
      run: q.run,
      limit: PAGE,
      ...(after ? { after } : {}),
    });
    items.push(...page.items);
    if (page.next === null) break;
    after = page.next;
  }
  if (items.length === 0) return fail(STATUS_EXIT.notFound, `no artifacts in ${q.project}/${q.run}`, json);
  const sets = await runSets(kv, q.project, q.run);
  const view = runView(q.project, q.run, items) + (sets.length ? `\n\n${setsView(sets)}` : "");
  // `sets` only for a run that has any: the answer stays the gateway's run listing otherwise.
  print(json ? { project: q.project, run: q.run, items, ...(sets.length ? { sets } : {}) } : view, json);
  return sets.some((s) => s.state === "failed") ? STATUS_EXIT.failed : exitOf(items);
}

function exitOf(items: ArtifactStatus[]): number {
  const counts = countStates(items);
  if (counts.dead > 0) return STATUS_EXIT.failed;
  return counts.pending > 0 ? STATUS_EXIT.pending : STATUS_EXIT.ok;
}

function print(value: unknown, json: boolean): void {
  console.log(json ? JSON.stringify(value) : value);
}

/** The message on stderr, and with --json `{"error"}` on stdout too, so a pipe into jq gets an answer. */
function fail(code: number, message: string, json: boolean): number {
  console.error(`artifact-bus status: ${message}`);
  if (json) console.log(JSON.stringify({ error: message, exitCode: code }));
  return code;
}

function explain(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/permission|authorization/i.test(message)) {
    return `${message} (status reads the events stream, its consumers, the ledger and the DLQ: use a NATS user that may, e.g. admin)`;
  }
  return message;
}
