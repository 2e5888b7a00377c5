/**
 * The ledger's format number on real servers (nats-server, a dir uploader process, the CLI): a
 * ledger an older release left (format 1, no numbers) is read as it is and migrated by
 * `artifact-bus ledger migrate`; a ledger or a record in a format this release does not read is
 * refused with the format numbers and what to do, by the uploader's start, `topology`, the
 * migration and the ledger's reads, instead of being misread.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { LEDGER_BUCKET, LEDGER_FORMAT_KEY, LEDGER_FORMATS_READ, Ledger, type LedgerEntry } from "@artifact-bus/shared";
import { tempDirs } from "@artifact-bus/testkit";
import { type KV, Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyLeases } from "../shared/src/delivery/key-lease.ts";
import { BusStack } from "./harness/bus-stack.ts";
import { runCli } from "./harness/cli.ts";

const temp = tempDirs();
let stack: BusStack;
let kv: KV;
const cli = (args: string[]) => runCli(args, { ARTIFACT_BUS_CONFIG: stack.configPath });
const oldEntry = (eventId: string): Omit<LedgerEntry, "format"> => ({
  project: "vision",
  run: "old",
  eventId,
  state: "uploaded",
  destination: "dir:fmt",
  name: "old.bin",
  streamSeq: 1,
  attempts: 1,
  location: "/old.bin",
  updatedAt: new Date().toISOString(),
});

beforeAll(async () => {
  stack = await BusStack.start({
    destination: {
      name: "dir:fmt",
      filter: { project: "vision", run: "*", level: "*" },
      options: { root: temp.make("ledger-format-") },
    },
    main: resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts"),
  });
  kv = await new Kvm(stack.nc).open(LEDGER_BUCKET);
});
afterAll(async () => stack?.dispose());

describe("the ledger format", () => {
  it("reads a ledger an older release left as it is, and `ledger migrate` numbers it without rewriting its records", async () => {
    // As format 1 left it: no format record, entries without a number.
    await kv.delete(LEDGER_FORMAT_KEY);
    await kv.put("ev.dir_fmt.vision.old.e-old", JSON.stringify(oldEntry("e-old")));
    const before = await cli(["ledger", "format"]);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toContain("ledger format 1 (this release reads formats 1, 2 and writes 2)");

    const migrated = await cli(["ledger", "migrate"]);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain("ledger format 1 -> 2: records kept as they are");
    expect((await cli(["ledger", "format"])).stdout).toContain("ledger format 2");
    const again = await cli(["ledger", "migrate"]);
    expect(again.stdout).toContain("ledger format 2 already; nothing to migrate");

    const entry = await new Ledger(kv).get("dir_fmt", { project: "vision", run: "old", eventId: "e-old" });
    expect(entry).toMatchObject({ state: "uploaded", location: "/old.bin" });
    expect(entry?.format).toBeUndefined();

    // What this release writes is numbered, and an uploader of it uploads on a migrated ledger.
    const t = await stack.trainer();
    const path = join(stack.dir, "new.bin");
    writeFileSync(path, "new\n");
    await stack.startUploader();
    const logged = await (await t.publisher.logFile({ project: "vision", run: "new", name: "new.bin", path })).durable;
    await stack.ledgerReaches(logged, "uploaded", 20_000);
    expect((await stack.ledger(logged))?.format).toBe(2);
    await t.close();
  });

  it("refuses a ledger of a newer format: the uploader does not start, topology and migrate exit 1, naming the formats", async () => {
    await kv.put(LEDGER_FORMAT_KEY, JSON.stringify({ format: 3 }));
    try {
      const expected = /ledger format 3; this release reads formats 1, 2 and writes 2: a newer release wrote it/;
      await expect(stack.startUploader()).rejects.toThrow(expected);
      for (const args of [["topology"], ["ledger", "migrate"]]) {
        const r = await cli(args);
        expect(r.code, args.join(" ")).toBe(1);
        expect(r.stderr).toMatch(expected);
      }
    } finally {
      await kv.put(LEDGER_FORMAT_KEY, JSON.stringify({ format: 2 }));
    }
  });

  it("refuses a record of a newer format rather than misread it, even where the format record expired", async () => {
    await kv.put("ev.dir_fmt.vision.old.e-new", JSON.stringify({ ...oldEntry("e-new"), format: 3 }));
    await expect(new Ledger(kv).get("dir_fmt", { project: "vision", run: "old", eventId: "e-new" })).rejects.toThrow(
      /ledger entry ev.dir_fmt.vision.old.e-new is in ledger format 3/,
    );

    await kv.put("head.dir_fmt.k", JSON.stringify({ fenceSeq: 9, doneSeq: 0, format: 3 }));
    const leases = new KeyLeases(kv, 5_000, async () => undefined);
    await expect(
      leases.acquire("head.dir_fmt.k", { project: "vision", run: "old", eventId: "x", seq: 10, holder: "me" }),
    ).rejects.toThrow(/key lease head.dir_fmt.k is in ledger format 3/);
  });

  it("is read by the Python client in the same formats (its flush refuses an entry of another)", () => {
    const python = readFileSync(resolve(import.meta.dirname, "../clients/python/artifact_bus/_direct.py"), "utf8");
    expect(python).toContain(`LEDGER_FORMATS_READ = (${LEDGER_FORMATS_READ.join(", ")})`);
  });
});
