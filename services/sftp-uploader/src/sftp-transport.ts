/**
 * How the SFTP destination reaches its server: ssh2 in this process (sftp-connection.ts), or the
 * OpenSSH `ssh` client as a child process speaking SFTP over its stdio (openssh-connection.ts).
 */
import type { SftpChannel } from "./sftp-channel.ts";

export interface SftpTransport {
  readonly kind: "ssh2" | "openssh";
  /** `host:port`, for messages. */
  readonly where: string;
  /** Logins completed so far (ssh2: connections; OpenSSH: ssh processes), for tests of reuse. */
  readonly connects: number;
  /**
   * Runs `fn` on an sftp session of its own. Aborting `signal` ends the session, which fails the
   * requests `fn` is waiting on, and rejects at once with a TransientError.
   */
  withChannel<T>(signal: AbortSignal, fn: (sftp: SftpChannel) => Promise<T>): Promise<T>;
  /** Ends every session; later calls fail as transient. */
  close(): Promise<void>;
}
