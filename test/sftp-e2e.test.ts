/**
 * End to end and faults on real servers: trainer -> NATS JetStream -> sftp-uploader process(es)
 * -> OpenSSH sshd. Remote bytes are checked around the uploader (server disk or `sftp` CLI).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LedgerEntry } from "@artifact-bus/shared";
import {
  eventually,
  fingerprintOf,
  generateKey,
  sha256,
  type UploaderProcess,
  writeLargeFile,
  writeRandomFile,
} from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SftpStack } from "./harness/sftp-stack.ts";

let stack: SftpStack;
/** A second destination on the same sshd whose pinned fingerprint belongs to another key. */
let wrongKey: SftpStack;
let wrongPin: string;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  stack = await SftpStack.start({ destination: { concurrency: 8 }, sftpOptions: { maxChannels: 8 } });
  wrongPin = fingerprintOf(await generateKey(join(stack.bus.dir, "other_host_key")));
  wrongKey = await SftpStack.start({
    name: "sftp:wrongkey",
    sshd: stack.sshd,
    sftpOptions: { hostKeyFingerprint: wrongPin },
  });
});
afterAll(async () => {
  await wrongKey?.dispose();
  await stack?.dispose();
});

/** Runs `fn` with `count` fresh uploader replicas of `on`, stopped afterwards even when `fn` fails. */
async function withUploaders<T>(on: SftpStack, count: number, fn: (u: UploaderProcess[]) => Promise<T>): Promise<T> {
  const uploaders = await Promise.all(Array.from({ length: count }, () => on.bus.startUploader()));
  try {
    return await fn(uploaders);
  } finally {
    await Promise.all(uploaders.map((u) => u.kill("SIGTERM")));
  }
}

