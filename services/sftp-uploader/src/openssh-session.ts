/**
 * One `ssh -s <host> sftp` child and the SFTP client speaking over its stdio. The child dying
 * fails the session (transient, with ssh's last words); a child that dies before the SFTP
 * handshake is classified from what ssh printed: a refused host key or login is the
 * destination's trouble, a network failure is transient.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { DestinationError, TransientError } from "@artifact-bus/shared";
import { SftpClient } from "./sftp-client.ts";

/** The command run for the OpenSSH transport; `ssh` on PATH. */
export const SSH_BINARY = "ssh";

/** ssh's stderr kept for messages (it names hosts, keys' fingerprints and files, never secrets). */
const STDERR_KEPT = 2048;

/** How launchError words a host key that ssh refused. */
export const HOST_KEY_REFUSED = /ssh refused the server's host key/;

/** What ssh's messages before the SFTP handshake mean. */
export function launchError(stderr: string, exit: string, what: string): Error {
  const said = stderr.trim().replace(/\s+/g, " ") || exit;
  if (/host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* not known/i.test(said)) {
    return new DestinationError(
      `${what}: ssh refused the server's host key, which does not match the pinned one (${said})`,
    );
  }
  if (/permission denied|too many authentication failures/i.test(said)) {
    return new DestinationError(`${what}: authentication failed (${said})`);
  }
  if (/load key|invalid format|bad permissions|no such identity|passphrase/i.test(said)) {
    return new DestinationError(`${what}: cannot use the private key (${said})`);
  }
  if (/could not resolve hostname|subsystem request failed/i.test(said)) {
    return new DestinationError(`${what}: ${said}`);
  }
  return new TransientError(`${what}: ${said}`);
}

export class OpensshSession {
  readonly client: SftpClient;
  private readonly child: ChildProcess;
  private stderr = "";
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(child: ChildProcess) {
    this.child = child;
    if (!child.stdout || !child.stdin || !child.stderr) throw new Error("ssh child without stdio");
    this.client = new SftpClient(child.stdout, child.stdin);
    child.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-STDERR_KEPT);
    });
    this.exit = new Promise<void>((resolve) => {
      child.once("close", (code, signal) => {
        this.exited = true;
        this.client.fail(
          new TransientError(`ssh exited (${this.exitText(code, signal)}) ${this.stderr.trim()}`.trim()),
        );
        resolve();
      });
    });
  }

  private exitText(code: number | null, signal: NodeJS.Signals | null): string {
    return signal ? `killed by ${signal}` : `code ${code}`;
  }

  /** Spawns ssh and completes the SFTP handshake; rejects classified (see launchError). */
  static async launch(args: string[], what: string): Promise<OpensshSession> {
    const child = spawn(SSH_BINARY, args, { stdio: ["pipe", "pipe", "pipe"] });
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once("spawn", () => resolve(undefined));
      child.once("error", resolve);
    });
    if (spawned) {
      const code = (spawned as Error & { code?: string }).code;
      throw new DestinationError(
        `${what}: cannot run ${SSH_BINARY} (${code ?? spawned.message}); install the OpenSSH client or set transport "ssh2"`,
      );
    }
    const session = new OpensshSession(child);
    try {
      await session.client.start();
      return session;
    } catch (err) {
      session.kill();
      await session.exit;
      throw launchError(session.stderr, (err as Error).message, what);
    }
  }

  /** Whether the child still runs and the session has not failed. */
  get isOpen(): boolean {
    return !this.exited && this.client.isOpen;
  }

  /** Ends the session at once (an abort, or a session no longer trusted). */
  kill(): void {
    this.client.fail(new TransientError("sftp session ended"));
    if (!this.exited) this.child.kill("SIGTERM");
  }

  /** Closes stdin so ssh ends the session cleanly; killed if it lingers past `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    this.client.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    timer.unref();
    await this.exit;
    clearTimeout(timer);
  }
}
