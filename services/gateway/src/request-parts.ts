/**
 * Parts of an artifact request that come in headers or the query: Content-Digest (RFC 9530),
 * Idempotency-Key, metadata, the checkpoint set. Each bad part is a problem naming it, and so is
 * a part given both ways.
 */
import { createHmac, randomUUID } from "node:crypto";
import {
  MAX_METADATA_ENTRIES,
  MAX_METADATA_KEY_CHARS,
  MAX_METADATA_VALUE_CHARS,
  type SetRef,
} from "@artifact-bus/shared";
import { Problem } from "./problems.ts";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/**
 * The sha256 (hex) a `Content-Digest` header names, or undefined without the header. Other
 * algorithms beside sha-256 are ignored, but a header with none the gateway checks (an empty one
 * too) is refused: a client that sent a digest expects it checked, and must not believe it was.
 * A malformed sha-256 member is refused. Sent twice, the last sha-256 member counts, as in any
 * Structured Fields dictionary (RFC 8941 3.2, which RFC 9530 builds on).
 */
export function sha256FromContentDigest(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  let sha256: string | undefined;
  for (const member of header.split(",")) {
    const m = /^\s*([a-z0-9-]+)\s*=\s*(.*?)\s*$/i.exec(member);
    if (m?.[1]?.toLowerCase() !== "sha-256") continue;
    const value = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(m[2] ?? "")?.[1];
    const bytes = value === undefined ? undefined : Buffer.from(value, "base64");
    if (bytes?.length !== 32) {
      throw new Problem("invalid-request", "Content-Digest sha-256 must be :<base64 of 32 bytes>:", {
        field: "Content-Digest",
      });
    }
    sha256 = bytes.toString("hex");
  }
  if (sha256 !== undefined) return sha256;
  throw new Problem(
    "invalid-request",
    "Content-Digest names no algorithm the gateway checks: send sha-256=:<base64>: (other members may come beside it)",
    { field: "Content-Digest" },
  );
}

/**
 * The event id of a request: derived from (project, run, Idempotency-Key) when a key is given, so
 * a retry publishes the same event (Nats-Msg-Id); random otherwise. The derivation is an HMAC
 * keyed by the calling token's sha256, which the gateway holds and no other tenant knows: nobody
 * else can compute the id and publish under it first (NATS dedupes ids across the whole stream),
 * and two tokens' keys never meet. A retry must therefore come with the same token. `ik-` and 32
 * base32 characters (160 bits) fit the event id pattern.
 */
export function eventIdFor(
  project: string,
  run: string,
  idempotencyKey: string | undefined,
  tokenSha256: string,
): string {
  if (idempotencyKey === undefined) return randomUUID();
  if (!/^[\x20-\x7e]{1,128}$/.test(idempotencyKey)) {
    throw new Problem("invalid-request", "Idempotency-Key must be 1 to 128 printable ASCII characters", {
      field: "Idempotency-Key",
    });
  }
  const digest = createHmac("sha256", Buffer.from(tokenSha256, "hex"))
    .update(`${project}\n${run}\n${idempotencyKey}`)
    .digest();
  let bits = 0;
  let acc = 0;
  let out = "ik-";
  for (const byte of digest.subarray(0, 20)) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A header's value read as UTF-8. Node hands header bytes over as Latin-1, one char per byte, so
 * UTF-8 sent as is would otherwise be stored as mojibake; bytes that are no UTF-8 are refused
 * rather than stored as replacement chars.
 */
export function utf8Header(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined;
  try {
    return UTF8.decode(Buffer.from(value, "latin1"));
  } catch {
    throw new Problem("invalid-artifact", `${field} is not UTF-8`, { field });
  }
}

/**
 * A part a PUT may give as a query parameter or as a header (the level, the metadata): the one
 * given. Both given is refused, naming both places, rather than one silently winning (even
 * with equal values: a client sending both has two sources of it and may not know which holds).
 */
export function queryOrHeader(
  query: { name: string; value: string | undefined },
  header: { name: string; value: string | undefined },
): { value: string; from: string } | undefined {
  if (query.value !== undefined && header.value !== undefined) {
    throw new Problem(
      "invalid-request",
      `${query.name} is given twice, as query parameter ${query.name} and as header ${header.name}: send one`,
      { field: query.name },
    );
  }
  if (query.value !== undefined) return { value: query.value, from: query.name };
  if (header.value !== undefined) return { value: header.value, from: header.name };
  return undefined;
}

/** Metadata from the `Artifact-Metadata` header or the `metadata` query parameter: a JSON object of strings. */
export function parseMetadata(text: string | undefined, field: string): Record<string, string> {
  if (text === undefined || text === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Problem("invalid-artifact", `${field} is not JSON`, { field });
  }
  return checkMetadata(value, field);
}

/** Checks metadata against the event schema's bounds, naming the entry at fault. */
export function checkMetadata(value: unknown, field: string): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Problem("invalid-artifact", `${field} must be a JSON object of strings`, { field });
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_METADATA_ENTRIES) {
    throw new Problem("invalid-artifact", `${field} has ${entries.length} entries; at most ${MAX_METADATA_ENTRIES}`, {
      field,
    });
  }
  for (const [k, v] of entries) {
    if (
      typeof v !== "string" ||
      k.length < 1 ||
      k.length > MAX_METADATA_KEY_CHARS ||
      v.length > MAX_METADATA_VALUE_CHARS
    ) {
      throw new Problem(
        "invalid-artifact",
        `${field}.${k}: keys are 1 to ${MAX_METADATA_KEY_CHARS} characters, values strings of at most ${MAX_METADATA_VALUE_CHARS}`,
        { field: `${field}.${k}` },
      );
    }
  }
  return value as Record<string, string>;
}

/** The SetRef a PUT's query names, if any; a count or step without a set is refused. */
export function setOfQuery(q: { set?: string; setMembers?: number; setStep?: number }): { set?: SetRef } {
  if (q.set === undefined) {
    if (q.setMembers !== undefined || q.setStep !== undefined) {
      throw new Problem("invalid-request", "setMembers and setStep need set (the set's name)", { field: "set" });
    }
    return {};
  }
  return {
    set: {
      name: q.set,
      ...(q.setMembers === undefined ? {} : { members: q.setMembers }),
      ...(q.setStep === undefined ? {} : { step: q.setStep }),
    },
  };
}
