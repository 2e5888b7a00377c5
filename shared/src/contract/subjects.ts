/**
 * Subject naming: events on `artifacts.v1.events.<project>.<run>.<level>.<key>`; DLQ replays,
 * which only operators may publish, on `artifacts.v1.replay.<destinationToken>.<project>.<run>.<level>.<key>`.
 */
import { hash } from "node:crypto";
import type { ArtifactEventV1, Level } from "./schema.ts";

export const EVENTS_PREFIX = "artifacts.v1.events";
export const DLQ_PREFIX = "artifacts.v1.dlq";
export const REPLAY_PREFIX = "artifacts.v1.replay";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/**
 * The subject-safe token for an artifact name: base32 of sha256(name), 26 characters (130 bits).
 * Names may hold dots, spaces and non-ASCII, none of which are safe as subject tokens.
 */
export function artifactKey(name: string): string {
  // One-shot: a Hash object per call cost the uploader more than the digest (three keys per upload).
  const digest = hash("sha256", name, "buffer");
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const byte of digest) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 26) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
    if (out.length === 26) break;
  }
  return out;
}

export function eventSubject(e: Pick<ArtifactEventV1, "project" | "run" | "level" | "name">): string {
  return `${EVENTS_PREFIX}.${e.project}.${e.run}.${e.level}.${artifactKey(e.name)}`;
}

/** The tokens of an artifact subject, which NATS permissions vouch for. */
export interface SubjectTokens {
  project: string;
  run: string;
  level: string;
  key: string;
}

/** Tokens of an events subject; undefined for any other subject. */
export function parseEventSubject(subject: string): SubjectTokens | undefined {
  const t = subject.split(".");
  if (t.length !== 7 || `${t[0]}.${t[1]}.${t[2]}` !== EVENTS_PREFIX) return undefined;
  return { project: t[3]!, run: t[4]!, level: t[5]!, key: t[6]! };
}

/** Subject of a DLQ replay of `e` for one destination. */
export function replaySubject(
  destinationToken: string,
  e: Pick<ArtifactEventV1, "project" | "run" | "level" | "name">,
): string {
  return `${REPLAY_PREFIX}.${destinationToken}.${e.project}.${e.run}.${e.level}.${artifactKey(e.name)}`;
}

/** Destination token and tokens of a replay subject; undefined for any other subject. */
export function parseReplaySubject(subject: string): (SubjectTokens & { destinationToken: string }) | undefined {
  const t = subject.split(".");
  if (t.length !== 8 || `${t[0]}.${t[1]}.${t[2]}` !== REPLAY_PREFIX) return undefined;
  return { destinationToken: t[3]!, project: t[4]!, run: t[5]!, level: t[6]!, key: t[7]! };
}

/** The events subject a replay subject stands for. */
export function eventsSubjectOf(tokens: SubjectTokens): string {
  return `${EVENTS_PREFIX}.${tokens.project}.${tokens.run}.${tokens.level}.${tokens.key}`;
}

/** Filter of the replays meant for one destination. */
export function replayFilter(destinationToken: string): string {
  return `${REPLAY_PREFIX}.${destinationToken}.>`;
}

/** Filter subject for a destination: which projects, runs and levels it takes (`*` for any). */
export function eventFilter(project = "*", run = "*", level: Level | "*" = "*"): string {
  return `${EVENTS_PREFIX}.${project}.${run}.${level}.*`;
}

export function dlqSubject(destinationToken: string): string {
  return `${DLQ_PREFIX}.${destinationToken}`;
}
