/**
 * The test of checkpoint sets under fire: 8 trainer processes (each its own NATS
 * connection, the public API) each log 4 shards of one set after another, rank 0 adds the
 * metadata and, after the barrier, closes the set; through two uploader replicas that are
 * SIGKILLed at random and restarted while the sets land. A reader polls the pointer the whole
 * time and checks that whatever it names is complete: its manifest there, and every member's
 * object matching the manifest's size and sha256. At the end the pointer names the last set.
 * At S3, SFTP and dir. Shards are small (tens of KiB): the scale is in processes, members and kills.
 */
import { createHash } from "node:crypto";
import type { SetManifest } from "@artifact-bus/shared";
import { eventually, type UploaderProcess } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dirTarget, PROJECT, type SetTarget, s3Target, sftpTarget } from "./harness/set-targets.ts";
import { SetTrainerProcess } from "./harness/set-trainer.ts";

const TRAINERS = 8;
const SHARDS = 4;
const SETS = 5;
const SHARD_BYTES = 32 * 1024;
const MEMBERS = TRAINERS * SHARDS + 1;
/** The members a set of this test has: every rank's shards and rank 0's metadata, sorted. */
const memberNames = (set: string) =>
  [
    ...Array.from({ length: TRAINERS }, (_, rank) =>
      Array.from({ length: SHARDS }, (_, shard) => `${set}/rank${rank}-shard${shard}.pt`),
    ).flat(),
    `${set}/metadata`,
  ].sort();
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

// Kills during uploads count as attempts: enough of them that a member never runs out.
const destination = { maxDeliver: 50 };

describe.each([
  ["s3", () => s3Target(destination)],
  ["sftp", () => sftpTarget(destination)],
  ["dir", () => dirTarget(destination)],
])("checkpoint sets at %s under random kills", (_kind, start) => {
  let stack: SetTarget;
  let trainers: SetTrainerProcess[];
  const run = `chaos-${process.pid}`;

  beforeAll(async () => {
    stack = await start();
    trainers = Array.from({ length: TRAINERS }, (_, rank) =>
      SetTrainerProcess.start(stack.bus, { project: PROJECT, run, rank }),
    );
  });
  afterAll(async () => {
    await Promise.all((trainers ?? []).map((t) => t.close()));
    await stack?.dispose();
  });

  it("with replicas killed at random, a reader of the pointer only ever sees complete sets, and the pointer ends on the last set", {
    timeout: 420_000,
  }, async () => {
    const key = (name: string) => `${PROJECT}/${run}/${name}`;
    const replicas: UploaderProcess[] = await Promise.all([stack.bus.startUploader(), stack.bus.startUploader()]);

    // The reader: every pointer it sees must name a set whose manifest and members are all there.
    const seen = new Set<string>();
    const violations: string[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const named = (await stack.read(key(stack.pointer)).catch(() => undefined))?.toString();
        if (named) {
          seen.add(named);
          const bytes = await stack.read(key(`${named}/_set-manifest.json`));
          if (!bytes) violations.push(`${named}: the pointer names it, its manifest is missing`);
          else {
            const m = JSON.parse(bytes.toString()) as SetManifest;
            const names = m.members.map((member) => member.name).sort();
            if (names.join() !== memberNames(named).join()) violations.push(`${named}: lists ${names.join()}`);
            for (const member of m.members) {
              const object = await stack.read(key(member.name));
              if (!object || object.length !== member.size || sha(object) !== member.sha256) {
                violations.push(`${named}: ${member.name} ${object ? "differs from the manifest" : "is missing"}`);
              }
            }
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // The killer: one replica at a time, SIGKILLed and replaced, at random moments.
    let killing = true;
    let kills = 0;
    const killer = (async () => {
      while (killing) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
        if (!killing) break;
        const i = Math.floor(Math.random() * replicas.length);
        await replicas[i]!.kill("SIGKILL");
        kills++;
        replicas[i] = await stack.bus.startUploader();
      }
    })();

    const sets: string[] = [];
    try {
      for (let s = 0; s < SETS; s++) {
        const set = `checkpoints/ep${s}-ba${(s + 1) * 100}`;
        sets.push(set);
        const killsBefore = kills;
        // Every rank logs its shards; once all are durable (the barrier), rank 0 closes the set.
        await Promise.all(trainers.map((t) => t.send({ set, shards: SHARDS, size: SHARD_BYTES })));
        await trainers[0]!.send({ close: set, members: MEMBERS });
        // Every set lives through at least one kill, wherever the random moment falls.
        await eventually(() => (kills > killsBefore ? true : undefined), 120_000, `a kill during ${set}`);
        await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000));
      }
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      killing = false;
      await killer;
    }
    await Promise.all(trainers.map((t) => t.send({ flush: 240_000 })));
    reading = false;
    await reader;
    console.info(
      `${_kind}: ${kills} kills over ${SETS} sets of ${MEMBERS} members; the reader saw ${[...seen].join(", ")}`,
    );

    expect(kills).toBeGreaterThanOrEqual(SETS);
    expect(violations).toEqual([]);
    expect((await stack.read(key(stack.pointer)))?.toString()).toBe(sets.at(-1));
    expect(seen.size).toBeGreaterThan(0);
    await Promise.all(replicas.map((r) => r.kill("SIGTERM")));
  });
});
