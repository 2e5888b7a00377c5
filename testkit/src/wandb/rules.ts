/**
 * The W&B rules the double enforces on names, values, digests and the manifest JSON, each as the
 * protocol reference (shared/reference/wandb-artifact-protocol.md) states it. A broken rule throws
 * a WandbRuleError whose message names the field and the rule, as the real service's errors do.
 */
import { createHash } from "node:crypto";

/** A business error: answered inside a 200 as a GraphQL `errors[].message`. */
export class WandbRuleError extends Error {
  override readonly name = "WandbRuleError";
}

const COLLECTION = /^[a-zA-Z0-9_\-.]+$/;
const CLIENT_ID = /^[a-z0-9]{128}$/;
const TAG = /^[-\w]+( +[-\w]+)*$/;
const HEX_MD5 = /^[0-9a-f]{32}$/;
const B64_MD5 = /^[A-Za-z0-9+/]{22}==$/;
// W&B refuses these in entity, project and run names (they would break its URLs).
const PATH_CHARS = /[/\\#?%:]/;

/** Throws a WandbRuleError with `message`. */
export function fail(message: string): never {
  throw new WandbRuleError(message);
}

/** An entity, project or run name: non-empty, at most 128 characters, none of `/\#?%:`. */
export function checkPathName(what: string, value: string | null | undefined): string {
  if (!value) fail(`${what} is required`);
  if (value.length > 128 || PATH_CHARS.test(value)) {
    fail(`${what} ${JSON.stringify(value)} is invalid: at most 128 characters, none of / \\ # ? % :`);
  }
  return value;
}

export function checkCollectionName(name: string): void {
  if (!COLLECTION.test(name) || name.length > 128) {
    fail(`artifact name ${JSON.stringify(name)} is invalid: must match ^[a-zA-Z0-9_\\-.]+$, at most 128 characters`);
  }
}

export function checkType(type: string, collection: string): void {
  if (!type) fail("artifactTypeName is required");
  if (type.startsWith("wandb-")) fail(`artifact type ${JSON.stringify(type)} is reserved: types starting wandb- are`);
  if (type === "job") fail('artifact type "job" is reserved');
  if (collection.startsWith("run-") && type !== "run_table") {
    fail(`artifact name ${JSON.stringify(collection)} is reserved: names starting run- are for type run_table`);
  }
  if (collection.startsWith("source-") && type !== "code") {
    fail(`artifact name ${JSON.stringify(collection)} is reserved: names starting source- are for type code`);
  }
}

export function checkAlias(alias: string): void {
  if (!alias || alias.includes("/") || alias.includes(":")) {
    fail(`alias ${JSON.stringify(alias)} is invalid: non-empty, without / or :`);
  }
}

export function checkTag(tag: string): void {
  if (!TAG.test(tag)) fail(`tag ${JSON.stringify(tag)} is invalid: must match ^[-\\w]+( +[-\\w]+)*$`);
}

export function checkClientId(field: string, value: string | null | undefined): void {
  if (!value || !CLIENT_ID.test(value)) fail(`${field} must be 128 characters of [a-z0-9]`);
}

/** Parses `metadata` (a JSONString): a JSON object of at most 100 top-level keys. */
export function parseMetadata(value: unknown): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== "string") fail("metadata must be a JSON string (JSONString)");
  let parsed: unknown;
  try {
    // JSON.parse refuses Infinity and NaN, which W&B refuses too.
    parsed = JSON.parse(value);
  } catch {
    fail("metadata is not valid JSON (±Infinity and NaN are not allowed)");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) fail("metadata must be a JSON object");
  if (Object.keys(parsed).length > 100) fail("metadata has more than 100 top-level keys");
  return parsed as Record<string, unknown>;
}

export function checkHexMd5(field: string, value: string): void {
  if (!HEX_MD5.test(value)) fail(`${field} must be a lowercase hex MD5 (32 characters), got ${JSON.stringify(value)}`);
}

export function checkB64Md5(field: string, value: string): void {
  if (!B64_MD5.test(value)) fail(`${field} must be a base64 MD5 (24 characters), got ${JSON.stringify(value)}`);
}

export function b64ToHex(b64: string): string {
  return Buffer.from(b64, "base64").toString("hex");
}

export function hexToB64(hex: string): string {
  return Buffer.from(hex, "hex").toString("base64");
}

/**
 * MANIFEST_MD5: lowercase hex md5 of "wandb-artifact-manifest-v1\n" then "<path>:<b64 digest>\n"
 * per entry, paths in byte order (UTF-8), which is what Python's sort of str gives.
 */
export function manifestDigest(entries: Iterable<{ path: string; digest: string }>): string {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const hash = createHash("md5").update("wandb-artifact-manifest-v1\n");
  for (const e of sorted) hash.update(`${e.path}:${e.digest}\n`);
  return hash.digest("hex");
}

/** One manifest entry, as the double needs it. */
export interface ManifestEntry {
  path: string;
  digest: string;
  size: number;
  birthArtifactID: string;
}

/** Checks the manifest JSON's shape (extra keys tolerated) and returns its entries. */
export function parseManifest(bytes: Buffer): { json: unknown; entries: ManifestEntry[] } {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    fail("manifest is not valid JSON");
  }
  const m = json as Record<string, any>;
  if (m === null || typeof m !== "object" || Array.isArray(m)) fail("manifest must be a JSON object");
  if (m.version !== 1) fail(`manifest version must be 1, got ${JSON.stringify(m.version)}`);
  if (m.storagePolicy !== "wandb-storage-policy-v1") {
    fail(`manifest storagePolicy must be "wandb-storage-policy-v1", got ${JSON.stringify(m.storagePolicy)}`);
  }
  if (m.storagePolicyConfig?.storageLayout !== "V2") {
    fail(`manifest storagePolicyConfig.storageLayout must be "V2", got ${JSON.stringify(m.storagePolicyConfig)}`);
  }
  const contents = m.contents;
  if (contents === null || typeof contents !== "object" || Array.isArray(contents)) {
    fail("manifest contents must be an object keyed by path");
  }
  const entries: ManifestEntry[] = [];
  for (const [path, entry] of Object.entries(contents as Record<string, any>)) {
    const where = `manifest contents[${JSON.stringify(path)}]`;
    if (entry === null || typeof entry !== "object") fail(`${where} must be an object`);
    if (typeof entry.digest !== "string") fail(`${where}.digest must be a string`);
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) fail(`${where}.size must be a non-negative integer`);
    if (typeof entry.birthArtifactID !== "string") fail(`${where}.birthArtifactID must be a string`);
    entries.push({ path, digest: entry.digest, size: entry.size, birthArtifactID: entry.birthArtifactID });
  }
  return { json, entries };
}