describe("sftp end to end", () => {
  it("a logged file arrives byte-identical, read back by the sftp CLI; the ledger has the sftp:// location", async () => {
    await withUploaders(stack, 1, async () => {
      const t = await stack.bus.trainer();
      const path = join(stack.bus.dir, "ckpt.pt");
      const data = writeRandomFile(path, 3 * 1024 * 1024 + 17);
      const run = unique("run");
      const logged = await t.publisher.logFile({ project: "vision", run, name: "checkpoints/ep1.pt", path });
      unlinkSync(path); // the trainer may delete its file once logFile returns
      await t.publisher.flush({ timeoutMs: 30_000 });

      const rel = `vision/${run}/checkpoints/ep1.pt`;
      const [got] = await stack.readViaSftpCli([rel]);
      expect(got && sha256(got)).toBe(sha256(data));
      expect(await stack.bus.ledger(logged)).toMatchObject({ state: "uploaded", location: stack.location(rel) });
      expect(stack.listFiles(`vision/${run}`)).toEqual([rel]); // no temp file left beside it
      await t.close();
    });
  });

  it("100 artifacts through concurrent sftp sessions, reused, all arrive intact", async () => {
    await withUploaders(stack, 1, async ([uploader]) => {
      const run = unique("many");
      const loginsBefore = stack.sshd.acceptedLogins;
      const trainers = await Promise.all([0, 1, 2, 3].map(() => stack.bus.trainer()));
      const expected = new Map<string, string>();
      const ids = new Set<string>();
      await Promise.all(
        trainers.map(async (t, rank) => {
          for (let i = 0; i < 25; i++) {
            const name = `rank${rank}/step-${i}.bin`;
            const path = join(stack.bus.dir, `${run}-${rank}-${i}`);
            expected.set(`many/${run}/${name}`, sha256(writeRandomFile(path, 20_000 + i)));
            ids.add((await t.publisher.logFile({ project: "many", run, name, path, mode: "move" })).id);
          }
        }),
      );
      await Promise.all(trainers.map((t) => t.publisher.flush({ timeoutMs: 60_000 })));
      // Sessions are reused: at most one login per channel (maxChannels, 8) served all 100 uploads
      // (the default transport, OpenSSH, runs one ssh per session; counted before the CLI reads).
      const logins = stack.sshd.acceptedLogins - loginsBefore;
      expect(logins).toBeGreaterThanOrEqual(1);
      expect(logins).toBeLessThanOrEqual(8);
      // Uploads overlapped: replay the uploader's log to find the most in flight at once.
      let inFlight = 0;
      let most = 0;
      for (const l of uploader!.lines) {
        if (!ids.has(String(l.eventId))) continue;
        if (l.msg === "upload started") most = Math.max(most, ++inFlight);
        else if (l.msg === "uploaded") inFlight--;
      }
      expect(most).toBeGreaterThan(1);

      const rels = [...expected.keys()];
      expect(stack.listFiles(`many/${run}`)).toEqual([...rels].sort());
      const got = await stack.readViaSftpCli(rels);
      expect(got.map((b) => b && sha256(b))).toEqual([...expected.values()]);
      const states = await Promise.all(
        [...ids].map(async (id) => (await stack.bus.ledger({ id, project: "many", run }))?.state),
      );
      expect(new Set(states)).toEqual(new Set(["uploaded"]));
      await Promise.all(trainers.map((t) => t.close()));
    });
  });

  it("sshd killed mid 256 MiB upload and restarted: completes, never a partial file under the final name", async () => {
    const size = 256 * 1024 * 1024;
    await withUploaders(stack, 1, async ([uploader]) => {
      const t = await stack.bus.trainer();
      const run = unique("crash");
      const path = join(stack.bus.dir, `${run}.pt`);
      const hash = await writeLargeFile(path, size);
      const rel = `crash/${run}/ckpt/big.pt`;
      const dir = stack.path(`crash/${run}/ckpt`);
      const final = stack.path(rel);
      // Watch the final name on the server's disk throughout: only the complete file may appear.
      let outage = false;
      let seenPartial = false;
      let seenDuringOutage = false;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const there = statSync(final, { throwIfNoEntry: false });
          if (there && there.size !== size) seenPartial = true;
          if (there && outage) seenDuringOutage = true;
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      try {
        const { id } = await t.publisher.logFile({ project: "crash", run, name: "ckpt/big.pt", path, mode: "move" });
        const temps = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".partial")) : []);
        await eventually(
          async () => temps().find((f) => statSync(join(dir, f)).size >= 16 * 1024 * 1024),
          30_000,
          "16 MiB in the temp file",
        );
        outage = true;
        await stack.sshd.kill();
        // The interrupted attempt and a retry against the dead server both failed as transient.
        await uploader!.waitForLog(
          (l) => l.msg === "upload failed: retrying" && l.eventId === id && Number(l.attempt) >= 2,
          30_000,
        );
        expect(existsSync(final)).toBe(false);
        expect(temps()).toHaveLength(1); // the killed attempt's leftover, under a temp name only
        outage = false;
        await stack.sshd.restart();

        await t.publisher.flush({ timeoutMs: 90_000 });
        const entry = await stack.bus.ledger({ id, project: "crash", run });
        expect(entry).toMatchObject({ state: "uploaded", location: stack.location(rel) });
        expect(entry!.attempts).toBeGreaterThanOrEqual(3);
        expect(await stack.sha256Of(rel)).toBe(hash);
        expect(readdirSync(dir)).toEqual(["big.pt"]); // the temp file is gone
        expect((await stack.bus.deadLetters()).filter((d) => d.eventId === id)).toEqual([]);
      } finally {
        watching = false;
        await watcher;
        if (!stack.sshd.running) await stack.sshd.restart(); // never leave later tests without a server
        await t.close();
      }
      expect(seenDuringOutage).toBe(false);
      expect(seenPartial).toBe(false);
    });
  }, 180_000);

  it("a pinned host key that is not the server's: refused before login; the destination pauses, naming the key seen, and nothing dies", async () => {
    await withUploaders(wrongKey, 1, async ([uploader]) => {
      const loginsBefore = wrongKey.sshd.acceptedLogins;
      const t = await wrongKey.bus.trainer();
      const path = join(wrongKey.bus.dir, "pinned.txt");
      writeRandomFile(path, 100);
      const run = unique("pin");
      const logged = await t.publisher.logFile({ project: "pin", run, name: "pinned.txt", path });
      const entry = await wrongKey.bus.ledgerReaches(logged, "pending");
      expect(entry.attempts).toBe(0); // the destination's fault, not an attempt of the artifact
      expect(entry.error).toContain(`is ssh-ed25519 ${wrongKey.sshd.hostKeySha256Fingerprint}`);
      expect(entry.error).toContain(`pins ${wrongPin}`);
      await uploader!.waitForLog((l) => l.msg === "breaker open: pausing pulls", 10_000);
      expect(await wrongKey.bus.deadLetters()).toEqual([]);
      // Refused before authenticating: no login, and nothing under the destination's root.
      expect(wrongKey.sshd.acceptedLogins).toBe(loginsBefore);
      expect(wrongKey.listFiles()).toEqual([]);
      expect(readdirSync(wrongKey.root)).toEqual([]);
      await t.close();
    });
  });

  it("permission denied on the target directory: permanent, to the DLQ after one attempt", async (ctx) => {
    // Root ignores permission bits; the harness logs in as an unprivileged user when it can.
    if (stack.sshd.uid === 0) ctx.skip();
    const project = unique("locked");
    const locked = stack.path(project);
    mkdirSync(locked); // owned by us, not by the login user
    chmodSync(locked, 0o555);
    await withUploaders(stack, 1, async ([uploader]) => {
      const t = await stack.bus.trainer();
      const path = join(stack.bus.dir, "denied.txt");
      writeRandomFile(path, 100);
      const logged = await t.publisher.logFile({ project, run: unique("r"), name: "denied.txt", path });
      const { id } = logged;
      const entry = await stack.bus.ledgerReaches(logged, "dead");
      expect(entry.attempts).toBe(1);
      expect(entry.error).toMatch(/Permission denied/);
      const letter = (await stack.bus.deadLetters()).find((d) => d.eventId === id);
      expect(letter).toMatchObject({ errorClass: "permanent", attempts: 1 });
      expect(uploader!.lines.filter((l) => l.msg === "upload started" && l.eventId === id)).toHaveLength(1);
      expect(readdirSync(locked)).toEqual([]);
      await t.close();
    });
  });

  it("the same name logged 20 times quickly across 2 replicas: the newest content wins, uploads in seq order", async () => {
    await withUploaders(stack, 2, async () => {
      const t = await stack.bus.trainer();
      const run = unique("lww");
      const path = join(stack.bus.dir, `${run}.pt`);
      const logged: { id: string; project: string; run: string; hash: string }[] = [];
      for (let i = 0; i < 20; i++) {
        const data = Buffer.from(`version ${i} ${"x".repeat(i * 1000)}`);
        writeFileSync(path, data);
        const l = await t.publisher.logFile({ project: "lww", run, name: "checkpoints/latest.pt", path });
        logged.push({ ...l, hash: sha256(data) });
      }
      await t.publisher.flush({ timeoutMs: 60_000 });
      const rel = `lww/${run}/checkpoints/latest.pt`;
      const [got] = await stack.readViaSftpCli([rel]);
      expect(got && sha256(got)).toBe(logged.at(-1)!.hash);
      expect(stack.listFiles(`lww/${run}`)).toEqual([rel]);

      const entries = (await Promise.all(logged.map((l) => stack.bus.ledger(l)))) as LedgerEntry[];
      expect(entries.at(-1)!.state).toBe("uploaded");
      expect(entries.every((e) => e.state === "uploaded" || e.state === "superseded")).toBe(true);
      // In the order uploads completed (across both replicas), stream sequences only grow.
      const seqs = entries
        .filter((e) => e.state === "uploaded")
        .sort((a, b) => a.updatedAt.localeCompare(b.updatedAt))
        .map((e) => e.streamSeq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      await t.close();
    });
  });
});
