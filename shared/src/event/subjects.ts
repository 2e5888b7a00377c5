/** Subject naming: `artifacts.v1.events.<project>.<run>.<level>.<key>`. */
import { createHash } from "node:crypto";
import type { ArtifactEventV1, Level } from "./schema.ts";

export const EVENTS_PREFIX = "artifacts.v1.events";
export const DLQ_PREFIX = "artifacts.v1.dlq";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/**
 * The subject-safe token for an artifact name: base32 of sha256(name), 26 characters (130 bits).
 * Names may hold dots, spaces and non-ASCII, none of which are safe as subject tokens.
 */
export function artifactKey(name: string): string {
  const digest = createHash("sha256").update(name, "utf8").digest();
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

/** Filter subject for a destination: which projects, runs and levels it takes (`*` for any). */
export function eventFilter(project = "*", run = "*", level: Level | "*" = "*"): string {
  return `${EVENTS_PREFIX}.${project}.${run}.${level}.*`;
}

export function dlqSubject(destinationToken: string): string {
  return `${DLQ_PREFIX}.${destinationToken}`;
}
