/**
 * Input the gateway must refuse with a 400 naming the part at fault (or, for a Range, ignore as
 * RFC 9110 says), never answer 500, take for the end of a listing, or store garbled; and a body
 * refused after it was staged leaves nothing in staging. Seen over plain HTTP.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { EVENTS_STREAM } from "@artifact-bus/shared";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { rawRequest } from "./harness/raw-http.ts";

const PROBLEM = "https://artifact-bus.dev/problems/";
let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  token = stack.token(["demo"], ["publish", "read"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

const send = (method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string) =>
  rawRequest(stack.url, { method, path, headers: { authorization: `Bearer ${token}`, ...headers }, body });

const put = (run: string, name: string, body: Buffer, headers: Record<string, string> = {}) =>
  send("PUT", `/v1/projects/demo/runs/${run}/artifacts/${name}`, headers, body);

const b64 = (b: Buffer) => createHash("sha256").update(b).digest("base64");

describe("?destination= on a content read", () => {
  it("a value that is no destination name: 400 naming destination, as /v1/dead-letters answers", async () => {
    for (const value of ["", "bogus", "S3:local", "s3:", "%20"]) {
      const r = await send("GET", `/v1/projects/demo/runs/x1/artifacts/a.bin/content?destination=${value}`);
      expect({ value, status: r.status }).toEqual({ value, status: 400 });
      expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, field: "destination" });
    }
  });
});

describe("POST .../artifacts by path", () => {
  it("a path holding a NUL byte: 400 naming path", async () => {
    for (const path of [`${stack.allowedDir}/a.txt\u0000x`, "/some/dir/a.txt\u0000x"]) {
      const r = await send(
        "POST",
        "/v1/projects/demo/runs/f1/artifacts",
        { "content-type": "application/json" },
        JSON.stringify({ name: "n.txt", path }),
      );
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, field: "path" });
    }
  });
});

describe("Artifact-Metadata", () => {
  it("is read as UTF-8: the event holds the very string sent", async () => {
    const json = '{"k":"é☃","esc":"\\u00e9"}';
    // Node's client writes header strings as Latin-1: these chars go out as the UTF-8 bytes.
    const r = await put("m1", "a.bin", randomBytes(100), {
      "artifact-metadata": Buffer.from(json, "utf8").toString("latin1"),
    });
    expect(r.status, r.body.toString()).toBe(202);
    const jsm = await jetstreamManager(stack.bus.nc);
    const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq: Number(r.json?.streamSeq) });
    expect(stored?.json<{ metadata: Record<string, string> }>().metadata).toEqual({ k: "é☃", esc: "é" });
  });

  it("bytes that are no UTF-8: 400 naming the header", async () => {
    const r = await put("m1", "b.bin", randomBytes(100), { "artifact-metadata": '{"k":"\xff"}' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-artifact`, field: "Artifact-Metadata" });
  });
});

describe("a PUT that says the same thing in its query and in a header", () => {
  it("the level or the metadata in both: 400 naming both places, nothing published", async () => {
    const cases: { query: string; headers: Record<string, string>; field: string; header: string }[] = [
      { query: "level=epoch", headers: { "artifact-level": "batch" }, field: "level", header: "Artifact-Level" },
      { query: "level=epoch", headers: { "artifact-level": "epoch" }, field: "level", header: "Artifact-Level" },
      {
        query: `metadata=${encodeURIComponent('{"a":"1"}')}`,
        headers: { "artifact-metadata": '{"a":"2"}' },
        field: "metadata",
        header: "Artifact-Metadata",
      },
    ];
    for (const [i, c] of cases.entries()) {
      const r = await send("PUT", `/v1/projects/demo/runs/q1/artifacts/a${i}.bin?${c.query}`, c.headers, "x");
      expect({ i, status: r.status }).toEqual({ i, status: 400 });
      expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, field: c.field });
      expect(String(r.json?.detail)).toContain(`query parameter ${c.field}`);
      expect(String(r.json?.detail)).toContain(`header ${c.header}`);
    }
    const listing = await send("GET", "/v1/projects/demo/runs/q1/artifacts");
    expect(listing.json).toEqual({ items: [], next: null });
  });

  it("either one alone is taken", async () => {
    const byQuery = await put("q2", "a.bin?level=epoch&metadata=%7B%22a%22%3A%221%22%7D", randomBytes(10));
    expect(byQuery.status, byQuery.body.toString()).toBe(202);
    expect(byQuery.json?.level).toBe("epoch");
    const byHeader = await put("q2", "b.bin", randomBytes(10), {
      "artifact-level": "epoch",
      "artifact-metadata": '{"a":"1"}',
    });
    expect(byHeader.status, byHeader.body.toString()).toBe(202);
    expect(byHeader.json?.level).toBe("epoch");
  });
});

describe("a body refused after it was staged", () => {
  it("leaves nothing in staging (a Content-Type over the event's limit)", async () => {
    const runDir = join(stack.bus.config.staging.dir, "demo", "ct");
    const staged = () => readdirSync(runDir, { recursive: true }).length;
    expect((await put("ct", "first.bin", randomBytes(10))).status).toBe(202);
    const before = staged();
    const r = await put("ct", "o-ct_256", randomBytes(1000), { "content-type": `application/${"x".repeat(244)}` });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-artifact`, field: "contentType" });
    expect(staged()).toBe(before);
  });
});

describe("Content-Digest", () => {
  const bytes = randomBytes(1000);
  const good = `sha-256=:${b64(bytes)}:`;
  const bad = `sha-256=:${b64(randomBytes(10))}:`;

  it("with sha-256 twice, the last one counts (a Structured Fields dictionary)", async () => {
    const last = await put("d2", "a.bin", bytes, { "content-digest": `${bad}, ${good}` });
    expect(last.status, last.body.toString()).toBe(202);
    const first = await put("d2", "b.bin", bytes, { "content-digest": `${good}, ${bad}` });
    expect(first.status).toBe(400);
    expect(first.json).toMatchObject({ type: `${PROBLEM}digest-mismatch`, field: "Content-Digest" });
  });

  it("sent empty: 400, as one without a sha-256 member", async () => {
    const r = await put("d2", "c.bin", bytes, { "content-digest": "" });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, field: "Content-Digest" });
  });
});

describe("listing cursors", () => {
  it("a cursor the gateway never gave: 400 naming cursor, not an empty last page", async () => {
    for (const cursor of ["garbage", "%00", "YQ"]) {
      const r = await send("GET", `/v1/projects/demo/runs/a1/artifacts?cursor=${cursor}`);
      expect({ cursor, status: r.status }).toEqual({ cursor, status: 400 });
      expect(r.json).toMatchObject({ type: `${PROBLEM}invalid-request`, field: "cursor" });
    }
  });

  it("the cursors it gives still page through the run", async () => {
    for (const name of ["a.bin", "b.bin"]) expect((await put("a2", name, randomBytes(10))).status).toBe(202);
    const first = await send("GET", "/v1/projects/demo/runs/a2/artifacts?limit=1");
    expect(first.status).toBe(200);
    const next = first.json?.next as string;
    const second = await send("GET", `/v1/projects/demo/runs/a2/artifacts?limit=1&cursor=${next}`);
    expect(second.status).toBe(200);
    const names = [first, second].flatMap((r) => ((r.json?.items ?? []) as { name: string }[]).map((i) => i.name));
    expect(names.sort()).toEqual(["a.bin", "b.bin"]);
  });
});

describe("Range", () => {
  it("bytes=5-2 (first after last) is no valid range: ignored, the whole content with 200", async () => {
    const bytes = randomBytes(100);
    expect((await put("rg", "a.bin", bytes)).status).toBe(202);
    const wait = await send("POST", "/v1/projects/demo/runs/rg/wait?timeout=30");
    expect(wait.json?.done).toBe(true);
    const r = await send("GET", "/v1/projects/demo/runs/rg/artifacts/a.bin/content", { range: "bytes=5-2" });
    expect(r.status).toBe(200);
    expect(r.body.equals(bytes)).toBe(true);
    // One past the end is still unsatisfiable.
    const past = await send("GET", "/v1/projects/demo/runs/rg/artifacts/a.bin/content", { range: "bytes=100-200" });
    expect(past.status).toBe(416);
  });
});
