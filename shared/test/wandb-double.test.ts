/**
 * The W&B API double (testkit/src/wandb/), in its own process, spoken to with plain fetch:
 * the reference sequence and its digest test vector, deduplication, multipart, and a refusal for
 * each kind of bad call, so that the uploader's tests against it mean the protocol was followed.
 */
import { randomBytes } from "node:crypto";
import {
  type ArtifactSpec,
  artifactDigest,
  b64md5,
  expectOk,
  manifestJson,
  type ProtocolFile,
  WandbDouble,
  WandbProtocolClient,
} from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let double: WandbDouble;
let c: WandbProtocolClient;
let n = 0;

beforeAll(async () => {
  double = await WandbDouble.start();
  c = new WandbProtocolClient(double.baseUrl, double.apiKey);
});

afterAll(async () => {
  await double?.dispose();
});

/** A fresh collection on a fresh run, so tests never meet each other's versions. */
async function spec(extra: Partial<ArtifactSpec> = {}): Promise<ArtifactSpec> {
  const s = { entity: "team", project: "proj", run: `run-${++n}`, name: `ckpt-${n}.pt`, type: "model", ...extra };
  await c.upsertBucket(s.entity, s.project, s.run);
  return s;
}

const file = (path: string, text: string | Buffer): ProtocolFile => ({ path, bytes: Buffer.from(text) });
const prep = async (s: ArtifactSpec, files: ProtocolFile[], bend: { digest?: string; manifest?: Buffer }) =>
  (await c.prepare(s, files, bend)).id;

