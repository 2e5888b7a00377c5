/**
 * Reads back through the OpenSSH `sftp` CLI: a channel that shares no code with the client under
 * test, so a bug in that client cannot hide itself when a test checks what landed remotely.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SshdServer } from "./sshd-server.ts";

/** Arguments of `sftp -b -` (commands on stdin) with the server's unencrypted key and a pinned known_hosts file. */
export function sftpArgs(server: SshdServer): string[] {
  const knownHosts = server.writeKnownHosts("known_hosts.cli");
  return [
    "-b",
    "-",
    "-i",
    server.plainKeyPath,
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-P",
    String(server.port),
    `${server.username}@${server.host}`,
  ];
}

/** Runs `sftp -b -` with the server's unencrypted reader key and a pinned known_hosts file. */
export async function sftpBatch(server: SshdServer, commands: string[]): Promise<{ stdout: string; stderr: string }> {
  const args = sftpArgs(server);
  return await new Promise((resolve, reject) => {
    const child = execFile("sftp", args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`sftp batch failed: ${err.message}\n${stderr}`, { cause: err }));
      else resolve({ stdout, stderr });
    });
    child.stdin?.end(`${commands.join("\n")}\n`);
  });
}

/** sftp batch syntax quotes arguments with double quotes and backslash escapes. */
function quote(path: string): string {
  return `"${path.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** Downloads remote files in one session; a missing file maps to undefined. */
export async function readRemoteFiles(server: SshdServer, remotePaths: string[]): Promise<(Buffer | undefined)[]> {
  const local = mkdtempSync(join(tmpdir(), "artifact-bus-sftp-read-"));
  try {
    // A leading '-' lets the batch go on past a missing file instead of aborting.
    await sftpBatch(
      server,
      remotePaths.map((p, i) => `-get ${quote(p)} ${quote(join(local, String(i)))}`),
    );
    return remotePaths.map((_, i) => {
      const file = join(local, String(i));
      return existsSync(file) ? readFileSync(file) : undefined;
    });
  } finally {
    rmSync(local, { recursive: true, force: true });
  }
}

/** Names in a remote directory (without `.` and `..`), listed by the CLI; [] if it is missing. */
export async function listRemoteDir(server: SshdServer, remoteDir: string): Promise<string[]> {
  const { stdout } = await sftpBatch(server, [`-ls -1a ${quote(remoteDir)}`]);
  return stdout
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("sftp>"))
    .map((line) => line.trim().split("/").pop() ?? "")
    .filter((name) => name !== "" && name !== "." && name !== "..");
}
