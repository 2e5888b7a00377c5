/**
 * A checkpoint set at W&B as a W&B user finds it (the set tests of every destination run at W&B
 * too, in checkpoint-sets.test.ts): each member, the manifest and the pointer are versions of W&B
 * artifacts of their own names; the pointer artifact's `latest` alias holds the set's name, and
 * the manifest names the artifact version holding each member.
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

describe("checkpoint sets at W&B, read as a W&B user", () => {
  it("the pointer artifact's latest names the set; its manifest lists each member's W&B artifact version", async () => {
    const { wandb } = target;
    const uploader = await wandb.bus.startUploader();
    const trainer = await wandb.bus.trainer();
    const run = `wandb-sets-${process.pid}`;
    const set = "checkpoints/ep4-ba400";
    const files = { "rank0.pt": Buffer.from("shard 0 at W&B"), "rank1.pt": Buffer.from("shard 1 at W&B!") };
    for (const [file, data] of Object.entries(files)) {
      const path = join(wandb.bus.dir, file);
      writeFileSync(path, data);
      await trainer.publisher.logFile({
        project: PROJECT,
        run,
        name: `${set}/${file}`,
        path,
        set: { name: set, members: 2 },
      });
    }
    await trainer.publisher.flush({ timeoutMs: 60_000 });

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
    await trainer.close();
    await uploader.kill("SIGTERM");
  });
});
