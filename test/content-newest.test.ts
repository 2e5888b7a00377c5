/**
 * `GET .../artifacts/{name}/content` serves the bytes a destination holds with their own sha256,
 * whatever the history of the name: a version whose bytes landed before its ledger record was
 * written (an uploader that renamed the file into place and crashed before recording it), and a
 * name with more versions than one scan keeps. The dir destination keeps no sha256 of its own,
 * so the gateway cannot take the ETag from the remote. Real processes: nats-server, the dir
 * uploader and the gateway, over HTTP.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { appendTokenRecord, newToken } from "@artifact-bus/shared";
import { sha256, UploaderProcess } from "@artifact-bus/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BusStack } from "./harness/bus-stack.ts";
import { GATEWAY_MAIN } from "./harness/gateway-stack.ts";

const DIR_MAIN = resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts");
let stack: BusStack;
let root: string;
let gateway: UploaderProcess;
let url: string;
let token: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "artifact-bus-content-"));
  stack = await BusStack.start({
    destination: { name: "dir:read", filter: { project: "demo", run: "*", level: "*" }, options: { root } },
    main: DIR_MAIN,
  });
  const tokensFile = join(stack.dir, "tokens.jsonl");
  const issued = newToken({ projects: ["demo"], roles: ["read"] });
  appendTokenRecord(tokensFile, issued.record);
  token = issued.token;
  const configPath = join(stack.dir, "gateway-config.json");
  writeFileSync(configPath, JSON.stringify({ ...stack.config, gateway: { port: 0, tokensFile } }));
  gateway = await UploaderProcess.start({
    main: GATEWAY_MAIN,
    startedMessage: "gateway started",
    env: { ARTIFACT_BUS_CONFIG: configPath },
  });
  url = String((await gateway.waitForLog((l) => l.msg === "gateway started")).url);
});
afterAll(async () => {
  await gateway?.kill("SIGTERM");
  await stack?.dispose();
  rmSync(root, { recursive: true, force: true });
});

const content = (run: string, name: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/projects/demo/runs/${run}/artifacts/${name}/content`, {
    headers: { authorization: `Bearer ${token}`, ...headers },
  });

/** Logs `bytes` as `name` in `run` and waits until it is durable. */
async function log(run: string, name: string, bytes: Buffer) {
  const t = await stack.trainer();
  const path = join(stack.dir, `${run}-${Date.now()}-${Math.random()}`);
  writeFileSync(path, bytes);
  const logged = await (await t.publisher.logFile({ project: "demo", run, name, path })).durable;
  return { t, logged };
}

it("a version whose bytes landed before its record: served with its own sha256, id and size, whole and by Range", async () => {
  const run = "early";
  const v1 = Buffer.alloc(4096, "a");
  const v2 = Buffer.alloc(6000, "b");
  const uploader = await stack.startUploader();
  const first = await log(run, "ckpt/latest.pt", v1);
  await first.t.publisher.flush({ timeoutMs: 30_000 });
  await uploader.kill("SIGTERM");
  const second = await log(run, "ckpt/latest.pt", v2);
  // v2 waits (no uploader): the file is still v1, and it is served as v1.
  const before = await content(run, "ckpt/latest.pt");
  expect(Buffer.from(await before.arrayBuffer())).toEqual(v1);
  expect(before.headers.get("etag")).toBe(`"${sha256(v1)}"`);
  expect(before.headers.get("artifact-id")).toBe(first.logged.id);
  // What an uploader leaves when it renamed v2 into place and died before writing its ledger entry.
  writeFileSync(join(root, "demo", run, "ckpt", "latest.pt"), v2);

  const whole = await content(run, "ckpt/latest.pt");
  const body = Buffer.from(await whole.arrayBuffer());
  expect(whole.status).toBe(200);
  expect(sha256(body)).toBe(sha256(v2));
  expect(whole.headers.get("etag")).toBe(`"${sha256(v2)}"`);
  expect(whole.headers.get("artifact-id")).toBe(second.logged.id);

  const tail = await content(run, "ckpt/latest.pt", { range: "bytes=-100" });
  expect(tail.status).toBe(206);
  expect(tail.headers.get("content-range")).toBe("bytes 5900-5999/6000");
  expect(Buffer.from(await tail.arrayBuffer())).toEqual(v2.subarray(5900));
  await Promise.all([first.t.close(), second.t.close()]);
});

it("a version of the same size that landed before its record: the ETag is the served bytes' sha256", async () => {
  const run = "same-size";
  const v1 = Buffer.alloc(4096, "c");
  const v2 = Buffer.alloc(4096, "d");
  const uploader = await stack.startUploader();
  const first = await log(run, "ckpt/latest.pt", v1);
  await first.t.publisher.flush({ timeoutMs: 30_000 });
  await uploader.kill("SIGTERM");
  const second = await log(run, "ckpt/latest.pt", v2);
  writeFileSync(join(root, "demo", run, "ckpt", "latest.pt"), v2);

  const res = await content(run, "ckpt/latest.pt");
  const body = Buffer.from(await res.arrayBuffer());
  expect(res.headers.get("etag")).toBe(`"${sha256(body)}"`);
  expect(res.headers.get("artifact-id")).toBe(second.logged.id);
  await Promise.all([first.t.close(), second.t.close()]);
});

it("a name with more versions than one scan keeps: the newest landed one is served", async () => {
  const run = "many";
  const t = await stack.trainer();
  const path = join(stack.dir, "many.bin");
  let last = Buffer.alloc(0);
  for (let i = 0; i < 1010; i++) {
    last = Buffer.from(`version ${i}`);
    writeFileSync(path, last);
    await t.publisher.logFile({ project: "demo", run, name: "m.bin", path });
  }
  const uploader = await stack.startUploader();
  await t.publisher.flush({ timeoutMs: 120_000 });
  await uploader.kill("SIGTERM");
  const res = await content(run, "m.bin");
  expect(Buffer.from(await res.arrayBuffer()).toString()).toBe("version 1009");
  expect(res.headers.get("etag")).toBe(`"${sha256(last)}"`);
  await t.close();
}, 180_000);
