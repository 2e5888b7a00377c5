/**
 * `artifact-bus get --set` as a user runs it (a CLI process) against real servers: nats-server,
 * the S3 server, an S3 uploader and the gateway. A complete set comes back byte-identical through
 * its pointer or its name; a member changed at the destination after its set completed is named
 * and not placed (exit 1); a pointer that does not exist says so (exit 4).
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirs } from "@artifact-bus/testkit";
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./harness/cli.ts";
import { GatewayStack } from "./harness/gateway-stack.ts";

const RUN = "/v1/projects/demo/runs/get";
const temp = tempDirs();
let stack: GatewayStack;
let publish: string;
let reader: string;
let work: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  publish = stack.token(["demo"], ["publish"]);
  reader = stack.token(["demo"], ["read"]);
  await stack.reload();
  work = temp.make("cli-get-set-");
});
afterAll(async () => stack?.dispose());

async function put(name: string, query: string, body: Buffer): Promise<void> {
  const res = await stack.fetch(`${RUN}/artifacts/${name}?${query}`, publish, { method: "PUT", body });
  expect(res.status, await res.text()).toBeLessThan(300);
}

/** Waits until every event of the run is final at every destination (a set's work is done by then). */
async function landed(): Promise<void> {
  const res = await stack.fetch(`${RUN}/wait?timeout=60`, reader, { method: "POST" });
  expect(((await res.json()) as { done?: boolean }).done).toBe(true);
}

const get = (set: string, out: string, token = reader) =>
  runCli(["get", "--project", "demo", "--run", "get", "--set", set, "--out", out, "--gateway", stack.url], {
    ARTIFACT_BUS_TOKEN: token,
  });

const hidden = (dir: string) =>
  readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((p) => /(^|\/)\./.test(p));

