/**
 * Reading a checkpoint set back through the HTTP gateway, as the Python client's `download_set`
 * does: the pointer names the set, the manifest lists its members with their sizes and sha256,
 * and each member is checked against it before it is renamed into place, so a resuming trainer
 * never loads a member of another set or a torn file. The manifest is written last. A set of one
 * file has no manifest: its file (named as the set) is checked against the sha256 the gateway
 * names for the version it serves (contract.md section 8, "Reading a set back").
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebStream } from "node:stream/web";
import { SET_MANIFEST_BASENAME, setManifestName } from "../contract/checkpoint-set.ts";
import { checkArtifactName } from "../contract/names.ts";
import { MAX_NAME_BYTES } from "../contract/schema.ts";

/** Where to read: the gateway, a bearer token, the run, and optionally one destination. */
export interface SetSource {
  gateway: string;
  token?: string;
  project: string;
  run: string;
  destination?: string;
}

/** Nothing of that name landed (404 from the gateway). */
export class NotLandedError extends Error {}
/** The set's bytes contradict its manifest, or the manifest or pointer is not what it claims to be. */
export class SetMismatchError extends Error {}
/** `--destination` names no destination the gateway reads back from. */
export class UnreadableDestinationError extends Error {}
/** The gateway answered with something else than the bytes or a 404 (auth, 5xx), or could not be reached. */
export class GatewayError extends Error {}

/** What {@link downloadSet} placed: the set's name, its step, and the members' paths. */
export interface DownloadedSet {
  set: string;
  step?: number;
  files: string[];
  bytes: number;
}

interface ManifestMember {
  name: string;
  size: number;
  sha256: string;
}

/** What a file fetched must be, and whose word that is ("its manifest"). */
interface Expected {
  size?: number;
  sha256: string;
  by: string;
}

const MAX_MANIFEST_BYTES = 16 << 20;

/**
 * Fetches a complete set into `out`: `setOrPointer` is read as a pointer first (its bytes name
 * the set), else taken as the set's name. A member's path in `out` is its name below the set's.
 * Throws {@link NotLandedError}, {@link SetMismatchError} (naming the member; nothing of it is
 * placed) or {@link GatewayError}.
 */
export async function downloadSet(src: SetSource, setOrPointer: string, out: string): Promise<DownloadedSet> {
  checkArtifactName(setOrPointer);
  const set = await setNamed(src, setOrPointer);
  let manifestBytes: Buffer;
  try {
    manifestBytes = await readSmall(src, setManifestName(set), "manifest", MAX_MANIFEST_BYTES);
  } catch (err) {
    if (!(err instanceof NotLandedError)) throw err;
    try {
      return await downloadFileSet(src, set, out); // a set of one file has no manifest
    } catch (err) {
      if (!(err instanceof NotLandedError)) throw err;
    }
    const what = set === setOrPointer ? `no pointer ${setOrPointer}, and set ${set}` : `set ${set}`;
    throw new NotLandedError(
      `${src.project}/${src.run}: ${what} has no manifest, nor a file of its name (not complete at the destination read, or no such set)`,
    );
  }
  const manifest = parseManifest(manifestBytes, set);
  await mkdir(out, { recursive: true });
  const files: string[] = [];
  let bytes = 0;
  for (const member of manifest.members) {
    files.push(await fetchMember(src, set, member, out));
    bytes += member.size;
  }
  const tmp = join(out, `.${SET_MANIFEST_BASENAME}.tmp-${process.pid}`);
  await writeFile(tmp, manifestBytes);
  await rename(tmp, join(out, SET_MANIFEST_BASENAME));
  return { set, ...(manifest.step === undefined ? {} : { step: manifest.step }), files, bytes };
}

/**
 * The set `setOrPointer` names: a pointer's bytes; the name itself when nothing of that name
 * landed (a set's own name) or when it is the file of a set of one file (named as its set).
 */
async function setNamed(src: SetSource, setOrPointer: string): Promise<string> {
  let res: Response;
  try {
    res = await request(src, setOrPointer);
  } catch (err) {
    if (!(err instanceof NotLandedError)) throw err;
    return setOrPointer; // no artifact of that name: the set itself
  }
  if (setOf(res) === setOrPointer) {
    await res.body?.cancel();
    return setOrPointer;
  }
  const set = (await readBody(res, setOrPointer, "pointer", MAX_NAME_BYTES)).toString("utf8").trim();
  try {
    return checkArtifactName(set);
  } catch {
    throw new SetMismatchError(`${setOrPointer} is no pointer: its bytes name no set`);
  }
}

/** The set the version served was logged in (the gateway's `Artifact-Set`), if it says one. */
function setOf(res: Response): string | undefined {
  const header = res.headers.get("artifact-set");
  try {
    return header === null ? undefined : decodeURI(header);
  } catch {
    return undefined; // malformed: says no set
  }
}

/**
 * Fetches set `set` as a set of one file into `out`, under the file's last segment: the newest
 * landed version of the name, which the gateway must say is that set's file (`Artifact-Set`),
 * checked against the sha256 it names for it (ETag; the size it sends). NotLandedError when no
 * file of that name landed.
 */
async function downloadFileSet(src: SetSource, set: string, out: string): Promise<DownloadedSet> {
  const final = join(out, set.slice(set.lastIndexOf("/") + 1));
  const size = await place(src, set, final, `member ${set} of set ${set}`, (res) => {
    if (setOf(res) !== set) {
      throw new SetMismatchError(`set ${set} has no manifest, and the newest ${set} landed is no set of one file's`);
    }
    const sha256 = /^"([0-9a-f]{64})"$/.exec(res.headers.get("etag") ?? "")?.[1];
    if (!sha256)
      throw new SetMismatchError(`the gateway names no sha256 for ${set} (its ETag): nothing to check it by`);
    const length = res.headers.get("content-length");
    return { sha256, ...(length === null ? {} : { size: Number(length) }), by: "the sha256 the gateway names (ETag)" };
  });
  return { set, files: [final], bytes: size };
}

