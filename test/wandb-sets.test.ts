/**
 * A checkpoint set at W&B as a W&B user finds it (the set tests of every destination run at W&B
 * too, in checkpoint-sets.test.ts): each member, the manifest and the pointer are versions of W&B
 * artifacts of their own names; the pointer artifact's `latest` alias holds the set's name, and
 * the manifest names the artifact version holding each member, also when two runs log sets of one
 * name into one W&B project (and so share its artifacts).
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SetManifest } from "@artifact-bus/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wandbArtifactName } from "../services/wandb-uploader/src/mod.ts";
import { PROJECT, type WandbTarget, wandbTarget } from "./harness/set-targets.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let target: WandbTarget;
beforeAll(async () => {
  target = await wandbTarget();
});
afterAll(async () => {
  await target?.dispose();
});

/** Logs `files` as the members of `set` in `run` and waits until they are done. */
async function logSet(run: string, set: string, files: Record<string, Buffer>): Promise<void> {
  const trainer = await target.wandb.bus.trainer();
  try {
    const members = Object.keys(files).length;
    for (const [file, data] of Object.entries(files)) {
      const path = join(target.wandb.bus.dir, `${run}-${file}`);
      writeFileSync(path, data);
      await trainer.publisher.logFile({
        project: PROJECT,
        run,
        name: `${set}/${file}`,
        path,
        set: { name: set, members },
      });
    }
    await trainer.publisher.flush({ timeoutMs: 60_000 });
  } finally {
    await trainer.close();
  }
}

describe("checkpoint sets at W&B, read as a W&B user", () => {
  it("the pointer artifact's latest names the set; its manifest lists each member's W&B artifact version", async () => {
    const { wandb } = target;
    const uploader = await wandb.bus.startUploader();
    const run = `wandb-sets-${process.pid}`;
    const set = "checkpoints/ep4-ba400";
    const files = { "rank0.pt": Buffer.from("shard 0 at W&B"), "rank1.pt": Buffer.from("shard 1 at W&B!") };
    await logSet(run, set, files);

    // What `wandb.Api().artifact("team/demo/<pointer artifact>:latest")` gives: the set's name.
    const pointer = await wandb.version(PROJECT, "checkpoints/latest");
    expect(pointer).toMatchObject({ runName: run, state: "COMMITTED", name: wandbArtifactName("checkpoints/latest") });
    expect((await wandb.bytesOf(pointer!)).toString()).toBe(set);

    const manifestVersion = await wandb.version(PROJECT, `${set}/_set-manifest.json`);
    expect(manifestVersion).toMatchObject({ runName: run, state: "COMMITTED" });
    const manifest = JSON.parse((await wandb.bytesOf(manifestVersion!)).toString()) as SetManifest;
    expect(manifest.members.map((m) => m.name)).toEqual(Object.keys(files).map((f) => `${set}/${f}`));
    for (const m of manifest.members) {
      const data = files[m.name.slice(set.length + 1) as keyof typeof files];
      // The member's version, named as W&B names it: entity/project/artifact:vN.
      expect(m.location).toBe(`wandb://team/${PROJECT}/${wandbArtifactName(m.name)}:v0`);
      const version = await wandb.double.artifact(`team/${PROJECT}/${wandbArtifactName(m.name)}:v0`);
      expect(version).toMatchObject({ runName: run, state: "COMMITTED" });
      expect(sha(await wandb.bytesOf(version!))).toBe(sha(data));
      expect(m.sha256).toBe(sha(data));
    }
    await uploader.kill("SIGTERM");
  });

  it("two runs logging one set name share its W&B artifacts: each run's manifest names its own members' versions", async () => {
    const { wandb } = target;
    const uploader = await wandb.bus.startUploader();
    const set = "shared/ep1";
    const runs = [`first-${process.pid}`, `second-${process.pid}`];
    for (const run of runs) await logSet(run, set, { "rank0.pt": Buffer.from(`${run}'s shard`) });
    const manifests = await wandb.versions(PROJECT, `${set}/_set-manifest.json`);
    expect(manifests.map((v) => v.runName)).toEqual(runs);
    for (const [i, run] of runs.entries()) {
      const manifest = JSON.parse((await wandb.bytesOf(manifests[i]!)).toString()) as SetManifest;
      expect(manifest.run).toBe(run);
      const [member] = manifest.members;
      const version = await wandb.double.artifact(member!.location!.replace("wandb://", ""));
      expect(version).toMatchObject({ runName: run, version: `v${i}` });
      expect((await wandb.bytesOf(version!)).toString()).toBe(`${run}'s shard`);
    }
    // The member's `latest` is the second run's: only the manifest's location names the first's.
    expect((await wandb.version(PROJECT, `${set}/rank0.pt`))?.runName).toBe(runs[1]);
    // Both pointers hold the same name: W&B keeps one version of that content, `latest` on it.
    const pointer = await wandb.version(PROJECT, "shared/latest");
    expect((await wandb.bytesOf(pointer!)).toString()).toBe(set);
    expect(await wandb.versions(PROJECT, "shared/latest")).toHaveLength(1);
    await uploader.kill("SIGTERM");
  });
});
