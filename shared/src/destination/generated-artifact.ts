/**
 * An Artifact whose bytes the runtime generated itself (a checkpoint set's manifest and pointer),
 * held in memory: adapters upload it through their ordinary `upload`, as they would a staged blob.
 */
import { createHash } from "node:crypto";
import type { BlobReader } from "../blob/blob-reader.ts";
import type { ArtifactEventV1 } from "../contract/schema.ts";
import type { Artifact } from "./destination.ts";

/**
 * The artifact `name` holding `bytes`, written as if `like` (an event of the same project, run
 * and level) had logged it, ordered at `streamSeq`. Its event id is `id`; nothing is staged.
 */
export function generatedArtifact(
  like: ArtifactEventV1,
  o: { id: string; name: string; bytes: Buffer; contentType: string; streamSeq: number },
): Artifact {
  const sha256 = createHash("sha256").update(o.bytes).digest("hex");
  const { set: _, ...base } = like;
  const event: ArtifactEventV1 = {
    ...base,
    id: o.id,
    name: o.name,
    blob: { store: like.blob.store, ref: `${like.project}/${like.run}/${o.id}`, size: o.bytes.length, sha256 },
    contentType: o.contentType,
    metadata: {},
  };
  return {
    event,
    streamSeq: o.streamSeq,
    read: async () => o.bytes,
    openReader: async () => bufferReader(o.bytes),
  };
}

function bufferReader(bytes: Buffer): BlobReader {
  let at = 0;
  return {
    async fill(buf) {
      const n = Math.min(buf.length, bytes.length - at);
      buf.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
    async close() {},
  };
}
