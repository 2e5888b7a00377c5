/**
 * What an Idempotency-Key stands for (IETF draft "The Idempotency-Key HTTP Header Field"): one
 * request, identified by its fingerprint. A retry with the same fingerprint gets the first
 * answer again; the key reused for a different request is refused with 422, so a client never
 * takes the first request's 202 for its own and loses its bytes.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { Problem } from "./problems.ts";

/** The parts of a request its fingerprint covers. The project and run are in the key's event id already. */
export interface FingerprintParts {
  method: string;
  name: string;
  level: string;
  /** The checkpoint set, if any; none leaves the fingerprint as it was before sets. */
  set?: { name: string; members?: number; step?: number };
  /** sha256 (hex) of the body: a PUT's bytes, a POST's JSON. */
  bodySha256: string;
}

/** The fingerprint kept with the answer under `idx.<id>`: sha256 over the parts, one per line. */
export function fingerprintOf(p: FingerprintParts): string {
  const set = p.set ? `\n${setLine(p.set)}` : "";
  return createHash("sha256").update(`v1\n${p.method}\n${p.name}\n${p.level}\n${p.bodySha256}${set}`).digest("hex");
}

/**
 * The fingerprint of what a request is known to be before its body is read, to tell a request
 * in flight (409, retry later) from another one under the same key (422).
 */
export function headOf(p: Omit<FingerprintParts, "bodySha256">): string {
  return `${p.method}\n${p.name}\n${p.level}${p.set ? `\n${setLine(p.set)}` : ""}`;
}

/** A set as one line, whatever order its fields came in. */
function setLine(s: NonNullable<FingerprintParts["set"]>): string {
  return JSON.stringify([s.name, s.members ?? null, s.step ?? null]);
}

/** sha256 (hex) of a stream read to its end, keeping none of it. */
export async function sha256OfStream(body: Readable | AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of body as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest("hex");
}

/** sha256 (hex) of a JSON value with its object keys sorted, so key order makes no other request. */
export function sha256OfJson(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return createHash("sha256")
    .update(JSON.stringify(canonical(value)))
    .digest("hex");
}

/** 422: the key was used for a different request; nothing of this one was published. */
export function keyReused(what: string): Problem {
  return new Problem(
    "idempotency-key-reused",
    `this Idempotency-Key was used for a different request (${what}); nothing was published: use a new key for a new request`,
    { field: "Idempotency-Key" },
  );
}
