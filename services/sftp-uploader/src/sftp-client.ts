/**
 * A small SFTP v3 client over any pair of byte streams (here: the stdout and stdin of an OpenSSH
 * `ssh -s ... sftp` child). Requests carry ids and are answered in any order, so any number may
 * be in flight; the callers (sftp-ops.ts, sftp-read.ts) keep their own windows.
 */
import type { Readable, Writable } from "node:stream";
import { TransientError } from "@artifact-bus/shared";
import { pieceSizeFor, type RemoteAttrs, type RemoteEntry, type SftpChannel } from "./sftp-channel.ts";
import { SFTP_STATUS } from "./sftp-errors.ts";
import {
  type Field,
  FieldReader,
  OPEN_FLAGS,
  PACKET,
  PacketFramer,
  packet,
  packetLength,
  writePacket,
} from "./sftp-wire.ts";

/** Size of the reused WRITE packet buffers: a 256 KiB piece and its header. */
const WRITE_BUFFER = 256 * 1024 + 1024;
/** Spare WRITE buffers kept: an 8 MiB window of 255 KiB pieces, and some. */
const SPARE_BUFFERS = 40;

interface Reply {
  type: number;
  /** The reply's fields after its request id. */
  body: FieldReader;
}

/** An SFTP status other than OK, as ssh2 reports one: `code` is the status. */
function statusError(code: number, body: FieldReader): Error {
  let message = "";
  try {
    message = body.string();
  } catch {
    // draft-02 servers may omit the message
  }
  return Object.assign(new Error(message || `sftp status ${code}`), { code });
}

export class SftpClient implements SftpChannel {
  private readonly output: Writable;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failure: Error | undefined;
  private extensions = new Map<string, string>();
  private maxWrite: number | undefined;
  private onVersion: ((r: Reply) => void) | undefined;
  /**
   * WRITE packets are built in buffers reused once the pipe took them: a fresh 255 KiB buffer
   * per request made the garbage collector the uploader's largest cost after hashing.
   */
  private readonly spare: Buffer[] = [];

  constructor(input: Readable, output: Writable) {
    this.output = output;
    const framer = new PacketFramer((p) => this.dispatch(p));
    input.on("data", (chunk: Buffer) => {
      try {
        framer.push(chunk);
      } catch (err) {
        this.fail(new TransientError(`sftp: bad reply from the server (${(err as Error).message})`));
      }
    });
    // EPIPE: the other end (ssh) is gone, typically with its connection.
    output.on("error", (err: Error) =>
      this.fail(new TransientError(`sftp session closed (cannot write: ${err.message})`)),
    );
  }

  /** Exchanges INIT and VERSION, then asks limits@openssh.com (when offered) for the largest WRITE. */
  async start(): Promise<void> {
    const version = new Promise<Reply>((resolve, reject) => {
      this.onVersion = resolve;
      this.pending.set(0, { resolve, reject });
    });
    this.output.write(packet(PACKET.INIT, [{ u32: 3 }]));
    const { body } = await version;
    this.pending.delete(0);
    while (!body.done) this.extensions.set(body.string(), body.string());
    if (this.extensions.has("limits@openssh.com")) {
      const limits = await this.request(PACKET.EXTENDED, [{ str: "limits@openssh.com" }], PACKET.EXTENDED_REPLY);
      limits.u64(); // max packet
      limits.u64(); // max read
      this.maxWrite = limits.u64() || undefined;
    }
  }

  /** Fails every request in flight and any later one with `err` (the first failure wins). */
  fail(err: Error): void {
    this.failure ??= err;
    for (const { reject } of this.pending.values()) reject(this.failure);
    this.pending.clear();
  }

  get isOpen(): boolean {
    return this.failure === undefined;
  }

  get maxPiece(): number {
    return pieceSizeFor(this.maxWrite);
  }

  private dispatch(p: Buffer): void {
    const type = p[0] ?? 0;
    if (type === PACKET.VERSION && this.onVersion) {
      const reader = new FieldReader(p, 1);
      reader.u32(); // version: OpenSSH answers 3
      this.onVersion({ type, body: reader });
      this.onVersion = undefined;
      return;
    }
    const body = new FieldReader(p, 1);
    const id = body.u32();
    const waiter = this.pending.get(id);
    if (!waiter) return; // a request whose caller gave up (its channel was failed)
    this.pending.delete(id);
    waiter.resolve({ type, body });
  }

