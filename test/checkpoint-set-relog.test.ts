/**
 * A member of a checkpoint set logged again after the set completed (a trainer retrying a save),
 * with real servers (nats-server, the S3 server in its own process) and a real uploader process:
 * the complete set stays what its manifest says. The new version is refused at the destination,
 * naming the set; the object, the manifest and the pointer stay as they were, and the set stays
 * complete (it is not failed by the refusal).
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LEDGER_BUCKET, type LoggedArtifact, runSets, type SetManifest } from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Trainer } from "./harness/bus-stack.ts";
import { PROJECT, type SetTarget, s3Target } from "./harness/set-targets.ts";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const RUN = "relog";
let target: SetTarget;
let trainer: Trainer;

beforeAll(async () => {
  target = await s3Target();
  trainer = await target.bus.trainer();
  await target.bus.startUploader();
});
afterAll(async () => {
  await trainer?.close();
  await target?.dispose();
});

async function logMember(set: string, file: string, data: Buffer, members: number): Promise<LoggedArtifact> {
  const path = join(target.bus.dir, `${RUN}-${file}-${sha(data).slice(0, 8)}`);
  writeFileSync(path, data);
  const name = `${set}/${file}`;
  return (await trainer.publisher.logFile({ project: PROJECT, run: RUN, name, path, set: { name: set, members } }))
    .durable;
}

const read = (name: string) => target.read(`${PROJECT}/${RUN}/${name}`);

describe("a member of a complete set logged again", () => {
  it("is refused at the destination naming the set: the manifest still matches every member, the set stays complete", async () => {
    const set = "checkpoints/ep1";
    const first = Buffer.from("rank 0, first save");
    await logMember(set, "rank0.pt", first, 2);
    await logMember(set, "rank1.pt", Buffer.from("rank 1"), 2);
    await trainer.publisher.flush({ timeoutMs: 60_000 });
    expect((await read("checkpoints/latest"))?.toString()).toBe(set);

    // The trainer retries rank 0's save after the set completed, with other bytes.
    const again = await logMember(set, "rank0.pt", Buffer.from("rank 0, saved again"), 2);
    const final = await eventually(
      async () => {
        const e = await target.bus.ledger(again);
        return e?.state === "dead" || e?.state === "uploaded" ? e : undefined;
      },
      30_000,
      "the new version to end at the destination",
    );

    // A reader going pointer -> manifest -> members finds every member as the manifest says.
    const manifest = JSON.parse((await read(`${set}/_set-manifest.json`))!.toString()) as SetManifest;
    for (const m of manifest.members) expect(sha((await read(m.name))!), m.name).toBe(m.sha256);
    expect(await read(`${set}/rank0.pt`)).toEqual(first);
    expect((await read("checkpoints/latest"))?.toString()).toBe(set);
    expect(final?.state).toBe("dead");
    expect(final?.error).toContain(`set "${set}" is complete at ${target.bus.destination}`);
    const letter = (await target.bus.deadLetters()).find((l) => l.eventId === again.id);
    expect(letter?.errorClass).toBe("permanent");

    // The set is not failed by it: still complete, pointer naming it, nothing missing.
    const records = await runSets(await new Kvm(target.bus.nc).open(LEDGER_BUCKET), PROJECT, RUN);
    expect(records).toEqual([expect.objectContaining({ set, state: "complete", landed: 2, missing: [] })]);
  });

  it("is refused too when logged without its set (a plain file of a member's name): the set stays as it landed", async () => {
    const set = "checkpoints/ep2";
    const first = Buffer.from("rank 0 of ep2");
    const members = [await logMember(set, "rank0.pt", first, 2)];
    members.push(await logMember(set, "rank1.pt", Buffer.from("rank 1 of ep2"), 2));
    for (const m of members) await target.bus.ledgerReaches(m, "uploaded");
    await eventually(
      async () => (await read("checkpoints/latest"))?.toString() === set || undefined,
      30_000,
      "the pointer on the set",
    );
    expect((await read("checkpoints/latest"))?.toString()).toBe(set);

    const path = join(target.bus.dir, `${RUN}-plain-over-ep2`);
    writeFileSync(path, "a plain file under a member's name");
    const plain = await (await trainer.publisher.logFile({ project: PROJECT, run: RUN, name: `${set}/rank0.pt`, path }))
      .durable;
    const final = await eventually(
      async () => {
        const e = await target.bus.ledger(plain);
        return e?.state === "dead" || e?.state === "uploaded" ? e : undefined;
      },
      30_000,
      "the plain version to end at the destination",
    );
    expect(final?.state).toBe("dead");
    expect(final?.error).toContain(`is a member of checkpoint set "${set}" at ${target.bus.destination}`);
    expect(await read(`${set}/rank0.pt`)).toEqual(first);
    const manifest = JSON.parse((await read(`${set}/_set-manifest.json`))!.toString()) as SetManifest;
    for (const m of manifest.members) expect(sha((await read(m.name))!), m.name).toBe(m.sha256);

    // A second plain version is refused as well: the key remembers its set past the refusal.
    writeFileSync(path, "another plain file under a member's name");
    const again = await (await trainer.publisher.logFile({ project: PROJECT, run: RUN, name: `${set}/rank0.pt`, path }))
      .durable;
    const second = await eventually(
      async () => {
        const e = await target.bus.ledger(again);
        return e?.state === "dead" || e?.state === "uploaded" ? e : undefined;
      },
      30_000,
      "the second plain version to end at the destination",
    );
    expect(second?.state).toBe("dead");
    expect(await read(`${set}/rank0.pt`)).toEqual(first);

    // A plain file of a name no set holds still lands as before.
    const free = await (
      await trainer.publisher.logFile({ project: PROJECT, run: RUN, name: "checkpoints/notes.txt", path })
    ).durable;
    expect((await target.bus.ledgerReaches(free, "uploaded")).state).toBe("uploaded");
  });
});
