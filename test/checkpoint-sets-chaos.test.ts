/**
 * The test of checkpoint sets under fire, scaled to this machine: several trainers each
 * log shards of one set after another (rank 0 adds the metadata), through two uploader
 * replicas that are SIGKILLed at random and restarted while the sets land. A reader polls the
 * pointer the whole time and checks that whatever it names is complete: its manifest there, and
 * every member's object matching the manifest's size and sha256. At the end the pointer names
 * the last set. At S3, SFTP and dir.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LogFileHandle, SetManifest } from "@artifact-bus/shared";
import type { UploaderProcess } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Trainer } from "./harness/bus-stack.ts";
import { dirTarget, PROJECT, type SetTarget, s3Target, sftpTarget } from "./harness/set-targets.ts";

const TRAINERS = 4;
const SHARDS = 2;
const SETS = 4;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

// Kills during uploads count as attempts: enough of them that a member never runs out.
const destination = { maxDeliver: 50 };

describe.each([
  ["s3", () => s3Target(destination)],
  ["sftp", () => sftpTarget(destination)],
  ["dir", () => dirTarget(destination)],
])("checkpoint sets at %s under random kills", (_kind, start) => {
  let stack: SetTarget;
  let trainers: Trainer[];

  beforeAll(async () => {
    stack = await start();
    trainers = await Promise.all(Array.from({ length: TRAINERS }, (_, rank) => stack.bus.trainer({ rank })));
  });
  afterAll(async () => {
    await Promise.all((trainers ?? []).map((t) => t.close()));
    await stack?.dispose();
  });

  it("with replicas killed at random, a reader of the pointer only ever sees complete sets, and the pointer ends on the last set", {
    timeout: 240_000,
  }, async () => {
    const run = `chaos-${process.pid}`;
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
            if (m.members.length !== TRAINERS * SHARDS + 1) violations.push(`${named}: ${m.members.length} members`);
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
        const handles: LogFileHandle[] = [];
        for (const [rank, t] of trainers.entries()) {
          for (let shard = 0; shard < SHARDS; shard++) {
            const path = join(stack.bus.dir, `${run}-${s}-${rank}-${shard}`);
            writeFileSync(path, Buffer.from(`set ${s} rank ${rank} shard ${shard} `.repeat(200 + rank)));
            const name = `${set}/rank${rank}-shard${shard}.pt`;
            handles.push(await t.publisher.logFile({ project: PROJECT, run, name, path, set: { name: set } }));
          }
        }
        const meta = join(stack.bus.dir, `${run}-${s}-meta`);
        writeFileSync(meta, Buffer.from(JSON.stringify({ set, ranks: TRAINERS })));
        handles.push(
          await trainers[0]!.publisher.logFile({
            project: PROJECT,
            run,
            name: `${set}/metadata`,
            path: meta,
            set: { name: set },
          }),
        );
        // Rank 0 closes the set once every rank's members are durable (the barrier).
        await Promise.all(handles.map((h) => h.durable));
        await (await trainers[0]!.publisher.closeSet({ project: PROJECT, run, set, members: TRAINERS * SHARDS + 1 }))
          .durable;
        await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000));
      }
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      killing = false;
      await killer;
    }
    await Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 180_000 })));
    reading = false;
    await reader;

    expect(kills).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    expect((await stack.read(key(stack.pointer)))?.toString()).toBe(sets.at(-1));
    expect(seen.size).toBeGreaterThan(0);
    await Promise.all(replicas.map((r) => r.kill("SIGTERM")));
  });
});
