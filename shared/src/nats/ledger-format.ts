/**
 * The ledger's format number. Replicas of two releases share one bucket during a rolling
 * upgrade: a release reads the formats in LEDGER_FORMATS_READ and writes LEDGER_FORMAT. The
 * bucket's format record (LEDGER_FORMAT_KEY) says which format its records are in, and the
 * records that carry the runtime's guarantees (entries, key leases) carry their own number too,
 * since the format record, like every ledger key, expires with the bucket's TTL. A service that
 * meets a format it cannot read refuses (LedgerFormatError) instead of misreading it.
 *
 * Formats: 1, records before they were numbered; 2, the same records, numbered, and read the
 * same way, so replicas of format 1 and 2 share a ledger as-is (docs/ledger-format.md).
 */
import type { KV } from "@nats-io/kv";
import { LEDGER_FORMAT_KEY } from "./topology-names.ts";

/** The format this release writes. */
export const LEDGER_FORMAT = 2;
/** The formats this release reads; a ledger or record in any other is refused. */
export const LEDGER_FORMATS_READ: readonly number[] = [1, 2];
/** The operator's step that brings a ledger to LEDGER_FORMAT (docs/ledger-format.md). */
export const LEDGER_MIGRATE_COMMAND = "artifact-bus ledger migrate";

/** A ledger, or one of its records, in a format this release does not read. */
export class LedgerFormatError extends Error {
  override name = "LedgerFormatError";
  readonly found: number;
  constructor(found: number, where: string) {
    const fix =
      found > LEDGER_FORMAT
        ? `a newer release wrote it: upgrade this service to a release that reads format ${found}`
        : `run \`${LEDGER_MIGRATE_COMMAND}\` with a release that reads format ${found}, then start this one`;
    super(
      `${where} is in ledger format ${found}; this release reads formats ${LEDGER_FORMATS_READ.join(", ")} and writes ${LEDGER_FORMAT}: ${fix}`,
    );
    this.found = found;
  }
}

/** The format a parsed record says it is in (1 when it says none), checked readable. */
export function checkRecordFormat(record: { format?: unknown }, where: string): void {
  const found = typeof record.format === "number" ? record.format : 1;
  if (!LEDGER_FORMATS_READ.includes(found)) throw new LedgerFormatError(found, where);
}

/** The bucket's format as its format record says (1 when there is none: a ledger made before numbers). */
export async function ledgerFormat(kv: KV): Promise<number> {
  const e = await kv.get(LEDGER_FORMAT_KEY);
  if (e?.operation !== "PUT") return 1;
  const format = e.json<{ format?: unknown }>().format;
  if (typeof format !== "number")
    throw new Error(`ledger format record ${LEDGER_FORMAT_KEY} is not {"format": <number>}`);
  return format;
}

/** Throws LedgerFormatError unless this release reads the bucket's format. A service's start check. */
export async function checkLedgerFormat(kv: KV): Promise<number> {
  const format = await ledgerFormat(kv);
  if (!LEDGER_FORMATS_READ.includes(format)) throw new LedgerFormatError(format, "the ledger");
  return format;
}

/** Records LEDGER_FORMAT as the bucket's format: for a ledger whose records this release reads as they are. */
export async function writeLedgerFormat(kv: KV): Promise<void> {
  await kv.put(LEDGER_FORMAT_KEY, JSON.stringify({ format: LEDGER_FORMAT }));
}
