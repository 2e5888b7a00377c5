/**
 * Sets of one file (a member named as its set, `members: 1`: how the Composer drop-in logs a
 * non-sharded checkpoint), end to end with real servers and uploader processes at every kind of
 * destination, with Composer's per-rank pointer: the pointer moves to the file once it landed,
 * holding the file's name; no manifest is written (at path destinations one under the file's name
 * could not exist beside it); with keepSets the older file is removed once the pointer moved past it.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DestinationConfig, LEDGER_BUCKET, runSets } from "@artifact-bus/shared";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Trainer } from "./harness/bus-stack.ts";
import {
  dirTarget,
  PROJECT,
  type SetTarget,
  s3Target,
  sftpTarget,
  type WandbTarget,
  wandbTarget,
} from "./harness/set-targets.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const COMPOSER: Partial<DestinationConfig> = { setPointer: "{dir}/latest-rank{rank}.pt.symlink", keepSets: 1 };

describe.each([
  ["s3", () => s3Target(COMPOSER)],
  ["dir", () => dirTarget(COMPOSER)],
  ["sftp", () => sftpTarget(COMPOSER)],
  ["wandb", () => wandbTarget({ setPointer: COMPOSER.setPointer })],
])("a set of one file at %s", (kind, start) => {
  let target: SetTarget;
  let trainer: Trainer;

  beforeAll(async () => {
    target = await start();
    trainer = await target.bus.trainer({ rank: 0 });
  });
  afterAll(async () => {
    await trainer?.close();
    await target?.dispose();
  });

  it("moves the pointer to the file once it landed, writes no manifest, and keepSets removes the older file", async () => {
    const uploader = await target.bus.startUploader();
    const run = `file-sets-${process.pid}`;
    const key = (name: string) => `${PROJECT}/${run}/${name}`;
    const log = async (name: string, data: Buffer) => {
      const path = join(target.bus.dir, name.replaceAll("/", "_"));
      writeFileSync(path, data);
      await trainer.publisher.logFile({ project: PROJECT, run, name, path, set: { name, members: 1 } });
      await trainer.publisher.flush({ timeoutMs: 60_000 });
    };
    const pointer = async () => (await target.read(key("checkpoints/latest-rank0.pt.symlink")))?.toString();

    const first = { name: "checkpoints/ep0-ba2-rank0.pt", data: Buffer.from("weights at batch 2") };
    await log(first.name, first.data);
    expect(await pointer()).toBe(first.name);
    expect(sha((await target.read(key(first.name))) ?? Buffer.alloc(0))).toBe(sha(first.data));
    expect(await target.read(key(`${first.name}/_set-manifest.json`))).toBeUndefined();

    const second = { name: "checkpoints/ep1-ba4-rank0.pt", data: Buffer.from("weights at batch 4, later") };
    await log(second.name, second.data);
    expect(await pointer()).toBe(second.name);
    expect(sha((await target.read(key(second.name))) ?? Buffer.alloc(0))).toBe(sha(second.data));
    // keepSets 1 (W&B keeps every version): the first file goes once the pointer moved past it.
    if (kind !== "wandb") expect(await target.read(key(first.name))).toBeUndefined();
    await uploader.kill("SIGTERM");
  });

  it("a file saved again under its name is a newer version of its set: it lands, and the pointer names it", async () => {
    // Composer with a fixed save_filename (or save_overwrite) saves the same name again.
    const uploader = await target.bus.startUploader();
    const run = `file-sets-again-${process.pid}`;
    const key = (name: string) => `${PROJECT}/${run}/${name}`;
    const log = async (name: string, data: Buffer) => {
      const path = join(target.bus.dir, `${run}-${sha(data).slice(0, 8)}`);
      writeFileSync(path, data);
      await trainer.publisher.logFile({ project: PROJECT, run, name, path, set: { name, members: 1 } });
      await trainer.publisher.flush({ timeoutMs: 60_000 }); // rejects if it ended dead
    };
    const symlink = "checkpoints/latest-rank0.pt.symlink";
    const pointer = async () => {
      if (!("wandb" in target)) return (await target.read(key(symlink)))?.toString();
      // W&B keeps one version per content: a pointer holding a name again is that version, given `latest` again.
      const { wandb } = target as WandbTarget;
      const latest = await wandb.version(PROJECT, symlink);
      return latest && (await wandb.bytesOf(latest)).toString();
    };
    const bytes = async (name: string) => sha((await target.read(key(name))) ?? Buffer.alloc(0));

    const fixed = "checkpoints/saved-rank0.pt";
    await log(fixed, Buffer.from("weights at batch 2"));
    const again = Buffer.from("weights at batch 4, same name");
    await log(fixed, again);
    expect(await pointer()).toBe(fixed);
    expect(await bytes(fixed)).toBe(sha(again));

    // Another file, then the first name once more: the newest save wins the pointer.
    await log("checkpoints/other-rank0.pt", Buffer.from("another file"));
    expect(await pointer()).toBe("checkpoints/other-rank0.pt");
    const third = Buffer.from("weights at batch 6, the first name again");
    await log(fixed, third);
    expect(await pointer()).toBe(fixed);
    expect(await bytes(fixed)).toBe(sha(third));
    // keepSets 1: the other file goes once the pointer moved past it; the saved-again one stays.
    if (kind !== "wandb") expect(await target.read(key("checkpoints/other-rank0.pt"))).toBeUndefined();
    const records = await runSets(await new Kvm(target.bus.nc).open(LEDGER_BUCKET), PROJECT, run);
    const saved = { state: "complete", landed: 1, missing: [], pointerMoved: true };
    expect(records.find((r) => r.set === fixed)).toMatchObject(saved);
    expect(records.find((r) => r.set === fixed)?.removed).toBeUndefined();
    await uploader.kill("SIGTERM");
  });
});
