/**
 * Joins the parts of a multipart upload into one blob on disk, in the background as parts arrive:
 * each part that follows on without a gap is appended (and hashed) at once, so
 * completeMultipartUploadArtifact waits only for what is left. Joining GiBs at completion would
 * take longer than a client's per-request timeout (the Go client's is 30 s) on a slow disk.
 * A part's bytes are pinned by its declared MD5, so a part PUT again after it was appended cannot
 * change the result. In memory only: after a restart the next completion joins from part 1.
 */
import { createHash, type Hash, randomBytes } from "node:crypto";
import { createReadStream, renameSync, rmSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import type { ArtifactStore } from "./artifact-store.ts";
import type { PartRecord, StoredBytes } from "./records.ts";

interface Assembly {
  blob: string;
  file: Promise<FileHandle>;
  md5: Hash;
  sha256: Hash;
  size: number;
  /** Index of the next part to append. */
  next: number;
  /** The appends so far, one after another; rejected once one failed. */
  work: Promise<void>;
}

export class PartAssembly {
  private readonly store: ArtifactStore;
  private readonly running = new Map<string, Assembly>();

  constructor(store: ArtifactStore) {
    this.store = store;
  }

  /** A part of `uploadId` was stored: appends every part that now follows on. */
  partStored(uploadId: string, parts: PartRecord[]): void {
    const a = this.assembly(uploadId);
    a.work = a.work.then(() => this.appendReady(a, parts));
    // Seen again by finish(); an unhandled rejection would end the process.
    a.work.catch(() => undefined);
  }

  /** Waits for every part to be appended and answers the joined blob; the parts stay. */
  async finish(uploadId: string, parts: PartRecord[]): Promise<StoredBytes> {
    const a = this.assembly(uploadId);
    try {
      a.work = a.work.then(() => this.appendReady(a, parts));
      await a.work;
      if (a.next !== parts.length) throw new Error(`part ${a.next + 1} is not stored`);
      await (await a.file).close();
      renameSync(this.tmp(a), this.store.blobPath(a.blob));
      return { size: a.size, md5: a.md5.digest("base64"), sha256: a.sha256.digest("hex"), blob: a.blob };
    } finally {
      this.running.delete(uploadId);
      await this.drop(a);
    }
  }

  /** Forgets an upload that was replaced or completed, with its half-joined blob. */
  discard(uploadId: string): void {
    const a = this.running.get(uploadId);
    this.running.delete(uploadId);
    if (a) void a.work.finally(() => this.drop(a)).catch(() => undefined);
  }

  private assembly(uploadId: string): Assembly {
    let a = this.running.get(uploadId);
    if (!a) {
      const blob = randomBytes(16).toString("hex");
      const file = open(join(this.store.tmpDir, blob), "w");
      file.catch(() => undefined);
      const [md5, sha256] = [createHash("md5"), createHash("sha256")];
      a = { blob, file, md5, sha256, size: 0, next: 0, work: file.then(() => undefined) };
      this.running.set(uploadId, a);
    }
    return a;
  }

  private async appendReady(a: Assembly, parts: PartRecord[]): Promise<void> {
    const out = await a.file;
    for (let part = parts[a.next]; part?.stored; part = parts[a.next]) {
      for await (const chunk of createReadStream(this.store.blobPath(part.stored.blob)) as AsyncIterable<Buffer>) {
        a.md5.update(chunk);
        a.sha256.update(chunk);
        a.size += chunk.length;
        await out.write(chunk);
      }
      a.next++;
    }
  }

  private tmp(a: Assembly): string {
    return join(this.store.tmpDir, a.blob);
  }

  private async drop(a: Assembly): Promise<void> {
    await (await a.file.catch(() => undefined))?.close().catch(() => undefined);
    rmSync(this.tmp(a), { force: true });
  }
}
