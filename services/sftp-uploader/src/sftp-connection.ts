/**
 * One SSH connection per destination, opened lazily and shared by all uploads, each upload on its
 * own sftp channel (at most `maxChannels` at once). A connection that closed or failed is dropped
 * and the next caller opens a new one, so a server restart costs the uploads in flight only.
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "@artifact-bus/shared";
import { DestinationError, TransientError } from "@artifact-bus/shared";
import { Client, type ConnectConfig, type SFTPWrapper } from "ssh2";
import { abortRace } from "./abort.ts";
import { Slots } from "./channel-slots.ts";
import { preferredHostKeyAlgorithms, verifyHostKey } from "./host-key.ts";
import { loadTrust } from "./host-key-trust.ts";
import type { SftpChannel } from "./sftp-channel.ts";
import { connectionError } from "./sftp-errors.ts";
import type { SftpOptions, SftpSecrets } from "./sftp-options.ts";
import type { SftpTransport } from "./sftp-transport.ts";
import { Ssh2Channel } from "./ssh2-channel.ts";

/** The ssh2 transport. */
export class SftpConnection implements SftpTransport {
  readonly kind = "ssh2";
  private readonly options: SftpOptions;
  private readonly secrets: SftpSecrets;
  private readonly log: Logger;
  private readonly slots: Slots;
  private live: { client: Client; ready: Promise<Client> } | undefined;
  private closed = false;
  /** Connections that completed their handshake so far, for tests of connection reuse. */
  connects = 0;

  constructor(options: SftpOptions, secrets: SftpSecrets, log: Logger) {
    this.options = options;
    this.secrets = secrets;
    this.log = log;
    this.slots = new Slots(options.maxChannels);
  }

  /** `host:port`, for messages. */
  get where(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  /**
   * Runs `fn` on a fresh sftp channel of the shared connection. Aborting `signal` ends the
   * channel, which fails the requests `fn` is waiting on; the channel is closed afterwards.
   */
  async withChannel<T>(signal: AbortSignal, fn: (sftp: SftpChannel) => Promise<T>): Promise<T> {
    await this.slots.acquire(signal);
    try {
      const sftp = await this.openChannel(signal);
      const onAbort = () => sftp.end();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        // Raced against the signal too: a request to a hung server never answers, even once its
        // channel is ended, and a stalled upload must still fail.
        return await abortRace(fn(new Ssh2Channel(sftp)), signal);
      } finally {
        signal.removeEventListener("abort", onAbort);
        sftp.end();
      }
    } finally {
      this.slots.release();
    }
  }

  private async openChannel(signal: AbortSignal): Promise<SFTPWrapper> {
    const reused = this.live !== undefined;
    const client = await abortRace(this.connected(), signal);
    try {
      return await channelOf(client, signal);
    } catch (err) {
      if (signal.aborted || !reused) throw err;
      // The shared connection may have died unnoticed (no FIN seen yet): retry once on a new one.
      this.log.warn({ error: (err as Error).message }, "sftp channel failed on a reused connection; reconnecting");
      this.drop(client);
      return await channelOf(await abortRace(this.connected(), signal), signal);
    }
  }

  private connected(): Promise<Client> {
    if (this.closed) return Promise.reject(new TransientError(`sftp destination ${this.where} is closed`));
    if (!this.live) {
      const client = new Client();
      const ready = this.connect(client).catch((err: unknown) => {
        this.drop(client);
        throw err;
      });
      this.live = { client, ready };
    }
    return this.live.ready;
  }

  private drop(client: Client): void {
    if (this.live?.client === client) this.live = undefined;
    client.end();
  }

  private async connect(client: Client): Promise<Client> {
    const { options, secrets } = this;
    const what = `connect to ${this.where} as ${options.username}`;
    const trust = await loadTrust(options);
    let privateKey = secrets.privateKey;
    if (privateKey === undefined && options.privateKeyPath) {
      privateKey = await readFile(options.privateKeyPath).catch((err: Error & { code?: string }) => {
        throw new DestinationError(`${what}: cannot read privateKeyPath ${options.privateKeyPath} (${err.code})`);
      });
    }
    if (trust.kind === "any") {
      this.log.warn(
        { destinationHost: this.where },
        "INSECURE: insecureAcceptAnyHostKey is set, the SFTP host key is NOT verified; anyone on the path can read and alter uploads. Local development only.",
      );
    }
    let refusal: string | undefined;
    const algorithms = preferredHostKeyAlgorithms(trust, options.host, options.port);
    const config: ConnectConfig = {
      host: options.host,
      port: options.port,
      username: options.username,
      privateKey,
      passphrase: secrets.passphrase,
      password: secrets.password,
      tryKeyboard: false,
      readyTimeout: options.connectTimeoutMs,
      keepaliveInterval: options.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax,
      hostVerifier: (key: Buffer) => {
        const verdict = verifyHostKey(trust, options.host, options.port, key);
        if (!verdict.ok) refusal = verdict.reason;
        else if (trust.kind === "any")
          this.log.warn({ hostKey: verdict.seen }, "INSECURE: accepted an unverified host key");
        return verdict.ok;
      },
      ...(algorithms ? { algorithms: { serverHostKey: algorithms } } : {}),
    };
    return await new Promise<Client>((resolve, reject) => {
      let ready = false;
      client.on("ready", () => {
        ready = true;
        this.connects++;
        this.log.debug({ destinationHost: this.where }, "sftp connection ready");
        resolve(client);
      });
      client.on("error", (err: Error) => {
        if (!ready) {
          reject(refusal ? new DestinationError(`${what}: ${refusal}`, { cause: err }) : connectionError(err, what));
        } else {
          this.log.warn({ destinationHost: this.where, error: err.message }, "sftp connection failed");
        }
        this.drop(client);
      });
      client.on("close", () => {
        if (!ready) reject(new TransientError(`${what}: connection closed during the handshake`));
        this.drop(client);
      });
      try {
        client.connect(config);
      } catch (err) {
        reject(connectionError(err, what));
      }
    });
  }

  /** Ends the connection; later calls fail as transient. */
  async close(): Promise<void> {
    this.closed = true;
    const live = this.live;
    this.live = undefined;
    if (!live) return;
    const closed = new Promise<void>((resolve) => live.client.once("close", () => resolve()));
    live.client.end();
    // A peer that never answers must not hold up shutdown.
    await Promise.race([closed, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
  }
}

/** Opens an sftp channel; one that opens after `signal` gave up on it is closed at once. */
function channelOf(client: Client, signal: AbortSignal): Promise<SFTPWrapper> {
  const opening = new Promise<SFTPWrapper>((resolve, reject) => {
    client.sftp((err, sftp) => (err ? reject(connectionError(err, "open sftp channel")) : resolve(sftp)));
  });
  opening.then(
    (sftp) => signal.aborted && sftp.end(),
    () => undefined,
  );
  return abortRace(opening, signal);
}