describe("WandbDouble: the protocol as the reference describes it", () => {
  it("logs v0 then v1: the reference digests, latest moves, aliases, metadata, stored bytes", async () => {
    const s = await spec({ aliases: ["ep1-ba100"], metadata: { epoch: 1, batch: 100 }, description: "first" });
    const v0 = await c.logArtifact(s, [file("hello.txt", "hello")]);
    expect(v0).toMatchObject({ state: "COMMITTED", digest: "b47eae474222b4cb909d3545bcb98076" });
    const stored = await double.artifact(`team/proj/${s.name}:v0`);
    expect(stored).toMatchObject({ id: v0.id, version: "v0", type: "model", runName: s.run, description: "first" });
    expect(stored!.aliases.sort()).toEqual(["ep1-ba100", "latest"]);
    expect(stored!.metadata).toEqual({ epoch: 1, batch: 100 });
    expect(stored!.files).toMatchObject([
      { path: "hello.txt", size: 5, digest: "XUFAKrxLKna5cZ2REBfFkg==", birthArtifactID: v0.id },
    ]);
    expect((await double.fileBytes(v0.id, "hello.txt")).toString()).toBe("hello");
    expect(await double.run("team", "proj", s.run)).toEqual({ name: s.run });

    const v1 = await c.logArtifact({ ...s, aliases: ["ep2-ba200"] }, [file("hello.txt", "hello again")]);
    expect((await double.versions("team", "proj", s.name)).map((v) => [v.id, v.version])).toEqual([
      [v0.id, "v0"],
      [v1.id, "v1"],
    ]);
    expect((await double.artifact(`team/proj/${s.name}:latest`))?.id).toBe(v1.id);
    expect((await double.artifact(`team/proj/${s.name}:v0`))?.aliases).toEqual(["ep1-ba100"]);
    const read = await c.call("ArtifactMembershipByName", {
      entity: "team",
      project: "proj",
      name: `${s.name}:ep2-ba200`,
    });
    const artifact = read.project.artifactCollectionMembership.artifact;
    expect(artifact).toMatchObject({
      id: v1.id,
      versionIndex: 1,
      state: "COMMITTED",
      artifactType: { name: "model" },
    });
    expect(JSON.parse(artifact.metadata)).toEqual({ epoch: 1, batch: 100 });
  });

  it("answers COMMITTED for a known digest (no new version) and reuses known file bytes", async () => {
    const s = await spec();
    const v0 = await c.logArtifact(s, [file("a.txt", "A")]);
    await c.logArtifact(s, [file("a.txt", "B")]);
    const again = await c.createArtifact(s, artifactDigest([file("a.txt", "A")]));
    expect(again).toMatchObject({ id: v0.id, state: "COMMITTED" });
    expect((await double.artifact(`team/proj/${s.name}:latest`))?.id).toBe(v0.id);
    expect(await double.versions("team", "proj", s.name)).toHaveLength(2);
    // A file whose bytes the collection holds: no upload URL, and its birth is the older version.
    const v2 = await c.logArtifact(s, [file("a.txt", "A"), file("b.txt", "new")]);
    const files = (await double.artifact(`team/proj/${s.name}:v2`))!.files;
    expect(files.find((f) => f.path === "a.txt")?.birthArtifactID).toBe(v0.id);
    expect(files.find((f) => f.path === "b.txt")?.birthArtifactID).toBe(v2.id);
  });

  it("takes a multipart file: per-part Content-MD5, ETags returned and completed exactly", async () => {
    const s = await spec();
    const f = { path: "big.bin", bytes: randomBytes((11 << 20) + 3), partSize: 5 << 20 };
    const a = await c.createArtifact(s, artifactDigest([f]));
    const m = await c.createManifest(s, a.id, "");
    const [node] = await c.createFiles(a.id, m.id, [f]);
    expect(node.uploadUrl).toEqual(expect.any(String));
    const [p1, p2] = node.uploadMultipartUrls.uploadUrlParts;
    const wrongMd5 = await c.put(
      p1.uploadUrl,
      [`Content-MD5:${b64md5(Buffer.from("x"))}`],
      f.bytes.subarray(0, 5 << 20),
    );
    expect(wrongMd5.status).toBe(400);
    const part2 = f.bytes.subarray(5 << 20, 10 << 20);
    const etag = (await c.put(p2.uploadUrl, [`Content-MD5:${b64md5(part2)}`], part2)).headers.get("etag")!;
    const vars = { artifactID: a.id, storagePath: node.storagePath, uploadID: node.uploadMultipartUrls.uploadID };
    const early = c.call("CompleteMultipartUploadArtifact", {
      ...vars,
      completedParts: [{ partNumber: 2, hexMD5: etag }],
    });
    await expect(early).rejects.toThrow(/completedParts lists 1 parts/);
    await c.upload(node, f);
    await c.putManifest(s, a.id, manifestJson([{ ...f, birthArtifactID: a.id }]));
    await c.commit(a.id);
    const stored = (await double.artifact(`team/proj/${s.name}:v0`))!;
    expect(stored.files[0]).toMatchObject({ size: f.bytes.length, digest: b64md5(f.bytes) });
    expect((await double.fileBytes(a.id, "big.bin")).equals(f.bytes)).toBe(true);
  });

  it("keeps committed artifacts, stored bytes and signed URLs across a kill and restart", async () => {
    const s = await spec();
    const v0 = await c.logArtifact(s, [file("x.txt", "kept")]);
    const f = file("y.txt", "signed before");
    const a = await c.createArtifact(s, artifactDigest([f]));
    const [node] = await c.createFiles(a.id, (await c.createManifest(s, a.id, "")).id, [f]);
    await double.kill();
    await double.restart();
    expect((await double.artifact(`team/proj/${s.name}:latest`))?.id).toBe(v0.id);
    expect((await double.fileBytes(v0.id, "x.txt")).toString()).toBe("kept");
    expect((await c.put(node.uploadUrl, node.uploadHeaders, f.bytes)).status).toBe(200);
  });
});