  /**
   * Sends a request and resolves with the body of its reply of type `expect`; a STATUS OK
   * resolves when `expect` is STATUS, any other STATUS rejects with its code.
   */
  private async request(type: number, fields: Field[], expect: number): Promise<FieldReader> {
    const reply = await this.send(type, fields);
    if (reply.type === PACKET.STATUS) {
      const code = reply.body.u32();
      if (code === 0 && expect === PACKET.STATUS) return reply.body;
      throw statusError(code, reply.body);
    }
    if (reply.type !== expect) throw new TransientError(`sftp: reply of type ${reply.type}, expected ${expect}`);
    return reply.body;
  }

  private send(type: number, fields: Field[]): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffffffff) + 1;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const all: Field[] = [{ u32: id }, ...fields];
      if (type !== PACKET.WRITE) {
        this.output.write(packet(type, all));
        return;
      }
      const size = packetLength(all);
      let buf = this.spare.pop();
      if (!buf || buf.length < size) buf = Buffer.allocUnsafe(Math.max(size, WRITE_BUFFER));
      const reused = buf;
      writePacket(reused, type, all);
      this.output.write(reused.subarray(0, size), () => {
        if (this.spare.length < SPARE_BUFFERS) this.spare.push(reused);
      });
    });
  }

  async open(path: string, mode: "r" | "w" | "r+"): Promise<Buffer> {
    const body = await this.request(PACKET.OPEN, [{ str: path }, { u32: OPEN_FLAGS[mode] }, { u32: 0 }], PACKET.HANDLE);
    return Buffer.from(body.bytes());
  }

  async close(handle: Buffer): Promise<void> {
    await this.request(PACKET.CLOSE, [{ str: handle }], PACKET.STATUS);
  }

  /** The packet is built (and `data` copied into it) before this returns. */
  async write(handle: Buffer, data: Buffer, position: number): Promise<void> {
    await this.request(PACKET.WRITE, [{ str: handle }, { u64: position }, { str: data }], PACKET.STATUS);
  }

  async read(handle: Buffer, length: number, position: number): Promise<Buffer> {
    try {
      return (
        await this.request(PACKET.READ, [{ str: handle }, { u64: position }, { u32: length }], PACKET.DATA)
      ).bytes();
    } catch (err) {
      if ((err as { code?: unknown }).code === SFTP_STATUS.EOF) return Buffer.alloc(0);
      throw err;
    }
  }

  async stat(path: string): Promise<RemoteAttrs> {
    return (await this.request(PACKET.STAT, [{ str: path }], PACKET.ATTRS)).attrs();
  }

  async fstat(handle: Buffer): Promise<RemoteAttrs> {
    return (await this.request(PACKET.FSTAT, [{ str: handle }], PACKET.ATTRS)).attrs();
  }

  async mkdir(path: string): Promise<void> {
    await this.request(PACKET.MKDIR, [{ str: path }, { u32: 0 }], PACKET.STATUS);
  }

  async unlink(path: string): Promise<void> {
    await this.request(PACKET.REMOVE, [{ str: path }], PACKET.STATUS);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.request(PACKET.RENAME, [{ str: from }, { str: to }], PACKET.STATUS);
  }

  async posixRename(from: string, to: string): Promise<boolean> {
    if (!this.extensions.has("posix-rename@openssh.com")) return false;
    await this.request(
      PACKET.EXTENDED,
      [{ str: "posix-rename@openssh.com" }, { str: from }, { str: to }],
      PACKET.STATUS,
    );
    return true;
  }

  async readdir(path: string): Promise<RemoteEntry[]> {
    const handle = Buffer.from((await this.request(PACKET.OPENDIR, [{ str: path }], PACKET.HANDLE)).bytes());
    const entries: RemoteEntry[] = [];
    try {
      for (;;) {
        let page: FieldReader;
        try {
          page = await this.request(PACKET.READDIR, [{ str: handle }], PACKET.NAME);
        } catch (err) {
          if ((err as { code?: unknown }).code === SFTP_STATUS.EOF) return entries;
          throw err;
        }
        for (let n = page.u32(); n > 0; n--) {
          const filename = page.string();
          page.bytes(); // longname, as `ls -l` would print it
          const attrs = page.attrs();
          if (filename !== "." && filename !== "..") entries.push({ filename, attrs });
        }
      }
    } finally {
      await this.close(handle).catch(() => undefined);
    }
  }

  /** Ends our side of the stream: the ssh child then closes the session and exits. */
  end(): void {
    this.fail(new TransientError("sftp session ended"));
    this.output.end();
  }
}
