/** How `artifact-bus status` shows an artifact, a run and the destinations to a person. */

import type { ArtifactStatus, DestinationStatus } from "../status/artifact-status.ts";
import type { DestinationHealth } from "../status/destination-health.ts";
import type { SetStatus } from "../status/set-status.ts";
import { formatBytes, formatTable, percent } from "./format.ts";

/** One version: what it is, then a row per destination. */
export function artifactView(a: ArtifactStatus): string {
  const head = [
    `${a.name}  (${a.project}/${a.run}, level ${a.level})`,
    `id       ${a.id}`,
    `size     ${formatBytes(a.size)}  sha256 ${a.sha256}`,
    `created  ${a.createdAt}`,
    "",
  ];
  const rows = Object.entries(a.destinations).map(([name, d]) => [
    name,
    d.state,
    String(d.attempts),
    progressOf(d, a.size),
    d.updatedAt,
    d.location ?? d.error ?? "",
  ]);
  return `${head.join("\n")}\n${formatTable(["DESTINATION", "STATE", "ATTEMPTS", "PROGRESS", "UPDATED", "DETAIL"], rows)}`;
}

/** A run: a row per name (its newest version), a column per destination, then the counts. */
export function runView(project: string, run: string, items: readonly ArtifactStatus[]): string {
  const destinations = [...new Set(items.flatMap((a) => Object.keys(a.destinations)))].sort();
  const rows = items.map((a) => [
    a.name,
    formatBytes(a.size),
    ...destinations.map((name) => {
      const d = a.destinations[name];
      if (!d) return "-";
      const p = progressOf(d, a.size);
      return p ? `${d.state} ${p}` : d.state;
    }),
    a.id,
  ]);
  const counts = countStates(items);
  const summary = `${project}/${run}: ${items.length} artifact(s); ${counts.done} done everywhere, ${counts.dead} dead somewhere, ${counts.pending} pending`;
  return `${formatTable(["NAME", "SIZE", ...destinations.map((d) => d.toUpperCase()), "ID"], rows)}\n\n${summary}`;
}

/**
 * The destinations: breaker, pause, live replicas, backlog, dead letters; then a line per
 * paused one saying who paused it, when and why.
 */
export function destinationsView(list: readonly DestinationHealth[]): string {
  const rows = list.map((d) => [
    d.name,
    d.breaker,
    d.paused ? "yes" : "no",
    `${d.replicas.alive}/${d.replicas.items.length}`,
    String(d.consumer.pending),
    String(d.consumer.ackPending),
    String(d.consumer.redelivered),
    String(d.deadLetters),
    d.filterSubject,
  ]);
  const header = [
    "DESTINATION",
    "BREAKER",
    "PAUSED",
    "ALIVE",
    "PENDING",
    "ACK PENDING",
    "REDELIVERED",
    "DEAD LETTERS",
    "FILTER",
  ];
  const pauses = list.flatMap(({ name, paused: p }) =>
    p
      ? [
          `${name} paused by ${p.by} at ${p.at}${p.reason ? `: ${p.reason}` : ""} (artifact-bus resume --destination ${name})`,
        ]
      : [],
  );
  const table = formatTable(header, rows);
  return pauses.length > 0 ? `${table}\n\n${pauses.join("\n")}` : table;
}

/** Artifacts final everywhere and none dead, dead somewhere, and the rest. */
export function countStates(items: readonly ArtifactStatus[]): { done: number; dead: number; pending: number } {
  let done = 0;
  let dead = 0;
  for (const a of items) {
    if (Object.values(a.destinations).some((d) => d.state === "dead")) dead++;
    else if (a.done) done++;
  }
  return { done, dead, pending: items.length - done - dead };
}

function progressOf(d: DestinationStatus, size: number): string {
  return d.bytesDone === undefined ? "" : `${formatBytes(d.bytesDone)} (${percent(d.bytesDone, size)}%)`;
}

/** A run's checkpoint sets: a row per set and destination, then a line per missing member saying why. */
export function setsView(sets: readonly SetStatus[]): string {
  const rows = sets.map((s) => [
    s.set,
    s.destination,
    s.removed ? `${s.state}, removed` : s.state,
    `${s.landed}/${s.expected ?? "?"}`,
    s.pointerMoved === undefined ? "-" : s.pointerMoved ? "names it" : "names a newer set",
  ]);
  const why = sets.flatMap((s) => [
    ...(s.conflict ? [`${s.set} at ${s.destination}: ${s.conflict}`] : []),
    ...s.missing.map((m) => `${s.set} at ${s.destination}: missing ${m.name} (${m.eventId}): ${m.reason}`),
  ]);
  const table = formatTable(["SET", "DESTINATION", "STATE", "MEMBERS", "POINTER"], rows);
  return why.length ? `${table}\n\n${why.join("\n")}` : table;
}