describe("WandbDouble: refusals", () => {
  it("401 without Basic api:<key>, with a wrong key, and for a revoked key", async () => {
    const body = { query: 'query Artifact { artifact(id: "QXJ0aWZhY3Q6MQ==") { id } }' };
    expect((await c.post(body, null)).status).toBe(401);
    expect((await c.post(body, c.auth("wrong"))).status).toBe(401);
    expect((await c.post(body, `Basic ${Buffer.from(`user:${double.apiKey}`).toString("base64")}`)).status).toBe(401);
    const old = double.apiKey;
    await double.setApiKeys(["fresh-key"]);
    try {
      expect((await c.post(body, c.auth(old))).status).toBe(401);
      expect((await c.post(body, c.auth("fresh-key"))).status).toBe(200);
    } finally {
      await double.setApiKeys([old]);
    }
  });

  it("400 for unknown operations, fields and inputs; 405/404 beside /graphql", async () => {
    const unknownOp = await c.post({ query: "mutation LinkArtifact { linkArtifact(input: {}) { versionIndex } }" });
    expect(unknownOp.status).toBe(400);
    expect(unknownOp.body.errors[0].message).toMatch(/linkArtifact/);
    const unknownField = await c.post({ query: 'query { artifact(id: "x") { id sizeInBytes } }' });
    expect([unknownField.status, unknownField.body.errors[0].message]).toEqual([
      400,
      expect.stringMatching(/sizeInBytes/),
    ]);
    const query =
      "mutation CommitArtifact($artifactID: ID!) { commitArtifact(input: {artifactID: $artifactID}) { artifact { id } } }";
    const wrongType = await c.post({ query, variables: { artifactID: { nested: true } } });
    expect(wrongType.status).toBe(400);
    const extraInput = await c.post({
      query: 'mutation { commitArtifact(input: {artifactID: "x", force: true}) { artifact { id } } }',
    });
    expect(extraInput.status).toBe(400);
    expect((await fetch(`${double.baseUrl}/graphql`)).status).toBe(405);
    expect((await fetch(`${double.baseUrl}/api/v1/anything`, { method: "POST" })).status).toBe(404);
  });

  it("refuses bad names, types, aliases, metadata, runs and a second type for a collection", async () => {
    const s = await spec();
    const refused = (override: Record<string, unknown>, what: RegExp, ss = s) =>
      expect(c.createArtifact(ss, artifactDigest([file("f", "f")]), override)).rejects.toThrow(what);
    await refused({ artifactCollectionName: "a/b.pt" }, /artifact name "a\/b.pt" is invalid/);
    await refused({ artifactCollectionName: "x".repeat(129) }, /artifact name .* is invalid/);
    await refused({ artifactTypeName: "wandb-history" }, /reserved/);
    await refused({ artifactTypeName: "job" }, /reserved/);
    await refused({ aliases: [{ artifactCollectionName: s.name, alias: "ep:1" }] }, /alias "ep:1" is invalid/);
    await refused({ metadata: JSON.stringify([1]) }, /metadata must be a JSON object/);
    await refused({ clientID: "short" }, /clientID must be 128/);
    await refused({ digest: "not-hex" }, /digest must be a lowercase hex MD5/);
    await refused({ runName: "no-such-run" }, /does not exist: call upsertBucket first/);
    await c.logArtifact(s, [file("f", "f")]);
    await refused({ artifactTypeName: "dataset" }, /has type model: a version of type dataset cannot join it/);
    // The Python client's shape names the collection in a list, and that is accepted.
    const py = await c.createArtifact(s, artifactDigest([file("f", "g")]), {
      artifactCollectionName: undefined,
      artifactCollectionNames: [s.name],
    });
    expect(py.state).toBe("PENDING");
  });

  it("refuses calls out of order, naming what is missing", async () => {
    const s = await spec();
    const files = [file("model.pt", "weights")];
    const a = await c.createArtifact(s, artifactDigest(files));
    await expect(c.createFiles(a.id, "QXJ0aWZhY3RNYW5pZmVzdDox", files)).rejects.toThrow(
      /before createArtifactManifest/,
    );
    await expect(c.commit(a.id)).rejects.toThrow(/commitArtifact on artifact .* before createArtifactManifest/);
    const m = await c.createManifest(s, a.id, "");
    const [node] = await c.createFiles(a.id, m.id, files);
    const bytes = manifestJson([{ ...files[0]!, birthArtifactID: a.id }]);
    // The manifest's digest may come before the files are uploaded; the commit may not.
    const withUrl = await c.createManifest(s, a.id, b64md5(bytes));
    await expect(c.commit(a.id)).rejects.toThrow(/before the manifest was uploaded/);
    await expectOk(await c.put(withUrl.file.uploadUrl, withUrl.file.uploadHeaders, bytes));
    await expect(c.commit(a.id)).rejects.toThrow(/before every file was uploaded: model.pt/);
    await c.upload(node, files[0]!);
    expect((await c.commit(a.id)).versionIndex).toBe(0);
    await expect(c.commit(a.id)).rejects.toThrow(/already committed/);
    await expect(c.createFiles(a.id, m.id, files)).rejects.toThrow(/already committed/);
  });

  it("refuses PUTs with Authorization, to unsigned, altered or expired URLs, or with the wrong bytes", async () => {
    const s = await spec();
    const f = file("w.bin", randomBytes(4096));
    const a = await c.createArtifact(s, artifactDigest([f]));
    const [node] = await c.createFiles(a.id, (await c.createManifest(s, a.id, "")).id, [f]);
    expect(node.uploadHeaders).toEqual([`Content-MD5:${b64md5(f.bytes)}`, "Content-Type:application/octet-stream"]);
    const put = (url: string, body = f.bytes, extra = {}) => c.put(url, node.uploadHeaders, body, extra);
    expect((await put(node.uploadUrl, f.bytes, { authorization: c.auth() })).status).toBe(400);
    const altered = node.uploadUrl.replace(
      /signature=(.)/,
      (_: string, ch: string) => `signature=${ch === "0" ? 1 : 0}`,
    );
    expect((await put(altered)).status).toBe(403);
    expect((await put(node.uploadUrl.replace(/expires=\d+/, "expires=9999999999999"))).status).toBe(403);
    expect((await put(`${double.baseUrl}/storage/file/1`)).status).toBe(403);
    const bad = await put(node.uploadUrl, randomBytes(4096));
    expect([bad.status, await bad.text()]).toEqual([400, expect.stringMatching(/BadDigest/)]);
    expect(
      (await c.put(node.uploadUrl, [node.uploadHeaders[0]], f.bytes, { "content-type": "text/plain" })).status,
    ).toBe(400);
    expect((await put(node.uploadUrl)).status).toBe(200);

    const shortLived = await WandbDouble.start({ signedUrlTtlMs: 1 });
    try {
      const sc = new WandbProtocolClient(shortLived.baseUrl, shortLived.apiKey);
      await sc.upsertBucket(s.entity, s.project, s.run);
      const b = await sc.createArtifact(s, artifactDigest([f]));
      const [late] = await sc.createFiles(b.id, (await sc.createManifest(s, b.id, "")).id, [f]);
      await new Promise((r) => setTimeout(r, 20));
      const expired = await sc.put(late.uploadUrl, late.uploadHeaders, f.bytes);
      expect([expired.status, await expired.text()]).toEqual([403, expect.stringMatching(/expired/)]);
    } finally {
      await shortLived.dispose();
    }
  });

  it("refuses a commit whose manifest has the wrong shape, entries or artifact digest", async () => {
    const files = [file("m.pt", "bytes")];
    const refused = async (bend: { digest?: string; manifest?: Buffer }, why: RegExp) =>
      await expect(c.commit(await prep(await spec(), files, bend))).rejects.toThrow(why);
    const v1Layout = manifestJson([{ ...files[0]!, birthArtifactID: "" }])
      .toString()
      .replace('"V2"', '"V1"');
    await refused({ manifest: Buffer.from(v1Layout) }, /storageLayout must be "V2"/);
    await refused({ manifest: Buffer.from('{"version":1}') }, /storagePolicy must be "wandb-storage-policy-v1"/);
    const noBirth = manifestJson([{ ...files[0]!, birthArtifactID: "someone-else" }]);
    await refused({ manifest: noBirth }, /birthArtifactID of m.pt/);
    await refused({ digest: artifactDigest([file("m.pt", "other")]) }, /is not MANIFEST_MD5 of the manifest/);
  });
});

