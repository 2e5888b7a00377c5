/**
 * Artifacts and upload contexts for destination tests: an Artifact backed by a temp file (as
 * the fs blob store hands it over), streams that stall or fail on cue, and a context whose
 * signal the test controls.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import type { ArtifactEventV1 } from "../event/schema.ts";
import { silentLogger } from "../log.ts";
import type { Artifact, UploadContext } from "../runtime/destination.ts";

/** A context whose signal the test controls, counting heartbeats. */
export interface TestContext extends UploadContext {
  readonly controller: AbortController;
  readonly heartbeats: number[];
}

export function testContext(): TestContext {
  const controller = new AbortController();
  const heartbeats: number[] = [];
  return {
    controller,
    heartbeats,
    signal: controller.signal,
    attempt: 1,
    log: silentLogger,
    heartbeat: (bytesDone?: number) => void heartbeats.push(bytesDone ?? -1),
  };
}

export interface FileArtifactOptions {
  project?: string;
  run?: string;
  /** Replaces the stream open() returns, e.g. to stall or fail it. */
  wrap?: (source: Readable) => Readable;
  /** open() rejects with this instead. */
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
  const event: ArtifactEventV1 = {
    schema: 1,
    id,
    project: opts.project ?? "contract",
    run: opts.run ?? uniqueRun(),
    name,
    level: "fit",
    blob: { store: "fs", ref: id, size: bytes.length, sha256: sha256(bytes) },
    contentType: "application/octet-stream",
    metadata: opts.metadata ?? {},
    producer: { host: hostname(), pid: process.pid, rank: 0 },
    createdAt: new Date().toISOString(),
  };
  return {
    event,
    streamSeq: ++seq,
    localPath: path,
    open: async () => {
      if (opts.openError) throw opts.openError;
      const source = createReadStream(path, { highWaterMark: 64 * 1024 });
      return opts.wrap ? opts.wrap(source) : source;
    },
  };
}

export function uniqueRun(): string {
  return `r${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

export function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
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
