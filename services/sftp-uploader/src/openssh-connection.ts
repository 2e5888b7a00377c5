/**
 * The OpenSSH transport: each sftp session is an `ssh` child of its own (without a
 * ControlMaster, one ssh process carries one session). Sessions are opened lazily, at most
 * `maxChannels` at once, and kept open between uploads for the next one; a session that failed,
 * or was aborted, is ended and the next caller opens a new one.
 */
import type { Logger } from "@artifact-bus/shared";
import { TransientError } from "@artifact-bus/shared";
import { abortRace } from "./abort.ts";
import { Slots } from "./channel-slots.ts";
import { knownHostsName } from "./host-key.ts";
import { fetchVerifiedHostKey, loadTrust } from "./host-key-trust.ts";
import { HOST_KEY_REFUSED, OpensshSession } from "./openssh-session.ts";
import { type OpensshSetup, prepareOpenssh } from "./openssh-setup.ts";
import type { SftpChannel } from "./sftp-channel.ts";
import type { SftpOptions, SftpSecrets } from "./sftp-options.ts";
import type { SftpTransport } from "./sftp-transport.ts";

export class OpensshConnection implements SftpTransport {
  readonly kind = "openssh";
  private readonly options: SftpOptions;
  private readonly secrets: SftpSecrets;
  private readonly log: Logger;
  private readonly slots: Slots;
  private readonly idle: OpensshSession[] = [];
  private readonly busy = new Set<OpensshSession>();
  private setup: Promise<OpensshSetup> | undefined;
  private closed = false;
  connects = 0;

  constructor(options: SftpOptions, secrets: SftpSecrets, log: Logger) {
    this.options = options;
    this.secrets = secrets;
    this.log = log;
    this.slots = new Slots(options.maxChannels);
  }

  get where(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  async withChannel<T>(signal: AbortSignal, fn: (sftp: SftpChannel) => Promise<T>): Promise<T> {
    await this.slots.acquire(signal);
    let session: OpensshSession | undefined;
    try {
      session = await this.take(signal);
      const s = session;
      const onAbort = () => s.kill();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        return await abortRace(fn(session.client), signal);
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    } finally {
      if (session) this.giveBack(session);
      this.slots.release();
    }
  }

  /** An idle session that is still open, or a new one. */
  private async take(signal: AbortSignal): Promise<OpensshSession> {
    for (let s = this.idle.pop(); s; s = this.idle.pop()) {
      if (s.isOpen) {
        this.busy.add(s);
        return s;
      }
    }
    const launching = this.launch();
    // One that starts after its caller gave up is not leaked.
    launching.then(
      (s) => signal.aborted && this.giveBack(s),
      () => undefined,
    );
    return await abortRace(launching, signal);
  }

  private async launch(): Promise<OpensshSession> {
    if (this.closed) throw new TransientError(`sftp destination ${this.where} is closed`);
    const what = `connect to ${this.where} as ${this.options.username} (OpenSSH)`;
    if (!this.setup) {
      const prepared = this.prepare();
      this.setup = prepared;
      prepared.catch(() => {
        if (this.setup === prepared) this.setup = undefined;
      });
    }
    const setup = this.setup;
    const session = await OpensshSession.launch((await setup).args, what).catch(async (err: unknown) => {
      // ssh refused the host key it was given: the server's key may have been rotated along with
      // the pin (known_hosts); check it again on the next attempt, with a fresh known_hosts.
      if (HOST_KEY_REFUSED.test((err as Error).message) && this.setup === setup) {
        this.setup = undefined;
        await setup.then((s) => s.dispose()).catch(() => undefined);
      }
      throw err;
    });
    this.busy.add(session);
    this.connects++;
    this.log.debug({ destinationHost: this.where }, "sftp session ready (OpenSSH)");
    return session;
  }

  private async prepare(): Promise<OpensshSetup> {
    const hostKey = await fetchVerifiedHostKey(this.options, await loadTrust(this.options));
    this.log.debug({ destinationHost: knownHostsName(this.options.host, this.options.port) }, "host key verified");
    return prepareOpenssh(this.options, this.secrets, hostKey);
  }

  /** Keeps a healthy session for the next caller; ends one that failed or was aborted. */
  private giveBack(session: OpensshSession): void {
    this.busy.delete(session);
    if (session.isOpen && !this.closed) this.idle.push(session);
    else session.kill();
  }

  async close(): Promise<void> {
    this.closed = true;
    const sessions = [...this.idle.splice(0), ...this.busy];
    this.busy.clear();
    await Promise.all(sessions.map((s) => s.close()));
    const setup = this.setup;
    this.setup = undefined;
    await setup?.then((s) => s.dispose()).catch(() => undefined);
  }
}
