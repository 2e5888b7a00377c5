/** Events, artifacts and upload contexts for the SFTP tests. */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { Artifact, ArtifactEventV1, UploadContext } from "@artifact-bus/shared";
import { silentLogger, verifiedStream } from "@artifact-bus/shared";

export function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function makeEvent(fields: Partial<ArtifactEventV1> & { size: number; sha256: string }): ArtifactEventV1 {
  const { size, sha256: hash, ...rest } = fields;
  const id = `ev${randomBytes(9).toString("hex")}`;
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
    producer: { host: "test", pid: process.pid, rank: 0 },
    createdAt: new Date().toISOString(),
    ...rest,
  };
}

/** An artifact served from memory in 64 KiB chunks, checked like the runtime checks blobs. */
export function bufferArtifact(bytes: Buffer, fields: Partial<ArtifactEventV1> = {}): Artifact {
  const event = makeEvent({ ...fields, size: bytes.length, sha256: sha256(bytes) });
  return {
    event,
    streamSeq: 1,
    open: async () => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
      return verifiedStream(Readable.from(chunks), event.blob.sha256, event.blob.size);
    },
  };
}

/** An artifact staged in a local file. */
export function fileArtifact(
  path: string,
  size: number,
  hash: string,
  fields: Partial<ArtifactEventV1> = {},
): Artifact {
  const event = makeEvent({ ...fields, size, sha256: hash });
  return {
    event,
    streamSeq: 1,
    localPath: path,
    open: async () => verifiedStream(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash, size),
  };
}

/** Writes `mib` MiB of random bytes to `path`; returns its sha256. */
export async function writeRandomFile(path: string, mib: number): Promise<string> {
  const hash = createHash("sha256");
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) {
    const chunk = randomBytes(1024 * 1024);
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  out.end();
  await finished(out);
  return hash.digest("hex");
}

export interface TestContext extends UploadContext {
  heartbeats: number;
  /** The last bytesDone reported. */
  bytesDone: number | undefined;
}

export function testContext(signal: AbortSignal = new AbortController().signal): TestContext {
  const ctx = {
    signal,
    attempt: 1,
    log: silentLogger,
    heartbeats: 0,
    bytesDone: undefined as number | undefined,
    heartbeat(bytesDone?: number) {
      ctx.heartbeats++;
      ctx.bytesDone = bytesDone;
    },
  };
  return ctx;
}

/** Polls `condition` every few ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return await condition();
}
