/**
 * The SFTP requests the uploader makes, as one small interface that both transports satisfy:
 * an ssh2 sftp channel (ssh2-channel.ts) and our own SFTP v3 client speaking over the stdio of
 * an OpenSSH `ssh` child (sftp-client.ts). Errors are raw: an SFTP status error carries its
 * numeric `code`; callers classify them (sftp-errors.ts) with the operation and path.
 */

/** What a STAT, FSTAT or READDIR entry tells about a remote file. */
export interface RemoteAttrs {
  size?: number | undefined;
  /** Seconds since the epoch. */
  mtime?: number | undefined;
  isDirectory(): boolean;
}

/** One entry of a directory listing. */
export interface RemoteEntry {
  filename: string;
  attrs: RemoteAttrs;
}

/** One SFTP session: requests may be issued concurrently; replies come in any order. */
export interface SftpChannel {
  /**
   * Whether requests sent now can still be answered; one sent on a closed channel fails at once
   * (never hangs).
   */
  readonly isOpen: boolean;
  /** The largest READ or WRITE the server takes, in bytes (at least 32 KiB, at most 256 KiB). */
  readonly maxPiece: number;
  /** Opens a file: `r` to read, `w` to create or truncate, `r+` to write in place. */
  open(path: string, mode: "r" | "w" | "r+"): Promise<Buffer>;
  close(handle: Buffer): Promise<void>;
  /** Writes `data` at `position`. `data` may be reused once this returns (it is copied or sent). */
  write(handle: Buffer, data: Buffer, position: number): Promise<void>;
  /** Up to `length` bytes at `position`; empty at the end of the file. */
  read(handle: Buffer, length: number, position: number): Promise<Buffer>;
  stat(path: string): Promise<RemoteAttrs>;
  fstat(handle: Buffer): Promise<RemoteAttrs>;
  mkdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Plain SFTP rename: fails when `to` exists. */
  rename(from: string, to: string): Promise<void>;
  /** OpenSSH's posix-rename (replaces `to` atomically); false when the server does not offer it. */
  posixRename(from: string, to: string): Promise<boolean>;
  readdir(path: string): Promise<RemoteEntry[]>;
  /** Ends the session; requests in flight fail. */
  end(): void;
}

/** Bytes per READ or WRITE that every server accepts (draft-02 requires 32 KiB). */
export const SAFE_PIECE = 32 * 1024;

/**
 * The piece size to use given the server's advertised maximum (OpenSSH: 255 KiB through
 * limits@openssh.com): bigger requests cut per-request overhead.
 */
export function pieceSizeFor(advertised: number | undefined): number {
  return typeof advertised === "number" && advertised >= SAFE_PIECE ? Math.min(advertised, 256 * 1024) : SAFE_PIECE;
}
