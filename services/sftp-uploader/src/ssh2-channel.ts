/** An ssh2 sftp channel behind the SftpChannel interface. */
import { TransientError } from "@artifact-bus/shared";
import type { SFTPWrapper } from "ssh2";
import { pieceSizeFor, type RemoteAttrs, type RemoteEntry, type SftpChannel } from "./sftp-channel.ts";

export class Ssh2Channel implements SftpChannel {
  private readonly sftp: SFTPWrapper;
  constructor(sftp: SFTPWrapper) {
    this.sftp = sftp;
  }

  /**
   * ssh2 takes requests on a channel that is closing, or whose connection died, and never
   * answers those sent after it noticed: both directions must be open (fields ssh2 keeps private).
   */
  get isOpen(): boolean {
    const channel = this.sftp as unknown as { outgoing?: { state?: unknown }; incoming?: { state?: unknown } };
    return channel.outgoing?.state === "open" && channel.incoming?.state === "open";
  }

  /** ssh2 learns the limit from limits@openssh.com but keeps it private; larger writes it splits. */
  get maxPiece(): number {
    return pieceSizeFor((this.sftp as unknown as { _maxWriteLen?: number })._maxWriteLen);
  }

  private call<T>(run: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.isOpen) {
        reject(new TransientError("sftp channel is closed"));
        return;
      }
      try {
        run((err, value) => (err ? reject(err) : resolve(value as T)));
      } catch (err) {
        reject(err);
      }
    });
  }

  open(path: string, mode: "r" | "w" | "r+"): Promise<Buffer> {
    return this.call((cb) => this.sftp.open(path, mode, cb));
  }
  close(handle: Buffer): Promise<void> {
    return this.call((cb) => this.sftp.close(handle, cb));
  }
  /** ssh2 copies `data` into its packet as it is sent. */
  write(handle: Buffer, data: Buffer, position: number): Promise<void> {
    return this.call((cb) => this.sftp.write(handle, data, 0, data.length, position, cb));
  }
  read(handle: Buffer, length: number, position: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    return this.call<number>((cb) => this.sftp.read(handle, buf, 0, length, position, (err, n) => cb(err, n))).then(
      (n) => buf.subarray(0, n),
    );
  }
  stat(path: string): Promise<RemoteAttrs> {
    return this.call((cb) => this.sftp.stat(path, cb));
  }
  fstat(handle: Buffer): Promise<RemoteAttrs> {
    return this.call((cb) => this.sftp.fstat(handle, cb));
  }
  mkdir(path: string): Promise<void> {
    return this.call((cb) => this.sftp.mkdir(path, cb));
  }
  unlink(path: string): Promise<void> {
    return this.call((cb) => this.sftp.unlink(path, cb));
  }
  rename(from: string, to: string): Promise<void> {
    return this.call((cb) => this.sftp.rename(from, to, cb));
  }
  async posixRename(from: string, to: string): Promise<boolean> {
    try {
      await this.call((cb) => this.sftp.ext_openssh_rename(from, to, cb));
      return true;
    } catch (err) {
      // ssh2 throws this synchronously when the server did not offer the extension.
      if (/does not support/.test((err as Error).message)) return false;
      throw err;
    }
  }
  readdir(path: string): Promise<RemoteEntry[]> {
    return this.call((cb) => this.sftp.readdir(path, cb));
  }
  end(): void {
    this.sftp.end();
  }
}
