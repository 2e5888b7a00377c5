/**
 * `artifact-bus ledger format`: which format the ledger is in, and which this release reads.
 * `artifact-bus ledger migrate`: the operator's step that brings the ledger to this release's
 * format (nats/ledger-format.ts). From format 1 nothing is rewritten: its records are read as
 * they are, and the migration numbers the ledger. A format this release does not read is refused.
 */
import { Kvm } from "@nats-io/kv";
import { loadConfig } from "../config/config.ts";
import { connectNats } from "../nats/connect.ts";
import {
  LEDGER_FORMAT,
  LEDGER_FORMATS_READ,
  LedgerFormatError,
  ledgerFormat,
  writeLedgerFormat,
} from "../nats/ledger-format.ts";
import { LEDGER_BUCKET } from "../nats/topology-names.ts";
import { UsageError } from "./args.ts";

export async function ledgerCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if ((sub !== "format" && sub !== "migrate") || rest.length > 0) {
    throw new UsageError("usage: artifact-bus ledger format | artifact-bus ledger migrate");
  }
  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: "artifact-bus-ledger" });
  try {
    const kv = await new Kvm(nc).open(LEDGER_BUCKET);
    const format = await ledgerFormat(kv);
    const reads = `this release reads formats ${LEDGER_FORMATS_READ.join(", ")} and writes ${LEDGER_FORMAT}`;
    if (sub === "format") {
      console.log(`ledger format ${format} (${reads})`);
      return LEDGER_FORMATS_READ.includes(format) ? 0 : 1;
    }
    if (!LEDGER_FORMATS_READ.includes(format)) {
      console.error(new LedgerFormatError(format, "the ledger").message);
      return 1;
    }
    if (format === LEDGER_FORMAT) {
      console.log(`ledger format ${format} already; nothing to migrate`);
      return 0;
    }
    // Every format this release reads but does not write is read as it is (format 1: the same
    // records without their number), so migrating numbers the ledger and rewrites no record.
    await writeLedgerFormat(kv);
    console.log(`ledger format ${format} -> ${LEDGER_FORMAT}: records kept as they are (${reads})`);
    return 0;
  } finally {
    await nc.drain();
  }
}
