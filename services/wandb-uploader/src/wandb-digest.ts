/**
 * The digests W&B checks: a file's is the standard base64 of its MD5; an artifact's (algorithm
 * MANIFEST_MD5) is the lowercase hex MD5 of a header line and one `<path>:<file digest>` line per
 * file, in byte order of the paths.
 */
import { createHash } from "node:crypto";

export function md5Base64(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("base64");
}

/** The MANIFEST_MD5 digest of an artifact whose files have these digests. */
export function manifestDigest(contents: Record<string, string>): string {
  const hash = createHash("md5").update("wandb-artifact-manifest-v1\n");
  const paths = Object.keys(contents).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const path of paths) hash.update(`${path}:${contents[path]}\n`);
  return hash.digest("hex");
}

export interface ManifestEntry {
  digest: string;
  size: number;
  birthArtifactID: string;
}

/** The manifest JSON of an artifact (storage policy v1, layout V2), as the clients write it. */
export function manifestJson(contents: Record<string, ManifestEntry>): string {
  return JSON.stringify({
    version: 1,
    storagePolicy: "wandb-storage-policy-v1",
    storagePolicyConfig: { storageLayout: "V2" },
    contents,
  });
}
