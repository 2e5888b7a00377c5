/**
 * SFTP v3 on the wire (draft-ietf-secsh-filexfer-02, what OpenSSH speaks): packet types, open
 * flags, building request packets and reading reply fields, and the framer that cuts a byte
 * stream into packets.
 */
import type { RemoteAttrs } from "./sftp-channel.ts";

export const PACKET = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  FSTAT: 8,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  STAT: 17,
  RENAME: 18,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

export const OPEN_FLAGS = { r: 0x01, w: 0x02 | 0x08 | 0x10, "r+": 0x01 | 0x02 } as const;

const ATTR = { SIZE: 0x1, UIDGID: 0x2, PERMISSIONS: 0x4, ACMODTIME: 0x8, EXTENDED: 0x80000000 } as const;

/** Largest reply we accept: a 256 KiB READ plus headers, with room for long directory pages. */
export const MAX_PACKET = 4 * 1024 * 1024;

/** A field of a request: a uint32, a uint64, an SSH string (Buffer or UTF-8) or raw bytes. */
export type Field = { u32: number } | { u64: number } | { str: string | Buffer } | { raw: Buffer };

function fieldLength(f: Field): number {
  if ("u32" in f) return 4;
  if ("u64" in f) return 8;
  if ("raw" in f) return f.raw.length;
  return 4 + (typeof f.str === "string" ? Buffer.byteLength(f.str) : f.str.length);
}

/** Bytes a packet of these fields takes, its length field included. */
export function packetLength(fields: Field[]): number {
  return 5 + fields.reduce((n, f) => n + fieldLength(f), 0);
}

/**
 * Writes a whole packet (length, type, then the fields; the request id is the first, except for
 * INIT) at the start of `buf`, which must hold packetLength(fields) bytes; returns that length.
 */
export function writePacket(buf: Buffer, type: number, fields: Field[]): number {
  const total = packetLength(fields);
  buf.writeUInt32BE(total - 4, 0);
  buf[4] = type;
  let at = 5;
  for (const f of fields) {
    if ("u32" in f) at = buf.writeUInt32BE(f.u32, at);
    else if ("u64" in f) {
      // Two halves: offsets stay below 2^53, and no BigInt per packet.
      at = buf.writeUInt32BE(Math.floor(f.u64 / 0x100000000), at);
      at = buf.writeUInt32BE(f.u64 >>> 0, at);
    } else if ("raw" in f) at += f.raw.copy(buf, at);
    else {
      const bytes = typeof f.str === "string" ? Buffer.from(f.str) : f.str;
      at = buf.writeUInt32BE(bytes.length, at);
      at += bytes.copy(buf, at);
    }
  }
  return total;
}

/** A whole packet in a buffer of its own. */
export function packet(type: number, fields: Field[]): Buffer {
  const buf = Buffer.allocUnsafe(packetLength(fields));
  writePacket(buf, type, fields);
  return buf;
}

/** Reads the fields of a reply in order; a reply shorter than its fields throws. */
export class FieldReader {
  private readonly buf: Buffer;
  private at: number;
  constructor(buf: Buffer, at = 0) {
    this.buf = buf;
    this.at = at;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u64(): number {
    const v = Number(this.buf.readBigUInt64BE(this.at));
    this.at += 8;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.at + n > this.buf.length) throw new RangeError("sftp reply ends inside a string");
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  string(): string {
    return this.bytes().toString("utf8");
  }
  get done(): boolean {
    return this.at >= this.buf.length;
  }
  attrs(): RemoteAttrs {
    const flags = this.u32();
    const size = flags & ATTR.SIZE ? this.u64() : undefined;
    if (flags & ATTR.UIDGID) this.at += 8;
    const mode = flags & ATTR.PERMISSIONS ? this.u32() : undefined;
    let mtime: number | undefined;
    if (flags & ATTR.ACMODTIME) {
      this.u32();
      mtime = this.u32();
    }
    if (flags & ATTR.EXTENDED) {
      for (let n = this.u32(); n > 0; n--) {
        this.bytes();
        this.bytes();
      }
    }
    return { size, mtime, isDirectory: () => mode !== undefined && (mode & 0o170000) === 0o040000 };
  }
}

/** Cuts a byte stream into packets (the bytes after each length field); whole ones are not copied. */
export class PacketFramer {
  private lengthBytes: Buffer = Buffer.alloc(0);
  private partial: { buf: Buffer; filled: number } | undefined;
  private readonly onPacket: (body: Buffer) => void;
  constructor(onPacket: (body: Buffer) => void) {
    this.onPacket = onPacket;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (!this.partial) {
        const take = Math.min(4 - this.lengthBytes.length, chunk.length - at);
        const head =
          this.lengthBytes.length === 0 && take === 4
            ? chunk.subarray(at, at + 4)
            : Buffer.concat([this.lengthBytes, chunk.subarray(at, at + take)]);
        at += take;
        if (head.length < 4) {
          this.lengthBytes = head;
          return;
        }
        this.lengthBytes = Buffer.alloc(0);
        const length = head.readUInt32BE(0);
        if (length === 0 || length > MAX_PACKET) throw new RangeError(`sftp packet of ${length} bytes`);
        if (chunk.length - at >= length) {
          this.onPacket(chunk.subarray(at, at + length));
          at += length;
          continue;
        }
        this.partial = { buf: Buffer.allocUnsafe(length), filled: 0 };
      }
      const p = this.partial;
      const n = chunk.copy(p.buf, p.filled, at, Math.min(chunk.length, at + p.buf.length - p.filled));
      p.filled += n;
      at += n;
      if (p.filled === p.buf.length) {
        this.partial = undefined;
        this.onPacket(p.buf);
      }
    }
  }
}
