/**
 * The pieces SshdServer is built from: the login user, throwaway keys, the sshd_config text,
 * fingerprints, free ports and a process-tree kill. Kept apart so the launcher reads as a lifecycle.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Creates the privilege separation directory Debian's sshd refuses to run without (also for
 * `sshd -t`). It lives on /run, a tmpfs: nothing creates it after a boot unless a packaged sshd
 * was started, so whatever runs sshd must create it first. Only root's sshd needs it.
 */
export function ensureSshdRuntimeDir(): void {
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
}

/** The account sftp sessions log in as. */
export interface SshdUser {
  name: string;
  uid: number;
  gid: number;
  /** Login password; undefined when password login cannot be set up (not running as root). */
  password: string | undefined;
}

/**
 * Returns the login user, creating it when we are root. As root we use a dedicated system user
 * rather than root itself: root ignores permission bits, so permission tests would prove
 * nothing, and a real deployment never uploads as root. Not root: sshd can only log in as us.
 */
export async function ensureSshdUser(name: string): Promise<SshdUser> {
  if (process.getuid?.() !== 0) {
    const me = userInfo();
    return { name: me.username, uid: me.uid, gid: me.gid, password: undefined };
  }
  const password = sharedPassword(name);
  // Parallel test files race here, and concurrent useradds can leave a user with a uid another
  // process already read; flock(1) serialises the check, the creation and the password.
  // chpasswd also unlocks the account: with UsePAM no, sshd refuses a locked ('!') account.
  const script = [
    `getent passwd "$1" >/dev/null || useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin "$1"`,
    "chpasswd",
  ].join(" && ");
  await new Promise<void>((resolve, reject) => {
    const lock = join(tmpdir(), "artifact-bus-sshd-user.lock");
    const child = execFile("flock", ["-w", "60", lock, "sh", "-c", script, "sh", name], (err, _out, stderr) =>
      err ? reject(new Error(`cannot set up sshd login user ${name}: ${stderr || err.message}`)) : resolve(),
    );
    child.stdin?.end(`${name}:${password}\n`); // via stdin: never in a process listing
  });
  const found = await lookupUser(name);
  if (!found) throw new Error(`user ${name} does not exist after useradd`);
  return { ...found, password };
}

async function lookupUser(name: string): Promise<{ name: string; uid: number; gid: number } | undefined> {
  try {
    const { stdout } = await run("getent", ["passwd", name]);
    const fields = stdout.trim().split(":");
    return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  } catch {
    return undefined;
  }
}

/**
 * One random password per user, shared by every harness on the machine: test files run in
 * parallel, and each setting its own password would break the others' password logins.
 */
function sharedPassword(name: string): string {
  const file = join(tmpdir(), `artifact-bus-sshd-${name}.password`);
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    const draft = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
    writeFileSync(draft, randomBytes(18).toString("base64url"), { mode: 0o600 });
    try {
      linkSync(draft, file); // atomic: exactly one writer wins, and readers never see a half file
    } catch {
      // lost the race; the winner's password stands
    } finally {
      rmSync(draft, { force: true });
    }
    return readFileSync(file, "utf8").trim();
  }
}

/** Writes a new ed25519 key pair to `path` and `path.pub`; returns the public key line. */
export async function generateKey(path: string, passphrase = "", comment = "artifact-bus-test"): Promise<string> {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

/** `SHA256:<base64 without padding>` of a public key line, as `ssh-keygen -lf` prints it. */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error(`not a public key line: ${publicKeyLine.slice(0, 40)}`);
  const digest = createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** A port nobody listened on a moment ago; the caller retries if it is taken in between. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export interface SshdConfigInput {
  port: number;
  dir: string;
  hostKeyPath: string;
  authorizedKeysPath: string;
  user: string;
  passwordAuthentication: boolean;
  maxSessions: number;
  extra?: string | undefined;
}

/** The sshd_config: loopback only, one user, sftp only, nothing from the system config. */
export function sshdConfig(c: SshdConfigInput): string {
  return `${[
    `Port ${c.port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${c.hostKeyPath}`,
    `PidFile ${join(c.dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${c.authorizedKeysPath}`,
    // The temp dir is not owned the way StrictModes wants; PAM would need a system config.
    "StrictModes no",
    "UsePAM no",
    "PubkeyAuthentication yes",
    `PasswordAuthentication ${c.passwordAuthentication ? "yes" : "no"}`,
    "KbdInteractiveAuthentication no",
    "PermitRootLogin no",
    `AllowUsers ${c.user}`,
    "Subsystem sftp internal-sftp",
    "ForceCommand internal-sftp",
    "AllowTcpForwarding no",
    "X11Forwarding no",
    "PermitTTY no",
    "UseDNS no",
    "PrintMotd no",
    // One connection multiplexes several sftp channels; OpenSSH's default of 10 would cap tests.
    `MaxSessions ${c.maxSessions}`,
    "MaxStartups 64:30:128",
    "LogLevel VERBOSE",
    c.extra ?? "",
  ].join("\n")}\n`;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses, so cut at the last ')'.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is alive and an sshd process (its title starts with `sshd`). */
export function isSshdProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sshd");
  } catch {
    return false;
  }
}

/** Every live process below `root`, found through /proc. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const ppid = parentOf(pid);
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/**
 * SIGKILLs a process and all its descendants, as a crash of the whole server would. sshd puts
 * each connection in its own session, so a process-group kill would leave sessions alive.
 * Everything is stopped first, so nothing forks or is re-parented while we walk the tree.
 */
export function killTree(root: number): void {
  const frozen = new Set<number>();
  for (let round = 0; round < 20; round++) {
    const fresh = [root, ...descendantsOf(root)].filter((pid) => !frozen.has(pid));
    if (fresh.length === 0) break;
    for (const pid of fresh) {
      try {
        process.kill(pid, "SIGSTOP");
        frozen.add(pid);
      } catch {
        // already gone
      }
    }
  }
  for (const pid of frozen) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
