/**
 * Checkpoint sets, end to end with real servers (nats-server, the S3 server in its own process,
 * a dir destination, OpenSSH's sshd) and real uploader processes: a set becomes visible at a
 * destination (its manifest, then its pointer) only once every member landed there; a member that dies there
 * leaves the set failed and the pointer where it was; an older set replayed later never moves
 * the pointer back; an uploader killed between a member's upload and its settlement leaves the
 * completion to the redelivery; two sets completing at once on two replicas leave the pointer on
 * the newer.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  LEDGER_BUCKET,
  type LogFileHandle,
  type LoggedArtifact,
  parseDestinationName,
  type SetManifest,
  type SetStatus,
} from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaseKey } from "../shared/src/delivery/key-order.ts";
import type { Trainer } from "./harness/bus-stack.ts";
import {
  dirTarget,
  PROJECT,
  s3Target,
  sftpTarget,
  type SetTarget as Target,
  wandbTarget,
} from "./harness/set-targets.ts";

const CLI = resolve(import.meta.dirname, "../shared/src/cli/main.ts");

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

describe.each([
  ["s3", () => s3Target()],
  ["dir", () => dirTarget()],
  // This one says where the pointer goes (a destination's setPointer).
  ["sftp", () => sftpTarget({ setPointer: "pointers/{dir}/latest.txt" })],
  // Each member, the manifest and the pointer: a version of a W&B artifact of its own name.
  ["wandb", () => wandbTarget()],
])("checkpoint sets at %s", (_kind, start) => {
  let target: Target;
  let trainers: Trainer[];

  beforeAll(async () => {
    target = await start();
    trainers = await Promise.all([0, 1, 2].map((rank) => target.bus.trainer({ rank })));
  });
  afterAll(async () => {
    await Promise.all((trainers ?? []).map((t) => t.close()));
    await target?.dispose();
  });

  /** Logs one member of `set` from the trainer of `rank`. */
  async function logMember(
    run: string,
    set: string,
    file: string,
    data: Buffer,
    o: { rank?: number; members?: number } = {},
  ): Promise<LogFileHandle> {
    const path = join(target.bus.dir, `${run}-${file}`);
    writeFileSync(path, data);
    const t = trainers[o.rank ?? 0]!;
    const members = o.members === undefined ? {} : { members: o.members };
    return t.publisher.logFile({ project: PROJECT, run, name: `${set}/${file}`, path, set: { name: set, ...members } });
  }

  const flushAll = () => Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 60_000 })));
  const key = (run: string, name: string) => `${PROJECT}/${run}/${name}`;
  const pointer = async (run: string) => (await target.read(key(run, target.pointer)))?.toString();
  const manifest = async (run: string, set: string): Promise<SetManifest | undefined> => {
    const bytes = await target.read(key(run, `${set}/_set-manifest.json`));
    return bytes && JSON.parse(bytes.toString());
  };

  /** The manifest of `set` lists exactly `files` with their sizes and sha256, and each object at the destination matches. */
  async function expectComplete(run: string, set: string, files: Record<string, Buffer>): Promise<void> {
    const m = await manifest(run, set);
    expect(m).toMatchObject({ schema: 1, set, project: PROJECT, run });
    const expected = Object.entries(files)
      .map(([file, data]) => ({ name: `${set}/${file}`, size: data.length, sha256: sha(data) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(m?.members.map(({ name, size, sha256 }) => ({ name, size, sha256 }))).toEqual(expected);
    for (const member of m?.members ?? []) {
      const object = await target.read(key(run, member.name));
      expect(object && sha(object)).toBe(member.sha256);
      // Where it landed, as the destination's receipt says (at W&B: the artifact version holding it).
      expect(member.location).toEqual(expect.any(String));
      if (target.readLocation)
        expect(sha((await target.readLocation(member.location!)) ?? Buffer.alloc(0))).toBe(member.sha256);
    }
  }

  /** `artifact-bus status` of a run: its exit code and what it printed. */
  async function statusCli(run: string, json: boolean): Promise<{ code: number; stdout: string }> {
    const args = [CLI, "status", "--project", PROJECT, "--run", run, ...(json ? ["--json"] : [])];
    const env = { ...process.env, ARTIFACT_BUS_CONFIG: target.bus.configPath };
    return promisify(execFile)(process.execPath, args, { env }).then(
      (out) => ({ code: 0, stdout: out.stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
  }

  async function status(run: string): Promise<{ sets: SetStatus[] }> {
    return JSON.parse((await statusCli(run, true)).stdout);
  }

  /**
   * Holds the lease of `run`'s pointer as another holder would (renewed, so it never looks
   * expired) until `release`, which frees the key: writes of the pointer wait meanwhile.
   */
  async function holdPointer(run: string): Promise<{ release(): Promise<void> }> {
    const kv = await new Kvm(target.bus.nc).open(LEDGER_BUCKET);
    const token = parseDestinationName(target.bus.destination).token;
    const lease = leaseKey(token, target.orderKey(key(run, target.pointer)));
    const holder = { id: "test/holder", seq: 1, project: PROJECT, run, eventId: "test-holder-1" };
    const hold = () => kv.put(lease, JSON.stringify({ fenceSeq: 1, doneSeq: 0, holder }));
    await hold();
    const renewing = setInterval(() => void hold().catch(() => undefined), 500);
    return {
      release: async () => {
        clearInterval(renewing);
        await kv.delete(lease);
      },
    };
  }

  it("a set whose count is known up front completes: its manifest lists every member's sha256, then the pointer names it", async () => {
    const uploader = await target.bus.startUploader();
    const run = unique("upfront");
    const set = "checkpoints/ep1-ba100";
    const files = { "rank0.pt": Buffer.from("shard of rank 0"), "rank1.pt": Buffer.from("shard of rank 1, longer") };
    const metadata = Buffer.from("metadata of rank 0");
    // A file outside the set's name is refused before anything is staged, naming the rule.
    const outside = {
      project: PROJECT,
      run,
      name: "checkpoints/other.pt",
      path: import.meta.filename,
      set: { name: set },
    };
    await expect(trainers[0]!.publisher.logFile(outside)).rejects.toThrow(/must lie under its set's name/);
    await logMember(run, set, "rank0.pt", files["rank0.pt"], { rank: 0, members: 3 });
    await logMember(run, set, "rank1.pt", files["rank1.pt"], { rank: 1, members: 3 });
    await flushAll();
    // Two of three landed: no manifest, no pointer.
    expect(await manifest(run, set)).toBeUndefined();
    expect(await pointer(run)).toBeUndefined();
    await logMember(run, set, "metadata", metadata, { rank: 0, members: 3 });
    await flushAll();
    await expectComplete(run, set, { ...files, metadata });
    expect(await pointer(run)).toBe(set);
    const [s] = (await status(run)).sets;
    expect(s).toMatchObject({ set, state: "complete", landed: 3, expected: 3, pointerMoved: true, missing: [] });
    await uploader.kill("SIGTERM");
  });

  it("a set closed explicitly by rank 0 completes once the close names the count", async () => {
    const uploader = await target.bus.startUploader();
    const run = unique("close");
    const set = "checkpoints/ep2-ba200";
    const files = { "rank0.pt": Buffer.from("zero"), "rank1.pt": Buffer.from("one"), "rank2.pt": Buffer.from("two") };
    await Promise.all(Object.entries(files).map(([f, d], rank) => logMember(run, set, f, d, { rank })));
    await flushAll();
    expect(await pointer(run)).toBeUndefined();
    expect((await status(run)).sets[0]).toMatchObject({ set, state: "open", landed: 3 });
    await trainers[0]!.publisher.closeSet({ project: PROJECT, run, set, members: 3, step: 200 });
    await flushAll();
    await expectComplete(run, set, files);
    expect(await manifest(run, set)).toMatchObject({ step: 200 });
    expect(await pointer(run)).toBe(set);
    await uploader.kill("SIGTERM");
  });

  it("a member dead at the destination fails its set (pointer unmoved, status names it); replayed after a newer set completed, the set completes without moving the pointer back", async () => {
    const run = unique("failed");
    let uploader = await target.bus.startUploader();
    const previous = "checkpoints/ep1";
    await logMember(run, previous, "a.pt", Buffer.from("previous a"), { members: 1 });
    await flushAll();
    expect(await pointer(run)).toBe(previous);
    await uploader.kill("SIGTERM");

    // Logged while no uploader runs; one member's staged bytes are then corrupted: it dies at once.
    const older = "checkpoints/ep2";
    const good = await logMember(run, older, "a.pt", Buffer.from("ep2 a"), { members: 2 });
    const badData = Buffer.from("ep2 b, to be corrupted");
    const bad = await (await logMember(run, older, "b.pt", badData, { rank: 1, members: 2 })).durable;
    await good.durable;
    const blob = trainers[1]!.blobs.get("fs").localPath(bad.blob)!;
    chmodSync(blob, 0o644);
    writeFileSync(blob, Buffer.from("EP2 B, TO BE CORRUPTED")); // same size: the sha256 check finds it
    uploader = await target.bus.startUploader();
    await target.bus.ledgerReaches(bad, "dead", 30_000);
    await flushAll().catch(() => undefined); // the dead member is reported; that is the point
    expect(await pointer(run)).toBe(previous);
    expect(await manifest(run, older)).toBeUndefined();
    const failed = (await status(run)).sets.find((s) => s.set === older);
    expect(failed).toMatchObject({ state: "failed", landed: 1, expected: 2 });
    expect(failed?.missing).toEqual([
      { name: `${older}/b.pt`, eventId: bad.id, reason: expect.stringMatching(/sha256/) },
    ]);
    // As a person reads it: the set failed, and which member is missing and why; exit 1.
    const shown = await statusCli(run, false);
    expect(shown.code).toBe(1);
    expect(shown.stdout).toMatch(new RegExp(`${older}\\s+${target.bus.destination}\\s+failed\\s+1/2`));
    expect(shown.stdout).toContain(
      `${older} at ${target.bus.destination}: missing ${older}/b.pt (${bad.id}): PermanentError`,
    );

    const newer = "checkpoints/ep3";
    await logMember(run, newer, "a.pt", Buffer.from("ep3 a"), { members: 2 });
    await logMember(run, newer, "b.pt", Buffer.from("ep3 b"), { rank: 1, members: 2 });
    await flushAll();
    expect(await pointer(run)).toBe(newer);

    // The older set's member, repaired and replayed: the older set completes, the pointer stays.
    writeFileSync(blob, badData);
    const letter = (await target.bus.deadLetters()).find((l) => l.eventId === bad.id)!;
    await promisify(execFile)(
      process.execPath,
      [CLI, "dlq", "replay", "--destination", target.bus.destination, "--seq", String(letter.seq), "--wait", "30"],
      {
        env: { ...process.env, ARTIFACT_BUS_CONFIG: target.bus.configPath },
      },
    );
    await target.bus.ledgerReaches(bad, "uploaded", 30_000);
    await expectComplete(run, older, { "a.pt": Buffer.from("ep2 a"), "b.pt": badData });
    expect(await pointer(run)).toBe(newer);
    const healed = (await status(run)).sets.find((s) => s.set === older);
    expect(healed).toMatchObject({ state: "complete", pointerMoved: false, missing: [] });
    await uploader.kill("SIGTERM");
  });

  it("an uploader killed after the last member's upload, before its settlement: the redelivery completes the set and moves the pointer", async () => {
    const run = unique("killed");
    let uploader = await target.bus.startUploader();
    const set = "checkpoints/ep9";
    const a = Buffer.from("member a");
    const b = Buffer.from("member b, the last");
    await logMember(run, set, "a.pt", a, { members: 2 });
    await flushAll();

    // Someone else holds the pointer's key: the completing delivery waits there, its member
    // uploaded and its manifest out, unsettled.
    const held = await holdPointer(run);
    let last: LoggedArtifact;
    try {
      last = await (await logMember(run, set, "b.pt", b, { members: 2 })).durable;
      await eventually(async () => ((await manifest(run, set)) ? true : undefined), 30_000, "the manifest to land");
      expect(await target.read(key(run, `${set}/b.pt`))).toEqual(b);
      expect((await target.bus.ledger(last))?.state).not.toBe("uploaded");
      await uploader.kill("SIGKILL");
    } finally {
      await held.release();
    }
    expect(await pointer(run)).toBeUndefined();

    uploader = await target.bus.startUploader();
    await target.bus.ledgerReaches(last, "uploaded", 60_000);
    await expectComplete(run, set, { "a.pt": a, "b.pt": b });
    expect(await pointer(run)).toBe(set);
    await uploader.kill("SIGTERM");
  });

  it("two replicas completing two sets at once leave the pointer on the newer set, whichever writes first", async () => {
    const run = unique("race");
    const replicas = [await target.bus.startUploader(), await target.bus.startUploader()];
    const [older, newer] = ["checkpoints/ep1", "checkpoints/ep2"];
    for (const set of [older, newer]) await logMember(run, set, "a.pt", Buffer.from(`${set} a`), { members: 2 });
    await flushAll();
    // Both sets' last members land while the pointer is held: both wait to write it, then race.
    const held = await holdPointer(run);
    try {
      for (const set of [older, newer]) {
        await (await logMember(run, set, "b.pt", Buffer.from(`${set} b`), { rank: 1, members: 2 })).durable;
      }
      for (const set of [older, newer]) {
        await eventually(async () => ((await manifest(run, set)) ? true : undefined), 30_000, `${set}'s manifest`);
      }
      expect(await pointer(run)).toBeUndefined();
    } finally {
      await held.release();
    }
    await flushAll();
    expect(await pointer(run)).toBe(newer);
    const sets = (await status(run)).sets;
    expect(sets.map((s) => [s.set, s.state])).toEqual([
      [older, "complete"],
      [newer, "complete"],
    ]);
    expect(sets.find((s) => s.set === newer)?.pointerMoved).toBe(true);
    await Promise.all(replicas.map((r) => r.kill("SIGTERM")));
  });
});
