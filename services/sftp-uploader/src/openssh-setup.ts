/**
 * What an OpenSSH `ssh` child needs to reach one destination: a private temp dir holding a
 * known_hosts that pins exactly the verified host key (and the private key, when it was given
 * inline), and the command line. Host key checking stays strict: ssh refuses any other key.
 */
import { lstatSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keyType, knownHostsName } from "./host-key.ts";
import type { SftpOptions, SftpSecrets } from "./sftp-options.ts";

export interface OpensshSetup {
  /** Arguments of `ssh`, ending with `<user>@<host> sftp`. */
  args: string[];
  /** Removes the temp dir (with the key file, if one was written). */
  dispose(): Promise<void>;
}

/**
 * The temp dirs of setups not disposed yet. A process that exits without closing its
 * destinations (process.exit after a failed shutdown, an uncaught error) removes them on its way
 * out, so they do not pile up in the host's /tmp. Only SIGKILL leaves one behind, and the next
 * process to set up the transport removes it (removeDeadProcessDirs).
 */
const liveDirs = new Set<string>();
let exitHookInstalled = false;
let swept = false;

const PREFIX = "artifact-bus-ssh-";

/**
 * This process's pid namespace (Linux), so a pid in a dir's name is only ever compared with pids
 * of the same namespace: two containers sharing one /tmp see each other's pids as dead.
 */
function pidNamespace(): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1];
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // someone else's, and running
  }
}

/**
 * Removes the temp dirs of this user's processes, in this pid namespace, that are gone (killed
 * before they could remove their own). A pid reused since is taken as alive: its dir stays, which
 * costs a few bytes, never a running process's known_hosts.
 */
function removeDeadProcessDirs(namespace: string): void {
  const mine = new RegExp(`^${PREFIX}${namespace}-(\\d+)-`);
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(mine.exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    const path = join(tmpdir(), name);
    try {
      const st = lstatSync(path);
      if (st.isDirectory() && st.uid === process.getuid?.()) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}

/** A new private temp dir, named so that a later process can tell when its owner is gone. */
async function makeTempDir(): Promise<string> {
  const namespace = pidNamespace();
  if (namespace === undefined) return await mkdtemp(join(tmpdir(), PREFIX));
  if (!swept) {
    swept = true;
    removeDeadProcessDirs(namespace);
  }
  return await mkdtemp(join(tmpdir(), `${PREFIX}${namespace}-${process.pid}-`));
}

function removeAtExit(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // "exit" handlers must be synchronous: the event loop no longer runs.
  process.on("exit", () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

/** OpenSSH's host key algorithms for a key type: an RSA key signs with SHA-2. */
function hostKeyAlgorithms(type: string): string {
  return type === "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256,ssh-rsa" : type;
}

const CIPHERS = [
  "aes128-gcm@openssh.com",
  "aes256-gcm@openssh.com",
  "chacha20-poly1305@openssh.com",
  "aes128-ctr",
  "aes192-ctr",
  "aes256-ctr",
].join(",");

/** Whole seconds, at least 1, of a millisecond option. */
const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/**
 * Writes the known_hosts (and an inline key, mode 0600) and builds the command line. The user's
 * ssh config (`-F none`), agent and the system's known_hosts play no part: only these options do.
 */
export async function prepareOpenssh(
  options: SftpOptions,
  secrets: SftpSecrets,
  hostKey: Buffer,
): Promise<OpensshSetup> {
  const dir = await makeTempDir();
  removeAtExit(dir);
  const dispose = async () => {
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };
  try {
    const type = keyType(hostKey);
    const knownHosts = join(dir, "known_hosts");
    await writeFile(
      knownHosts,
      `${knownHostsName(options.host, options.port)} ${type} ${hostKey.toString("base64")}\n`,
      {
        mode: 0o600,
      },
    );
    let identity = options.privateKeyPath;
    if (secrets.privateKey !== undefined) {
      identity = join(dir, "identity");
      const key = secrets.privateKey.toString();
      await writeFile(identity, key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600 });
    }
    if (identity === undefined) throw new Error("the OpenSSH transport needs a private key");
    const o = (name: string, value: string) => ["-o", `${name}=${value}`];
    const args = [
      "-F",
      "none",
      "-s",
      "-p",
      String(options.port),
      ...o("BatchMode", "yes"),
      ...o("StrictHostKeyChecking", "yes"),
      ...o("UserKnownHostsFile", knownHosts),
      ...o("GlobalKnownHostsFile", "none"),
      ...o("HostKeyAlgorithms", hostKeyAlgorithms(type)),
      ...o("CheckHostIP", "no"),
      ...o("UpdateHostKeys", "no"),
      // OpenSSH's own ciphers, AES-GCM first (ssh prefers chacha20-poly1305): with AES
      // instructions it costs the ssh child less per byte (measured: about a tenth less CPU).
      ...o("Ciphers", CIPHERS),
      ...o("IdentitiesOnly", "yes"),
      ...o("IdentityAgent", "none"),
      ...o("PasswordAuthentication", "no"),
      ...o("KbdInteractiveAuthentication", "no"),
      ...o("ConnectTimeout", seconds(options.connectTimeoutMs)),
      ...o("ServerAliveInterval", options.keepaliveIntervalMs > 0 ? seconds(options.keepaliveIntervalMs) : "0"),
      ...o("ServerAliveCountMax", String(options.keepaliveCountMax)),
      ...o("ClearAllForwardings", "yes"),
      ...o("LogLevel", "ERROR"),
      "-i",
      identity,
      "-l",
      options.username,
      "--",
      options.host,
      "sftp",
    ];
    return { args, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
