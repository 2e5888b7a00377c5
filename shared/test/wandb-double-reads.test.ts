/**
 * The W&B API double speaks the official documents and nothing guessed: every official document
 * (verbatim from wandb/wandb) validates against its schema, the input type names no public
 * source confirms are refused by the running double, and a version reads back as the public API
 * and the Go downloader read it (by name and alias, then signed download URLs of the manifest
 * and the files, fetched without credentials).
 */
import {
  b64md5,
  OFFICIAL_DOCUMENTS,
  type ProtocolFile,
  WandbDouble,
  WandbProtocolClient,
  wandbDoubleSchema,
} from "@artifact-bus/testkit";
import { parse, validate } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let double: WandbDouble;
let c: WandbProtocolClient;

beforeAll(async () => {
  double = await WandbDouble.start();
  c = new WandbProtocolClient(double.baseUrl, double.apiKey);
});

afterAll(async () => {
  await double?.dispose();
});

const MEMBERSHIP = OFFICIAL_DOCUMENTS.ArtifactMembershipByName!.query;
const MANIFEST = OFFICIAL_DOCUMENTS.ArtifactManifest!.query;
const FILE_URLS = OFFICIAL_DOCUMENTS.ArtifactFileURLsByManifestEntries!.query;

/** Runs an official document; fails the test unless it answered 200 without errors. */
async function official(query: string, variables: Record<string, unknown>): Promise<any> {
  const { status, body } = await c.post({ query, variables });
  expect(body.errors ?? [], JSON.stringify(body)).toEqual([]);
  expect(status).toBe(200);
  return body.data;
}

describe("WandbDouble: the official documents, and no guessed ones", () => {
  it.each(Object.entries(OFFICIAL_DOCUMENTS))("accepts %s as the official client sends it", (_name, doc) => {
    expect(validate(wandbDoubleSchema, parse(doc.query)).map((e) => e.message)).toEqual([]);
  });

  it.each([
    ["UpsertBucketInput", "upsertBucket", "bucket { id }"],
    ["CreateArtifactManifestInput", "createArtifactManifest", "artifactManifest { id }"],
    ["CreateArtifactFilesInput", "createArtifactFiles", "files { edges { node { id } } }"],
    ["CompleteMultipartUploadArtifactInput", "completeMultipartUploadArtifact", "digest"],
    ["CommitArtifactInput", "commitArtifact", "artifact { id }"],
  ])("refuses the guessed input type %s (400, Unknown type)", async (type, field, selection) => {
    const query = `mutation Guess($input: ${type}!) { ${field}(input: $input) { ${selection} } }`;
    const { status, body } = await c.post({ query, variables: { input: {} } });
    expect(status).toBe(400);
    expect(body.errors[0].message).toBe(`Unknown type "${type}".`);
  });
});

describe("WandbDouble: reading a version back", () => {
  const spec = { entity: "team", project: "reads", run: "r1", name: "hello.txt", type: "file" };
  const file: ProtocolFile = { path: "hello.txt", bytes: Buffer.from("hello") };

  it("by name and alias, then the manifest and the file through their signed download URLs", async () => {
    const logged = await c.logArtifact(spec, [file]);
    const vars = { entity: "team", project: "reads", name: "hello.txt:latest" };
    const membership = (await official(MEMBERSHIP, vars)).project.artifactCollectionMembership;
    expect(membership.artifact).toMatchObject({ id: logged.id, digest: "b47eae474222b4cb909d3545bcb98076" });
    expect(membership.artifactCollection.name).toBe("hello.txt");

    const manifestUrl = (await official(MANIFEST, { artifact_id: logged.id })).artifact.currentManifest.file.directUrl;
    const manifest = (await (await fetch(manifestUrl)).json()) as { contents: Record<string, any> };
    const entry = manifest.contents["hello.txt"];
    expect(entry).toMatchObject({ digest: b64md5(file.bytes), size: 5, birthArtifactID: logged.id });

    const entries = [{ name: "hello.txt", digest: entry.digest, birthArtifactID: entry.birthArtifactID, size: 5 }];
    const urls = await official(FILE_URLS, { id: logged.id, entries, storageLayout: "V2", manifestVersion: "1" });
    const [edge] = urls.artifact.filesByManifestEntries.edges;
    expect(edge.node.name).toBe("hello.txt");
    const res = await fetch(edge.node.directUrl);
    expect([res.status, Buffer.from(await res.arrayBuffer()).toString()]).toEqual([200, "hello"]);

    // A presigned GET takes no credentials, and a download URL cannot write.
    const withAuth = await fetch(edge.node.directUrl, { headers: { authorization: c.auth() } });
    expect(withAuth.status).toBe(400);
    expect((await fetch(edge.node.directUrl, { method: "PUT", body: "x" })).status).toBe(403);
  });

  it("answers null for an unknown project, name or alias, and refuses entries that are not the version's", async () => {
    const logged = await c.logArtifact({ ...spec, name: "other.txt" }, [{ ...file, path: "other.txt" }]);
    expect((await official(MEMBERSHIP, { entity: "team", project: "nope", name: "other.txt:latest" })).project).toBe(
      null,
    );
    const missing = await official(MEMBERSHIP, { entity: "team", project: "reads", name: "other.txt:v7" });
    expect(missing.project.artifactCollectionMembership).toBe(null);
    const entries = [{ name: "other.txt", digest: b64md5("not these bytes") }];
    const { status, body } = await c.post({
      query: FILE_URLS,
      variables: { id: logged.id, entries, storageLayout: "V2", manifestVersion: "1" },
    });
    expect(status).toBe(200);
    expect(body.errors[0].message).toMatch(/digest .* is not the stored/);
  });
});
