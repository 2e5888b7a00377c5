/**
 * Checkpoint sets through the HTTP gateway, seen by a plain HTTP client against real servers
 * (nats-server, the S3 server, an uploader process): members PUT with their set, a set closed by
 * `POST .../sets/close` or by a count known up front, each complete set's manifest and pointer
 * read back through the content endpoint; and a bad set refused with a problem naming the rule.
 */
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { type RawAnswer, rawRequest } from "./harness/raw-http.ts";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const RUN = "/v1/projects/demo/runs/gs";
let stack: GatewayStack;
let publish: string;
let reader: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  publish = stack.token(["demo"], ["publish"]);
  reader = stack.token(["demo"], ["read"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

const put = (name: string, query: string, body: Buffer) =>
  rawRequest(stack.url, {
    method: "PUT",
    path: `${RUN}/artifacts/${name}?${query}`,
    headers: { authorization: `Bearer ${publish}` },
    body,
  });
const close = (body: unknown) =>
  rawRequest(stack.url, {
    method: "POST",
    path: `${RUN}/sets/close`,
    headers: { authorization: `Bearer ${publish}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const content = (name: string, method = "GET") =>
  rawRequest(stack.url, {
    method,
    path: `${RUN}/artifacts/${name}/content`,
    headers: { authorization: `Bearer ${reader}` },
  });

/** Waits until every event of the run is final at every destination (the set's work is done by then). */
async function landed(): Promise<void> {
  const wait = await rawRequest(stack.url, {
    method: "POST",
    path: `${RUN}/wait?timeout=60`,
    headers: { authorization: `Bearer ${reader}` },
  });
  expect(wait.json?.done).toBe(true);
}

/** The set's manifest, read through the gateway, lists exactly `files` with their sizes and sha256. */
async function expectManifest(set: string, files: Record<string, Buffer>, step?: number): Promise<void> {
  const got = await content(`${set}/_set-manifest.json`);
  expect(got.status, got.body.toString()).toBe(200);
  expect(got.headers.etag).toBe(`"${sha256(got.body)}"`);
  const manifest = JSON.parse(got.body.toString());
  expect(manifest).toMatchObject({
    schema: 1,
    set,
    project: "demo",
    run: "gs",
    ...(step === undefined ? {} : { step }),
  });
  const want = Object.entries(files).map(([name, b]) => ({ name, size: b.length, sha256: sha256(b) }));
  expect(
    manifest.members.map((m: Record<string, unknown>) => ({ name: m.name, size: m.size, sha256: m.sha256 })),
  ).toEqual(want.sort((a, b) => a.name.localeCompare(b.name)));
}

const expectProblem = (a: RawAnswer, type: string, detail: RegExp) => {
  expect(a.status, a.body.toString()).toBe(400);
  expect(a.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(String(a.json?.type)).toMatch(new RegExp(`${type}$`));
  expect(String(a.json?.detail)).toMatch(detail);
};

describe("checkpoint sets through the gateway", () => {
  it("members PUT with their set and closed by POST .../sets/close complete: manifest and pointer read back", async () => {
    const set = "checkpoints/ep1-ba100";
    const files = { [`${set}/rank0.pt`]: randomBytes(3000), [`${set}/rank1.pt`]: randomBytes(5000) };
    for (const [name, bytes] of Object.entries(files)) {
      const a = await put(name, `set=${encodeURIComponent(set)}&setStep=100`, bytes);
      expect(a.status, a.body.toString()).toBe(202);
    }
    const closed = await close({ set, members: 2, step: 100 });
    expect(closed.status, closed.body.toString()).toBe(202);
    expect(closed.json).toMatchObject({ name: `${set}/_set-close.json`, project: "demo", run: "gs" });
    await landed();

    await expectManifest(set, files, 100);
    const pointer = await content("checkpoints/latest");
    expect(pointer.status, pointer.body.toString()).toBe(200);
    expect(pointer.body.toString()).toBe(set);
    // HEAD of the set's files: GET's headers, no body.
    for (const name of ["checkpoints/latest", `${set}/_set-manifest.json`]) {
      const [get, head] = [await content(name), await content(name, "HEAD")];
      expect({ name, status: head.status, bytes: head.body.length }).toEqual({ name, status: 200, bytes: 0 });
      for (const h of ["etag", "content-length", "content-type", "artifact-destination"]) {
        expect(head.headers[h], `${name} ${h}`).toBe(get.headers[h]);
      }
    }
    const sets = await rawRequest(stack.url, {
      method: "GET",
      path: `${RUN}/sets`,
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(sets.json?.items).toEqual([expect.objectContaining({ set, state: "complete", landed: 2, expected: 2 })]);

    // The next set, its count known up front: the pointer moves on to it.
    const next = "checkpoints/ep2-ba200";
    const only = { [`${next}/model.pt`]: randomBytes(1000) };
    const a = await put(`${next}/model.pt`, `set=${next}&setMembers=1&setStep=200`, only[`${next}/model.pt`]!);
    expect(a.status, a.body.toString()).toBe(202);
    await landed();
    await expectManifest(next, only, 200);
    expect((await content("checkpoints/latest")).body.toString()).toBe(next);
  });

  it("a file logged by path with its set (POST .../artifacts) completes the set", async () => {
    const set = "bypath/ep1";
    const bytes = randomBytes(2000);
    const path = join(stack.allowedDir, "by-path-member.pt");
    writeFileSync(path, bytes);
    const a = await rawRequest(stack.url, {
      method: "POST",
      path: `${RUN}/artifacts`,
      headers: { authorization: `Bearer ${publish}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `${set}/model.pt`, path, set: { name: set, members: 1, step: 5 } }),
    });
    expect(a.status, a.body.toString()).toBe(202);
    await landed();
    await expectManifest(set, { [`${set}/model.pt`]: bytes }, 5);
    expect((await content("bypath/latest")).body.toString()).toBe(set);
  });

  it("a set of one file, named as it: the pointer names the file once it landed, and no manifest is written", async () => {
    const name = "plain/ep1-ba10-rank0.pt";
    const bytes = randomBytes(1500);
    const a = await put(name, `set=${name}&setMembers=1&setStep=10`, bytes);
    expect(a.status, a.body.toString()).toBe(202);
    await landed();
    expect((await content("plain/latest")).body.toString()).toBe(name);
    expect((await content(name)).body.equals(bytes)).toBe(true);
    expect((await content(`${name}/_set-manifest.json`)).status).toBe(404);
    expectProblem(await put(name, `set=${name}`, bytes), "invalid-artifact", /only a set of one file/);
  });

  it("an Idempotency-Key stands for the set too: a retry is answered again, the key with another set is refused", async () => {
    const bytes = randomBytes(500);
    const send = (set: string) =>
      rawRequest(stack.url, {
        method: "PUT",
        path: `${RUN}/artifacts/idem/ep1/model.pt?set=${set}`,
        headers: { authorization: `Bearer ${publish}`, "idempotency-key": "sets-idem-1" },
        body: bytes,
      });
    const first = await send("idem/ep1");
    expect(first.status, first.body.toString()).toBe(202);
    const retry = await send("idem/ep1");
    expect(retry.status).toBe(202);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.json?.id).toBe(first.json?.id);
    const other = await send("idem");
    expect(other.status, other.body.toString()).toBe(422);
    expect(String(other.json?.type)).toMatch(/idempotency-key-reused$/);
  });

  it("refuses a bad set with a problem naming the rule, before anything is published", async () => {
    const b = Buffer.from("x");
    expectProblem(await put("elsewhere/rank0.pt", "set=checkpoints/ep9", b), "invalid-artifact", /must lie under/);
    expectProblem(
      await put("checkpoints/ep9/_set-manifest.json", "set=checkpoints/ep9", b),
      "invalid-artifact",
      /are a checkpoint set's own/,
    );
    expectProblem(
      await put("checkpoints/ep9/r.pt", "set=checkpoints/ep9&setMembers=0", b),
      "invalid-request",
      /setMembers/,
    );
    expectProblem(await put("checkpoints/ep9/r.pt", "setMembers=2", b), "invalid-request", /need set/);
    expectProblem(await close({ set: "checkpoints/ep9", members: 0 }), "invalid-request", /members/);
    expectProblem(await close({ set: "checkpoints/ep9" }), "invalid-request", /members/);
    expectProblem(await close({ set: "../ep9", members: 2 }), "invalid-artifact", /set\.name|\.\./);
    const sets = await rawRequest(stack.url, {
      method: "GET",
      path: "/v1/projects/demo/runs/gs/sets",
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(((sets.json?.items ?? []) as { set: string }[]).map((s) => s.set)).not.toContain("checkpoints/ep9");
  });
});
