/**
 * Artifacts and upload contexts for destination tests: an Artifact backed by a temp file (as
 * the fs blob store hands it over), streams that stall or fail on cue, and a context whose
 * signal the test controls.
 */
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { addAbortSignal, Readable, Transform } from "node:stream";
import {
  type Artifact,
  type ArtifactEventV1,
  type BlobReader,
  fileReader,
  type ReadOptions,
  readWhole,
  silentLogger,
  streamReader,
  type UploadContext,
  verifiedBytes,
  verifiedReader,
} from "@artifact-bus/shared";
import { sha256 } from "./files.ts";

/** A context whose signal the test controls, counting heartbeats and lease checks. */
export interface TestContext extends UploadContext {
  readonly controller: AbortController;
  readonly heartbeats: number[];
  /** How often the adapter called beforeVisible. */
  readonly visibleChecks: number;
}

/**
 * A test context; `beforeVisible` stands for the runtime's lease check (default: the lease
 * holds). It gets the context, e.g. to abort its signal as the runtime does on a lost lease.
 */
export function testContext(o: { beforeVisible?: (ctx: TestContext) => Promise<void> } = {}): TestContext {
  const controller = new AbortController();
  const heartbeats: number[] = [];
  const ctx = {
    controller,
    heartbeats,
    visibleChecks: 0,
    signal: controller.signal,
    attempt: 1,
    log: silentLogger,
    heartbeat: (bytesDone?: number) => void heartbeats.push(bytesDone ?? -1),
    beforeVisible: async () => {
      ctx.visibleChecks++;
      await o.beforeVisible?.(ctx);
    },
  };
  return ctx;
}

export interface FileArtifactOptions {
  project?: string;
  run?: string;
  /**
   * Replaces the stream read() and openReader() take the bytes from, e.g. to stall or fail it.
   * It models what a verified read sees: an unverified read (`openReader(signal, { verify: false })`,
   * W&B's send after its checked MD5 pass) reads the file as it is, as the runtime's would.
   */
  wrap?: (source: Readable) => Readable;
  /** read() and openReader() reject with this instead. */
  openError?: Error;
  metadata?: Record<string, string>;
}

let seq = 0;

/** An Artifact backed by a temp file, as the fs blob store would hand it over. */
export async function fileArtifact(
  dir: string,
  name: string,
  bytes: Buffer,
  opts: FileArtifactOptions = {},
): Promise<Artifact> {
  const id = `c${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
  const path = join(dir, id);
  await writeFile(path, bytes);
  const event = testEvent({
    id,
    project: opts.project ?? "contract",
    run: opts.run ?? uniqueRun(),
    name,
    level: "fit",
    metadata: opts.metadata ?? {},
    size: bytes.length,
    sha256: sha256(bytes),
  });
  const open = async (verify = true) => {
    if (opts.openError) throw opts.openError;
    const source = createReadStream(path, { highWaterMark: 64 * 1024 });
    return opts.wrap && verify ? opts.wrap(source) : source;
  };
  return { event, streamSeq: ++seq, ...readingFrom(open, bytes.length) };
}

/** A valid v1 event for tests; `size` and `sha256` describe its blob (ref = id). */
export function testEvent(fields: Partial<ArtifactEventV1> & { size: number; sha256: string }): ArtifactEventV1 {
  const { size, sha256: hash, ...rest } = fields;
  const id = rest.id ?? `ev${randomBytes(9).toString("hex")}`;
  return {
    schema: 1,
    id,
    project: "proj",
    run: "run-1",
    name: "checkpoints/ep1.pt",
    level: "epoch",
    blob: { store: "fs", ref: id, size, sha256: hash },
    contentType: "application/octet-stream",
    metadata: {},
    producer: { host: hostname(), pid: process.pid, rank: 0 },
    createdAt: new Date().toISOString(),
    ...rest,
  };
}

/** An artifact served from memory in 64 KiB chunks, verified as the runtime verifies blobs. */
export function memoryArtifact(bytes: Buffer, fields: Partial<ArtifactEventV1> = {}): Artifact {
  const event = testEvent({ ...fields, size: bytes.length, sha256: sha256(bytes) });
  const { sha256: hash, size } = event.blob;
  const chunks = () => {
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 65536) out.push(bytes.subarray(i, i + 65536));
    return Readable.from(out);
  };
  return {
    event,
    streamSeq: ++seq,
    read: async () => verifiedBytes(Buffer.from(bytes), hash, size),
    openReader: async (signal, options) => {
      const reader = streamReader(addAbortSignal(signal, chunks()));
      return options?.verify === false ? reader : verifiedReader(reader, hash, size);
    },
  };
}

/**
 * `artifact` with its bytes from `source()` instead, as they come (not verified), for a test to
 * feed a stream that lies, stalls or fails; `event` may claim other bytes than it gives.
 */
export function streamedArtifact(artifact: Artifact, source: () => Readable, event = artifact.event): Artifact {
  return { ...artifact, event, ...readingFrom(async () => source(), event.blob.size) };
}

/** An artifact staged in an existing local file (e.g. one written by writeLargeFile). */
export function localFileArtifact(
  path: string,
  size: number,
  hash: string,
  fields: Partial<ArtifactEventV1> = {},
): Artifact {
  const event = testEvent({ ...fields, size, sha256: hash });
  return {
    event,
    streamSeq: ++seq,
    read: async () => verifiedBytes(await readFile(path), hash, size),
    openReader: async (_signal, options) => {
      const reader = fileReader(await open(path, "r"));
      return options?.verify === false ? reader : verifiedReader(reader, hash, size, options?.offThread);
    },
  };
}

/** Artifact.read() and openReader() over a stream, so the streams tests stall or fail serve both. */
function readingFrom(
  open: (verify?: boolean) => Promise<Readable>,
  size: number,
): Pick<Artifact, "read" | "openReader"> {
  const openReader = async (signal: AbortSignal, options?: ReadOptions) =>
    checkedAtSize(streamReader(addAbortSignal(signal, await open(options?.verify !== false))), size);
  return { read: async (signal) => readWhole(await openReader(signal), size + 1), openReader };
}

/**
 * Like the runtime's verified reader, the fill that reaches `size` also settles the blob's fate:
 * here it looks one byte further, so a stream that fails at its end (failAtEnd) fails that fill,
 * even for an adapter that never asks for more than `size` bytes.
 */
function checkedAtSize(reader: BlobReader, size: number): BlobReader {
  let seen = 0;
  return {
    async fill(buf) {
      const n = await reader.fill(buf);
      seen += n;
      if (seen === size && n > 0 && (await reader.fill(Buffer.alloc(1))) > 0) {
        throw new Error(`the test blob holds more than its ${size} bytes`);
      }
      return n;
    },
    close: () => reader.close(),
  };
}

export function uniqueRun(): string {
  return `r${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** Passes bytes until `after` have gone through, then calls `then` and stalls forever. */
export function stallAfter(after: number, then: () => void): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (seen + chunk.length >= after) {
        then();
        return; // no callback: the stream stalls, as a hung disk or network would
      }
      seen += chunk.length;
      cb(null, chunk);
    },
  });
}

/** Passes every byte, then fails instead of ending, as the runtime's integrity check does. */
export function failAtEnd(err: Error): Transform {
  return new Transform({
    transform: (chunk, _enc, cb) => cb(null, chunk),
    flush: (cb) => cb(err),
  });
}