describe("WandbDouble: faults", () => {
  it("answers 429 with Retry-After, then 500, then slowly, then as usual; every request recorded", async () => {
    await double.fault({ target: "graphql", operation: "UpsertBucket", times: 1, status: 429, retryAfter: "2" });
    await double.fault({ target: "graphql", times: 1, status: 500 });
    await double.fault({ target: "graphql", times: 1, delayMs: 300 });
    const since = Date.now();
    const call = () =>
      c.post({
        query:
          'mutation UpsertBucket { upsertBucket(input: {name: "r", modelName: "p", entityName: "e"}) { bucket { id } } }',
      });
    const limited = await call();
    expect([limited.status, limited.headers.get("retry-after")]).toEqual([429, "2"]);
    expect((await call()).status).toBe(500);
    const started = Date.now();
    expect((await call()).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await call()).status).toBe(200);
    const seen = (await double.requests()).filter((r) => r.at >= since).map((r) => `${r.operation} ${r.status}`);
    expect(seen).toEqual(["UpsertBucket 429", "UpsertBucket 500", "UpsertBucket 200", "UpsertBucket 200"]);
  });

  it("drops a PUT mid-body, then takes the retry", async () => {
    const s = await spec();
    const f = file("d.bin", randomBytes(256 << 10));
    const a = await c.createArtifact(s, artifactDigest([f]));
    const [node] = await c.createFiles(a.id, (await c.createManifest(s, a.id, "")).id, [f]);
    await double.fault({ target: "storage", times: 1, dropAfterBytes: 64 << 10 });
    await expect(c.put(node.uploadUrl, node.uploadHeaders, f.bytes)).rejects.toThrow();
    expect((await c.put(node.uploadUrl, node.uploadHeaders, f.bytes)).status).toBe(200);
    const puts = (await double.requests()).filter((r) => r.kind === "storage").slice(-2);
    expect(puts.map((r) => r.status)).toEqual([0, 200]);
    expect(puts[0]!.bytes).toBeLessThan(f.bytes.length);
  });
});
