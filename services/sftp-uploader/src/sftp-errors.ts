/**
 * Maps what ssh2 and the SFTP server report onto the runtime's error classes. The rule of thumb:
 * the network, the server process and full disks pass (TransientError); credentials, host keys
 * and key files are the destination's own trouble (DestinationError: it pauses until fixed);
 * a path the server refuses is this artifact's (PermanentError).
 */
import { DestinationError, PermanentError, TransientError } from "@artifact-bus/shared";

/** SFTP status codes (draft-ietf-secsh-filexfer-02, what OpenSSH speaks). */
export const SFTP_STATUS = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** SSH disconnect reasons (RFC 4253 11.1) that no retry can fix. */
const PERMANENT_DISCONNECTS = new Set([
  3, // KEY_EXCHANGE_FAILED
  8, // MAC_ERROR: mismatched configuration, not noise on a TCP stream
  9, // SERVICE_NOT_AVAILABLE
  13, // HOST_KEY_NOT_VERIFIABLE
  14, // NO_MORE_AUTH_METHODS_AVAILABLE
  15, // ILLEGAL_USER_NAME
]);

/** The SFTP status code an ssh2 SFTP error carries, if any. */
export function sftpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** Whether `err`, or the ssh2 error it wraps, is the SFTP "no such file" status. */
export function isNoSuchFile(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return sftpStatus(err) === SFTP_STATUS.NO_SUCH_FILE || sftpStatus(cause) === SFTP_STATUS.NO_SUCH_FILE;
}

function parts(err: unknown): { message: string; code: unknown; level: unknown } {
  const e = (err ?? {}) as { message?: unknown; code?: unknown; level?: unknown };
  return { message: typeof e.message === "string" ? e.message : String(err), code: e.code, level: e.level };
}

/**
 * Classifies an error of an SFTP request (`what`: operation and path, never a credential).
 * PERMISSION_DENIED and OP_UNSUPPORTED are permanent, and so is BAD_MESSAGE, what OpenSSH answers
 * for ENAMETOOLONG and EINVAL: the path is refused, and no retry changes that. FAILURE, OpenSSH's
 * catch-all for ENOSPC, EEXIST and the like, is transient (a full disk may be freed), as are lost
 * connections.
 */
export function sftpError(err: unknown, what: string): Error {
  if (err instanceof TransientError || err instanceof PermanentError || err instanceof DestinationError) return err;
  const { message } = parts(err);
  const status = sftpStatus(err);
  if (status === SFTP_STATUS.PERMISSION_DENIED || status === SFTP_STATUS.OP_UNSUPPORTED) {
    return new PermanentError(`${what}: ${message}`, { cause: err });
  }
  if (status === SFTP_STATUS.BAD_MESSAGE) {
    return new PermanentError(`${what}: the server refuses the path (too long, or invalid): ${message}`, {
      cause: err,
    });
  }
  return new TransientError(`${what}: ${message}`, { cause: err });
}

/**
 * Classifies an error of the SSH connection: authentication, key files and failed handshakes
 * mean the destination is broken until an operator acts; refused, reset, timed-out and dropped
 * connections are transient, as is anything unknown (the runtime's rule: an unknown failure is
 * more often the network).
 */
export function connectionError(err: unknown, what: string): Error {
  if (err instanceof TransientError || err instanceof PermanentError || err instanceof DestinationError) return err;
  const { message, code, level } = parts(err);
  if (level === "client-authentication") {
    return new DestinationError(`${what}: authentication failed (${message})`, { cause: err });
  }
  if (/cannot parse privatekey|bad passphrase|encrypted private .*key/i.test(message)) {
    // ssh2's own wording about the key file; it never quotes the passphrase.
    return new DestinationError(`${what}: cannot use the private key (${message})`, { cause: err });
  }
  if (level === "handshake" || (typeof code === "number" && PERMANENT_DISCONNECTS.has(code))) {
    return new DestinationError(`${what}: ${message}`, { cause: err });
  }
  return new TransientError(`${what}: ${message}`, { cause: err });
}
