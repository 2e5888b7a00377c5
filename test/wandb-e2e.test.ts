/**
 * The W&B destination end to end: trainer -> NATS -> wandb-uploader process(es) -> the strict W&B
 * API double in its own process. What a Composer user would look for in their W&B project.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LedgerEntry, LogFileHandle } from "@artifact-bus/shared";
import { sha256, writeRandomFile } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manifestDigest, md5Base64, wandbArtifactName } from "../services/wandb-uploader/src/mod.ts";
import { WandbStack } from "./harness/wandb-stack.ts";

let stack: WandbStack;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  // Two destinations on one double: W&B's default (every event a version) and one that coalesces.
  stack = await WandbStack.start({
    moreDestinations: [{ name: "wandb:coalesced", coalesce: true, options: { project: "{project}-coalesced" } }],
  });
});
afterAll(async () => {
  await stack?.dispose();
});

describe("wandb end to end", () => {
  it("a logged .pt becomes v0 of type model, aliased latest and ep1-ba100, with its digest and metadata, on its run", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const run = unique("run");
    const name = `checkpoints/${unique("ep1-ba100-rank0")}.pt`;
    const path = join(stack.bus.dir, "ckpt.pt");
    const data = writeRandomFile(path, 3 * 1024 * 1024 + 5);
    const metadata = { epoch: "1", batch: "100" };
    const logged = await t.publisher.logFile({ project: "vision", run, name, path, metadata });
    await t.publisher.flush({ timeoutMs: 30_000 });

    const v0 = await stack.version("vision", name);
    expect(v0).toMatchObject({ version: "v0", versionIndex: 0, type: "model", state: "COMMITTED", runName: run });
    expect(v0!.name).toBe(wandbArtifactName(name));
    expect(v0!.aliases.sort()).toEqual(["ep1-ba100", "latest"]);
    expect(v0!.metadata).toEqual({ ...metadata, createdAt: expect.any(String) });
    expect(v0!.digest).toBe(manifestDigest({ [name]: md5Base64(data) }));
    expect(sha256(await stack.bytesOf(v0!))).toBe(sha256(data));
    expect(await stack.double.run("team", "vision", run)).toBeDefined();
    expect(await stack.bus.ledger(logged)).toMatchObject({
      state: "uploaded",
      location: `wandb://team/vision/${wandbArtifactName(name)}:v0`,
      details: { version: "v0", artifactId: v0!.id },
    });
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("new bytes under the same name become v1 and latest moves; the same bytes again make no version", async () => {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const run = unique("run");
    const name = `${unique("model")}.safetensors`;
    const path = join(stack.bus.dir, "model.st");
    const log = async (bytes: Buffer) => {
      writeFileSync(path, bytes);
      const l = await t.publisher.logFile({ project: "nlp", run, name, path });
      await t.publisher.flush({ timeoutMs: 30_000 });
      return l;
    };
    const [a, b] = [Buffer.from("weights A"), Buffer.from("weights B")];
    await log(a);
    await log(b);
    const again = await log(b);
    const versions = await stack.versions("nlp", name);
    expect(versions.map((v) => v.version)).toEqual(["v0", "v1"]);
    expect(await Promise.all(versions.map((v) => stack.bytesOf(v)))).toEqual([a, b]);
    expect((await stack.version("nlp", name))?.version).toBe("v1");
    expect(versions[0]!.aliases).not.toContain("latest");
    // Identical content: W&B answers COMMITTED on create, and the event is done without an upload.
    expect(await stack.bus.ledger(again)).toMatchObject({ state: "uploaded", details: { deduplicated: "true" } });
    await t.close();
    await uploader.kill("SIGTERM");
  });

  it("ten versions logged quickly, two replicas: every one a version, v0..v9 in logging order; coalescing on, in order with the skipped ones superseded", async () => {
    const replicas = await Promise.all([stack.bus.startUploader(), stack.bus.startUploader()]);
    const t = await stack.bus.trainer();
    const run = unique("run");
    const name = `${unique("latest")}.pt`;
    const path = join(stack.bus.dir, "latest.pt");
    const logged: (LogFileHandle & { data: Buffer })[] = [];
    for (let i = 0; i < 10; i++) {
      const data = Buffer.from(`version ${i} of ${name}`);
      writeFileSync(path, data);
      logged.push({ ...(await t.publisher.logFile({ project: "order", run, name, path })), data });
    }
    await t.publisher.flush({ timeoutMs: 60_000 });
    const every = await stack.versions("order", name);
    expect(every.map((v) => v.version)).toEqual(logged.map((_, i) => `v${i}`));
    expect(await Promise.all(every.map((v) => stack.bytesOf(v)))).toEqual(logged.map((l) => l.data));

    const coalesced = await stack.versions("order-coalesced", name);
    const indexes = await Promise.all(
      coalesced.map(async (v) => {
        const bytes = await stack.bytesOf(v);
        return logged.findIndex((l) => l.data.equals(bytes));
      }),
    );
    expect(indexes).toEqual([...indexes].sort((x, y) => x - y));
    expect(indexes.at(-1)).toBe(9);
    const entries = (await Promise.all(logged.map((l) => stack.bus.ledger(l, "wandb:coalesced")))) as LedgerEntry[];
    for (const [i, e] of entries.entries()) {
      expect(e.state, `version ${i}`).toBe(indexes.includes(i) ? "uploaded" : "superseded");
    }
    await t.close();
    await Promise.all(replicas.map((r) => r.kill("SIGTERM")));
  });
});