describe("artifact-bus get --set", () => {
  const files = { "rank0.pt": randomBytes(70_000), "sub/rank1.pt": randomBytes(3000) };

  beforeAll(async () => {
    for (const [rel, bytes] of Object.entries(files))
      await put(`ck/ep1/${rel}`, "set=ck/ep1&setMembers=2&setStep=7", bytes);
    await landed();
  });

  it("fetches the set the pointer names, byte-identical, the manifest written beside it", async () => {
    const out = join(work, "latest");
    const r = await get("ck/latest", out);
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/^set ck\/ep1 \(step 7\): 2 member\(s\), 73000 bytes/);
    for (const [rel, bytes] of Object.entries(files)) expect(readFileSync(join(out, rel)).equals(bytes)).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out, "_set-manifest.json"), "utf8"));
    expect(manifest).toMatchObject({ set: "ck/ep1", step: 7 });
    expect(hidden(out)).toEqual([]);
    expect(r.stdout + r.stderr).not.toContain(reader);
  });

  it("fetches a set by its own name", async () => {
    const out = join(work, "ep1");
    const r = await get("ck/ep1", out);
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(readFileSync(join(out, "rank0.pt")).equals(files["rank0.pt"])).toBe(true);
  });

  it("a name that is no pointer (a member, larger than a name) exits 1 saying so, reading no more of it", async () => {
    const r = await get("ck/ep1/rank0.pt", join(work, "member"));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/ck\/ep1\/rank0\.pt is no pointer: it is larger than 1024 bytes/);
    expect(existsSync(join(work, "member"))).toBe(false);
  });

  it("a pointer that does not exist exits 4 saying so; a refused token exits 5", async () => {
    const r = await get("nope/latest", join(work, "nope"));
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no pointer nope\/latest, and set nope\/latest has no manifest/);
    const refused = await get("ck/latest", join(work, "refused"), "not-a-token");
    expect(refused.code, refused.stderr).toBe(5);
    expect(refused.stderr).toMatch(/401/);
    expect(existsSync(join(work, "refused"))).toBe(false);
  });

  it("reads from the destination --destination names; one the gateway cannot read is a usage error", async () => {
    const args = ["get", "--project", "demo", "--run", "get", "--gateway", stack.url, "--set", "ck/latest"];
    const env = { ARTIFACT_BUS_TOKEN: reader };
    const out = join(work, "from-e2e");
    const ok = await runCli([...args, "--out", out, "--destination", "s3:e2e"], env);
    expect(ok, ok.stderr).toMatchObject({ code: 0 });
    expect(readFileSync(join(out, "sub/rank1.pt")).equals(files["sub/rank1.pt"])).toBe(true);
    const bad = await runCli([...args, "--out", join(work, "from-nope"), "--destination", "s3:nope"], env);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/s3:nope cannot be read back/) });
    const malformed = await runCli([...args, "--out", join(work, "from-bogus"), "--destination", "bogus"], env);
    expect(malformed).toMatchObject({ code: 2, stderr: expect.stringMatching(/"bogus" must look like <kind>:<name>/) });
  });

  it("a member changed after its set completed exits 1 naming it, and nothing of it is placed", async () => {
    // Changed behind the bus (the bus itself refuses a file logged over a member: below).
    const client = stack.s3.s3Client();
    const key = "demo/get/ck/ep1/rank0.pt";
    const meta = await client.send(new HeadObjectCommand({ Bucket: stack.s3.bucket, Key: key }));
    await client.send(
      new PutObjectCommand({ Bucket: stack.s3.bucket, Key: key, Body: randomBytes(70_000), Metadata: meta.Metadata }),
    );
    client.destroy();
    const out = join(work, "changed");
    const r = await get("ck/ep1", out);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/member ck\/ep1\/rank0\.pt of set ck\/ep1 does not match its manifest/);
    expect(existsSync(join(out, "rank0.pt"))).toBe(false);
    expect(existsSync(join(out, "_set-manifest.json"))).toBe(false);
    expect(hidden(out)).toEqual([]);
  });

  describe("a set of one file (a non-sharded checkpoint: no manifest, its pointer names the file)", () => {
    const file = { name: "ck2/ep1-ba4-rank0.pt", bytes: randomBytes(40_000) };

    beforeAll(async () => {
      await put(file.name, `set=${file.name}&setMembers=1&setStep=4`, file.bytes);
      await landed();
    });

    it("fetches the file its pointer names, checked against the sha256 the gateway names, and no manifest", async () => {
      for (const [how, set] of [
        ["pointer", "ck2/latest"],
        ["name", file.name],
      ] as const) {
        const out = join(work, `file-set-by-${how}`);
        const r = await get(set, out);
        expect(r, r.stderr).toMatchObject({ code: 0 });
        expect(r.stdout).toMatch(/^set ck2\/ep1-ba4-rank0\.pt: 1 member\(s\), 40000 bytes/);
        expect(readFileSync(join(out, "ep1-ba4-rank0.pt")).equals(file.bytes)).toBe(true);
        expect(readdirSync(out)).toEqual(["ep1-ba4-rank0.pt"]);
      }
    });

    it("a file whose bytes at the destination are not the ones logged exits 1 naming it, nothing placed", async () => {
      // The object rots in the bucket: other bytes, the sha256 the uploader recorded in its metadata kept.
      const key = `demo/get/${file.name}`;
      const meta = await stack.s3.s3Client().send(new HeadObjectCommand({ Bucket: stack.s3.bucket, Key: key }));
      const client = stack.s3.s3Client();
      await client.send(
        new PutObjectCommand({ Bucket: stack.s3.bucket, Key: key, Body: randomBytes(40_000), Metadata: meta.Metadata }),
      );
      client.destroy();
      const out = join(work, "file-set-rotten");
      const r = await get("ck2/latest", out);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/ck2\/ep1-ba4-rank0\.pt of set ck2\/ep1-ba4-rank0\.pt does not match/);
      expect(existsSync(join(out, "ep1-ba4-rank0.pt"))).toBe(false);
      expect(existsSync(out) ? hidden(out) : []).toEqual([]);
    });

    it("the file's name logged again outside the set is refused at the destination, naming the set", async () => {
      await put(file.name, "", randomBytes(100));
      const res = await stack.fetch(`${RUN}/wait?timeout=60`, reader, { method: "POST" });
      expect(await res.json()).toMatchObject({ done: true, counts: { dead: 1 } });
      const versions = await stack.fetch(`${RUN}/versions/${file.name}`, reader);
      expect(await versions.text()).toContain(`is a member of checkpoint set \\"${file.name}\\"`);
    });
  });

  it("usage errors exit 2; no gateway is a usage error naming ARTIFACT_BUS_URL", async () => {
    expect((await runCli(["get", "--project", "demo"], {})).code).toBe(2);
    const r = await runCli(["get", "--project", "demo", "--run", "get", "--set", "ck/latest", "--out", work], {});
    expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(/ARTIFACT_BUS_URL/) });
  });
});
