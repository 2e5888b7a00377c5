/**
 * Retention of old checkpoint sets (`destinations[].keepSets`), end to end with real servers
 * (nats-server, the S3 server in its own process, a dir destination) and real uploader processes:
 * with keepSets 2, four sets completing in turn leave only the last two sets' members and
 * manifests at the destination, the pointer on the last, and an older set that never completed
 * untouched; without it, every set stays. A
 * destination that cannot remove (W&B) refuses the option at start, naming the field.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LEDGER_BUCKET, parseConfig, runSets, startUploaderService } from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wandbDestinationFactory } from "../services/wandb-uploader/src/wandb-factory.ts";
import type { Trainer } from "./harness/bus-stack.ts";
import { dirTarget, PROJECT, s3Target, sftpTarget, type SetTarget as Target } from "./harness/set-targets.ts";

const SETS = ["checkpoints/ep1", "checkpoints/ep2", "checkpoints/ep3", "checkpoints/ep4"];
const FILES = ["rank0.pt", "rank1.pt"];

describe.each([
  ["s3, keepSets 2", () => s3Target({ keepSets: 2 }), 2],
  ["dir, keepSets 2", () => dirTarget({ keepSets: 2 }), 2],
  ["sftp, keepSets 2", () => sftpTarget({ keepSets: 2 }), 2],
  ["dir, no keepSets", () => dirTarget(), undefined],
])("checkpoint set retention at %s", (_kind, start, keep) => {
  let target: Target;
  let trainer: Trainer;
  const run = `retain-${process.pid}`;

  beforeAll(async () => {
    target = await start();
    trainer = await target.bus.trainer({ rank: 0 });
  });
  afterAll(async () => {
    await trainer?.close();
    await target?.dispose();
  });

  const key = (name: string) => `${PROJECT}/${run}/${name}`;
  const present = async (name: string) => (await target.read(key(name))) !== undefined;
  async function logMember(set: string, file: string): Promise<void> {
    const path = join(target.bus.dir, `${run}-${set.replaceAll("/", "-")}-${file}`);
    writeFileSync(path, `${set} ${file}\n`);
    const name = `${set}/${file}`;
    await trainer.publisher.logFile({ project: PROJECT, run, name, path, set: { name: set, members: FILES.length } });
  }
  /** Which of `set`'s files (members and manifest) are at the destination. */
  const filesOf = async (set: string) => {
    const names = [...FILES.map((f) => `${set}/${f}`), `${set}/_set-manifest.json`];
    const here = await Promise.all(names.map(present));
    return names.filter((_, i) => here[i]);
  };

  it("keeps the newest sets the option says, never the one the pointer names", async () => {
    const uploader = await target.bus.startUploader();
    // An older set that never completes (one member of two): never removed.
    const open = "checkpoints/ep0";
    await logMember(open, FILES[0]!);
    for (const set of SETS) {
      for (const file of FILES) await logMember(set, file);
      await trainer.publisher.flush({ timeoutMs: 60_000 });
      // Complete in order: the next set is logged once the pointer names this one.
      await eventually(
        async () => ((await target.read(key(target.pointer)))?.toString() === set ? true : undefined),
        30_000,
        `the pointer to name ${set}`,
      );
    }
    const kept = keep === undefined ? SETS : SETS.slice(-keep);
    const gone = SETS.filter((s) => !kept.includes(s));
    await eventually(
      async () => {
        for (const set of gone) if ((await filesOf(set)).length > 0) return undefined;
        return true;
      },
      30_000,
      `${gone.join(", ")} to be removed`,
    );
    for (const set of kept) expect(await filesOf(set)).toHaveLength(FILES.length + 1);
    for (const set of gone) expect(await filesOf(set)).toEqual([]);
    expect((await target.read(key(target.pointer)))?.toString()).toBe(SETS.at(-1));
    expect(await present(`${open}/${FILES[0]}`)).toBe(true);
    // Status says which sets retention removed.
    const kv = await new Kvm(target.bus.nc).open(LEDGER_BUCKET);
    const sets = await runSets(kv, PROJECT, run);
    expect(sets.filter((s) => s.removed).map((s) => s.set)).toEqual(gone);
    expect(sets.find((s) => s.set === open)).toMatchObject({ state: "open", landed: 1 });
    await uploader.kill("SIGTERM");
  }, 120_000);
});

describe("keepSets at start", () => {
  const destination = { name: "wandb:main", filter: { project: PROJECT }, options: { entity: "e", project: "p" } };

  it("must be a positive count", () => {
    expect(() => parseConfig({ destinations: [{ ...destination, keepSets: 0 }] })).toThrow(
      /config field destinations\.0\.keepSets/,
    );
  });

  it("is refused for a destination that cannot remove what it uploaded (W&B), naming the field", async () => {
    const config = parseConfig({ destinations: [{ ...destination, keepSets: 2 }] });
    const env = process.env.WANDB_API_KEY;
    process.env.WANDB_API_KEY = "test-key-never-sent";
    try {
      await expect(startUploaderService(wandbDestinationFactory, { config })).rejects.toThrow(
        /config field destinations\.0\.keepSets: wandb:main cannot remove/,
      );
    } finally {
      if (env === undefined) delete process.env.WANDB_API_KEY;
      else process.env.WANDB_API_KEY = env;
    }
  });
});