function parseManifest(bytes: Buffer, set: string): { step?: number; members: ManifestMember[] } {
  let m: { set?: unknown; step?: unknown; members?: unknown };
  try {
    m = JSON.parse(bytes.toString("utf8"));
  } catch {
    m = {};
  }
  const members = Array.isArray(m?.members) ? (m.members as ManifestMember[]) : undefined;
  const wellFormed = (x: ManifestMember) =>
    typeof x?.name === "string" && Number.isSafeInteger(x.size) && x.size >= 0 && /^[0-9a-f]{64}$/.test(x.sha256);
  if (m?.set !== set || !members?.every(wellFormed)) {
    throw new SetMismatchError(`${setManifestName(set)} is no manifest of set ${set}`);
  }
  return { ...(typeof m.step === "number" ? { step: m.step } : {}), members };
}

/** Downloads one member to a temporary name beside its place, checks it, then renames it there. */
async function fetchMember(src: SetSource, set: string, member: ManifestMember, out: string): Promise<string> {
  const rel = member.name.startsWith(`${set}/`) ? member.name.slice(set.length + 1) : "";
  try {
    checkArtifactName(rel);
  } catch {
    throw new SetMismatchError(
      `the manifest of ${set} names ${JSON.stringify(member.name)}, which is not under the set`,
    );
  }
  const final = join(out, ...rel.split("/"));
  try {
    await place(src, member.name, final, `member ${member.name} of set ${set}`, () => ({
      ...member,
      by: "its manifest",
    }));
  } catch (err) {
    if (err instanceof NotLandedError) {
      throw new SetMismatchError(`member ${member.name} of set ${set} is listed in its manifest but not there`);
    }
    throw err;
  }
  return final;
}

/**
 * Downloads `name` to a temporary name beside `final`, checks it against what `expect` says of
 * the response (it may throw), then renames it there (nothing of it is placed otherwise); its size.
 */
async function place(
  src: SetSource,
  name: string,
  final: string,
  what: string,
  expect: (res: Response) => Expected,
): Promise<number> {
  const part = join(dirname(final), `.${basename(final)}.set-part-${process.pid}`);
  const hash = createHash("sha256");
  let size = 0;
  let expected: Expected;
  try {
    const res = await request(src, name);
    try {
      expected = expect(res);
    } catch (err) {
      await res.body?.cancel();
      throw err;
    }
    await mkdir(dirname(final), { recursive: true }); // only once there is something to place
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as WebStream<Uint8Array>), count, createWriteStream(part));
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
  const sha = hash.digest("hex");
  if ((expected.size !== undefined && size !== expected.size) || sha !== expected.sha256) {
    await rm(part, { force: true });
    throw new SetMismatchError(
      `${what} does not match ${expected.by}: ${size} bytes, sha256 ${sha}; ` +
        `it says ${expected.size ?? "?"} bytes, sha256 ${expected.sha256}`,
    );
  }
  await rename(part, final);
  return size;
}

/** The bytes of the newest landed version of `name` (a pointer, a manifest), at most `limit`. */
async function readSmall(src: SetSource, name: string, what: string, limit: number): Promise<Buffer> {
  return readBody(await request(src, name), name, what, limit);
}

/** The body of `res` (the bytes of `name`), at most `limit`. */
async function readBody(res: Response, name: string, what: string, limit: number): Promise<Buffer> {
  // Read at most limit + 1 bytes: a pointer's name may turn out to be a 100 GiB shard.
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      chunks.push(Buffer.from(r.value));
      size += r.value.length;
      if (size > limit) throw new SetMismatchError(`${name} is no ${what}: it is larger than ${limit} bytes`);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks);
}

async function request(src: SetSource, name: string): Promise<Response> {
  const path = name.split("/").map(encodeURIComponent).join("/");
  const url = new URL(
    `v1/projects/${encodeURIComponent(src.project)}/runs/${encodeURIComponent(src.run)}/artifacts/${path}/content`,
    src.gateway.endsWith("/") ? src.gateway : `${src.gateway}/`,
  );
  if (src.destination !== undefined) url.searchParams.set("destination", src.destination);
  let res: Response;
  try {
    res = await fetch(url, { headers: src.token ? { authorization: `Bearer ${src.token}` } : {} });
  } catch (err) {
    throw new GatewayError(`gateway ${url.origin} unreachable: ${(err as Error).cause ?? (err as Error).message}`);
  }
  if (res.ok && res.body) return res;
  const { detail, field } = await problemOf(res);
  // 404: a destination it cannot read back from; 400: no destination name at all.
  if ((res.status === 404 || res.status === 400) && field === "destination") {
    throw new UnreadableDestinationError(detail);
  }
  if (res.status === 404) throw new NotLandedError(`${src.project}/${src.run}/${name}: ${detail}`);
  throw new GatewayError(`${src.project}/${src.run}/${name}: gateway answered ${res.status}: ${detail}`);
}

/** The problem document's detail (or the body's start) and the field it blames. */
async function problemOf(res: Response): Promise<{ detail: string; field?: string }> {
  const text = await res.text().catch(() => "");
  try {
    const p = JSON.parse(text) as { detail?: string; title?: string; field?: string };
    return { detail: p.detail ?? p.title ?? res.statusText, ...(p.field ? { field: p.field } : {}) };
  } catch {
    return { detail: text.slice(0, 200) || res.statusText };
  }
}
