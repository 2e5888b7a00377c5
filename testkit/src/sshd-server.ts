/**
 * Runs the real OpenSSH `sshd` for tests: loopback only, a free port, a throwaway ed25519 host
 * key and user key, sftp only (`internal-sftp`). Run as root (as CI does), it logs in as a
 * dedicated non-root system user (see ensureSshdUser); otherwise as the current user.
 * A restart keeps port and keys, so clients with a pinned host key reconnect as after an outage.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import {
  descendantsOf,
  ensureSshdRuntimeDir,
  ensureSshdUser,
  fingerprintOf,
  freePort,
  generateKey,
  isSshdProcess,
  killTree,
  sshdConfig,
} from "./sshd-setup.ts";

export interface SshdServerOptions {
  /** Login user created when running as root; default `artifact-bus-sftp`. Ignored when not root. */
  user?: string;
  /** Encrypts the user key at `privateKeyPath` with this passphrase. */
  keyPassphrase?: string;
  /** Allows password logins (only possible as root, which sets the password); default true. */
  passwordAuthentication?: boolean;
  /** sshd's MaxSessions: sftp channels per connection; default 64. */
  maxSessions?: number;
  /** More sshd_config lines. */
  extraConfig?: string;
  /** Forward sshd's log to this process's stderr. */
  verbose?: boolean;
  binary?: string;
}

export class SshdServer {
  readonly host = "127.0.0.1";
  /** Temp dir holding config, keys and `rootDir`; removed by dispose(). */
  readonly dir: string;
  /** Directory owned by the login user, under which tests put uploads. */
  readonly rootDir: string;
  readonly username: string;
  readonly uid: number;
  readonly gid: number;
  /** Login password, or undefined when password login is off or impossible. */
  readonly password: string | undefined;
  /** User key for the client under test; encrypted when `keyPassphrase` was given. */
  readonly privateKeyPath: string;
  readonly passphrase: string | undefined;
  /** Unencrypted user key, for independent tools such as the `sftp` CLI. */
  readonly plainKeyPath: string;
  /** The host key as `ssh-ed25519 AAAA...`. */
  readonly hostPublicKey: string;
  /** `SHA256:...` of the host key, as `ssh-keygen -lf` prints it. */
  readonly hostKeySha256Fingerprint: string;
  private readonly configPath: string;
  private readonly options: SshdServerOptions;
  private proc: ChildProcess | undefined;
  private portNumber: number | undefined;
  private log = "";
  private accepted = 0;
  /** Session processes a graceful stop() left running; dispose() ends them. */
  private orphans = new Set<number>();

  private constructor(init: {
    dir: string;
    options: SshdServerOptions;
    user: { name: string; uid: number; gid: number; password: string | undefined };
    hostPublicKey: string;
  }) {
    this.dir = init.dir;
    this.options = init.options;
    this.rootDir = join(init.dir, "root");
    this.username = init.user.name;
    this.uid = init.user.uid;
    this.gid = init.user.gid;
    this.password = init.options.passwordAuthentication === false ? undefined : init.user.password;
    this.privateKeyPath = join(init.dir, "user_key");
    this.passphrase = init.options.keyPassphrase;
    this.plainKeyPath = join(init.dir, "reader_key");
    this.hostPublicKey = init.hostPublicKey.split(/\s+/).slice(0, 2).join(" ");
    this.hostKeySha256Fingerprint = fingerprintOf(init.hostPublicKey);
    this.configPath = join(init.dir, "sshd_config");
  }

