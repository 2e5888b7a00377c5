/**
 * The OpenSSH transport's private temp dir (its known_hosts, an inline key) is gone once the
 * destination closes, and also when its process exits without close(): a host running the
 * uploader for months must not collect one per start in /tmp. Each case runs in a process of its
 * own (openssh-temp-dir-child.ts) whose TMPDIR is a fresh dir, so the check sees only its dirs.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SshdServer } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CHILD = join(import.meta.dirname, "openssh-temp-dir-child.ts");
let server: SshdServer;
let scratch: string;

beforeAll(async () => {
  server = await SshdServer.start();
  scratch = mkdtempSync(join(tmpdir(), "artifact-bus-sftp-temp-dir-"));
});

afterAll(async () => {
  try {
    await server?.dispose();
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
});

/** Runs the child ending as `how` in a TMPDIR of its own: what it saw there, what is left. */
async function runChild(
  how: string,
  tmp = mkdtempSync(join(scratch, `${how}-`)),
): Promise<{ code: number | null; signal: NodeJS.Signals | null; seen: string[]; left: string[]; out: string }> {
  const child = spawn(process.execPath, [CHILD, how], {
    env: { ...process.env, TMPDIR: tmp, SFTP_OPTIONS: JSON.stringify(server.sftpOptions(server.mkdirForUser(how))) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c));
  child.stderr.on("data", (c: Buffer) => (out += c));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) =>
    child.once("exit", (c, s) => res([c, s])),
  );
  const line = out.split("\n").find((l) => l.startsWith("["));
  return { code, signal, seen: line ? (JSON.parse(line) as string[]) : [], left: readdirSync(tmp), out };
}

describe("the OpenSSH transport's temp dir", () => {
  for (const [how, code] of [
    ["close", 0],
    ["exit", 0],
    ["throw", 1],
  ] as const) {
    it(`is removed when its process ends by ${how}`, async () => {
      const r = await runChild(how);
      expect(r.code, r.out).toBe(code);
      // It was there while the destination was open: the check below is not vacuous.
      expect(r.seen.filter((e) => e.startsWith("artifact-bus-ssh-"))).toHaveLength(1);
      expect(r.left, r.out).toEqual([]);
    });
  }

  it("left by a SIGKILLed process is removed by the next process that starts the transport", async () => {
    const tmp = mkdtempSync(join(scratch, "kill-"));
    const killed = await runChild("kill", tmp);
    expect(killed.signal, killed.out).toBe("SIGKILL");
    // SIGKILL runs no exit hook: the dir is there until someone else removes it.
    expect(killed.left.filter((e) => e.startsWith("artifact-bus-ssh-"))).toHaveLength(1);
    const next = await runChild("close", tmp);
    expect(next.code, next.out).toBe(0);
    // While it ran, only its own dir was there: the dead one went when it set up.
    expect(next.seen.filter((e) => e.startsWith("artifact-bus-ssh-"))).toHaveLength(1);
    expect(next.left, next.out).toEqual([]);
  });
});