  /** Creates user, keys and config, and starts sshd on a free port. */
  static async start(options: SshdServerOptions = {}): Promise<SshdServer> {
    const dir = mkdtempSync(join(tmpdir(), "artifact-bus-sshd-"));
    try {
      // sshd reads authorized_keys as the login user, so that user must be able to enter dir.
      chmodSync(dir, 0o755);
      const user = await ensureSshdUser(options.user ?? "artifact-bus-sftp");
      const hostPublicKey = await generateKey(join(dir, "host_key"), "", "artifact-bus-test-host");
      const userKey = await generateKey(join(dir, "user_key"), options.keyPassphrase ?? "");
      const readerKey = await generateKey(join(dir, "reader_key"));
      writeFileSync(join(dir, "authorized_keys"), `${userKey}\n${readerKey}\n`, { mode: 0o644 });
      mkdirSync(join(dir, "root"), { mode: 0o755 });
      chownSync(join(dir, "root"), user.uid, user.gid);
      const server = new SshdServer({ dir, options, user, hostPublicKey });
      await server.launch(undefined);
      return server;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get port(): number {
    if (this.portNumber === undefined) throw new Error("sshd is not running");
    return this.portNumber;
  }

  /** The listening sshd's pid: its process tree is what serves every session. */
  get pid(): number {
    if (this.proc?.pid === undefined) throw new Error("sshd is not running");
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The known_hosts line for this server, `[127.0.0.1]:PORT ssh-ed25519 AAAA...`. */
  get knownHostsLine(): string {
    return `[${this.host}]:${this.port} ${this.hostPublicKey}`;
  }

  /** Writes a known_hosts file holding `knownHostsLine` and returns its path. */
  /** SFTP destination options that reach this server: key auth, host key pinned by fingerprint. */
  sftpOptions(root: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      host: this.host,
      port: this.port,
      username: this.username,
      root,
      hostKeyFingerprint: this.hostKeySha256Fingerprint,
      privateKeyPath: this.privateKeyPath,
      ...extra,
    };
  }

  writeKnownHosts(name = "known_hosts"): string {
    const path = join(this.dir, name);
    writeFileSync(path, `${this.knownHostsLine}\n`);
    return path;
  }

  /**
   * Creates `path` (absolute, or relative to rootDir) and its missing parents, owned by the login
   * user as a client-made directory would be; returns the absolute path.
   */
  mkdirForUser(path: string, mode = 0o755): string {
    const target = resolve(this.rootDir, path);
    const first = mkdirSync(target, { recursive: true, mode });
    if (first !== undefined && process.getuid?.() === 0) {
      for (let dir = target; dir.length >= first.length; dir = dirname(dir)) chownSync(dir, this.uid, this.gid);
    }
    return target;
  }

  /** Successful logins so far (`Accepted ...` lines), to check that a client reuses its connection. */
  get acceptedLogins(): number {
    return this.accepted;
  }

  /** The last 64 KiB of sshd's log. */
  get logTail(): string {
    return this.log;
  }

  private async launch(fixedPort: number | undefined): Promise<void> {
    // A free port can be taken between probing and binding; a fixed port may linger briefly.
    for (let attempt = 1; ; attempt++) {
      const port = fixedPort ?? (await freePort(this.host));
      writeFileSync(this.configPath, sshdConfig(this.configInput(port)));
      const outcome = await this.spawnOnce();
      if (outcome === "ready") {
        this.portNumber = port;
        return;
      }
      if (attempt >= 20) throw new Error(`sshd could not bind port ${port}:\n${this.log}`);
      if (fixedPort !== undefined) await new Promise((r) => setTimeout(r, 100));
    }
  }

  private configInput(port: number) {
    return {
      port,
      dir: this.dir,
      hostKeyPath: join(this.dir, "host_key"),
      authorizedKeysPath: join(this.dir, "authorized_keys"),
      user: this.username,
      passwordAuthentication: this.password !== undefined,
      maxSessions: this.options.maxSessions ?? 64,
      extra: this.options.extraConfig,
    };
  }

  /** Starts sshd once; "busy" when the port was taken, an error for any other failure. */
  private async spawnOnce(): Promise<"ready" | "busy"> {
    ensureSshdRuntimeDir();
    const proc = spawn(this.options.binary ?? "/usr/sbin/sshd", ["-D", "-e", "-f", this.configPath], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.proc = proc;
    let startLog = "";
    let partialLine = "";
    proc.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString();
      if (this.options.verbose) process.stderr.write(text);
      if (startLog.length < 65536) startLog += text;
      this.log = (this.log + text).slice(-65536);
      const lines = (partialLine + text).split("\n");
      partialLine = lines.pop() ?? "";
      this.accepted += lines.filter((l) => /^Accepted (publickey|password) for /.test(l)).length;
    });
    return await new Promise<"ready" | "busy">((resolve, reject) => {
      const onData = () => {
        if (/Server listening on /.test(startLog)) {
          proc.stderr?.off("data", onData);
          resolve("ready");
        }
      };
      proc.stderr?.on("data", onData);
      proc.once("error", (err) =>
        reject(new Error(`cannot start sshd (${err.message}); apt-get install openssh-server`, { cause: err })),
      );
      proc.once("exit", (code) => {
        if (/Address already in use/.test(startLog)) resolve("busy");
        else reject(new Error(`sshd exited with ${code} before it was ready:\n${startLog}`));
      });
    });
  }

  /** Stops the listener gracefully (SIGTERM); open sessions live on, as with a real sshd. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    if (proc.pid) for (const pid of descendantsOf(proc.pid)) this.orphans.add(pid);
    proc.kill("SIGTERM");
    await exited;
  }

  /** Kills the listener and every session process at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc?.pid || !this.running) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    killTree(proc.pid);
    await exited;
  }

  /** Starts sshd again on the same port with the same keys. */
  async restart(): Promise<void> {
    const port = this.port;
    if (this.running) await this.stop();
    await this.launch(port);
  }

  /** Kills sshd with its sessions and removes the temp dir. */
  async dispose(): Promise<void> {
    await this.kill();
    // A pid may have been reused by now: only an sshd process is ours to end.
    for (const pid of this.orphans) if (isSshdProcess(pid)) killTree(pid);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
