/**
 * What a Python trainer could not send over HTTP (the gateway down until it exited) is not lost:
 * its held copies keep their requests in the spool, FlushError names the command that sends them,
 * and `python3 -m artifact_bus resend` (the gateway back) lands them byte for byte with their
 * metadata, leaving the spool empty. A resend of what the gateway accepted already (its copy put
 * back, as if the answer had been lost) is answered from the first time: no second version.
 */
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { EVENTS_STREAM, eventFilter } from "@artifact-bus/shared";
import { eventually, sha256 } from "@artifact-bus/testkit";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const CLIENT = resolve(import.meta.dirname, "../clients/python");
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const RUN = `resend-${process.pid}`;
let gw: GatewayStack;
let token: string;
let dir: string;

beforeAll(async () => {
  gw = await GatewayStack.start();
  token = gw.token(["pyresend"], ["publish"]);
  await gw.reload();
  dir = join(gw.bus.dir, "python-resend");
  mkdirSync(join(dir, "out"), { recursive: true });
});
afterAll(async () => gw?.dispose());

/** python3 with the gateway's URL, the token and a private spool; resolves with its exit code and output. */
async function python(args: string[]) {
  const env = {
    ...process.env,
    PYTHONPATH: CLIENT,
    ARTIFACT_BUS_URL: gw.url,
    ARTIFACT_BUS_TOKEN: token,
    ARTIFACT_BUS_SPOOL_DIR: join(dir, "spool"),
    OUT_DIR: join(dir, "out"),
    RUN,
  };
  try {
    const out = await promisify(execFile)(PYTHON, args, { cwd: CLIENT, env, timeout: 120_000 });
    return { code: 0, ...out };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

const resend = async () => {
  const out = await python(["-m", "artifact_bus", "--json", "resend", "--timeout", "60"]);
  expect(out.code, out.stderr).toBe(0);
  return (JSON.parse(out.stdout) as { items: { outcome: string; name: string }[] }).items;
};

describe("the Python client's spool, resent", () => {
  it("what a process left with the gateway down lands with `python3 -m artifact_bus resend`, once", async () => {
    const port = new URL(gw.url).port;
    await gw.gateway.kill("SIGKILL");
    const left = await python(["-m", "tests.spool_left"]);
    await gw.startGateway({ ARTIFACT_BUS_GATEWAY_PORT: port });

    // It exited with FlushError naming both, where they are held and the command that sends them.
    expect(left.code, left.stderr).toBe(1);
    expect(left.stderr).toMatch(/FlushError: .*left\/model\.pt.*left\/notes\.txt/);
    expect(left.stderr).toContain("python3 -m artifact_bus resend");
    // Each held copy has its request next to it: private, and without the token.
    const spool = join(dir, "spool");
    const held = readdirSync(spool).filter((f) => !f.startsWith("."));
    expect(held.length).toBe(4);
    const requests = held.filter((f) => f.endsWith(".json"));
    for (const f of requests) {
      expect(statSync(join(spool, f)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(spool, f), "utf8")).not.toContain(token);
    }
    // Kept aside, to put back after the resend as if its answer had been lost.
    const aside = join(dir, "aside");
    mkdirSync(aside);
    for (const f of held) copyFileSync(join(spool, f), join(aside, f));

    const sent = await resend();
    expect(sent.map((i) => [i.outcome, i.name]).sort()).toEqual([
      ["sent", "left/model.pt"],
      ["sent", "left/notes.txt"],
    ]);
    expect(readdirSync(spool)).toEqual([]);
    // Read back from S3: the same bytes, with the request's metadata and content type.
    const logged = JSON.parse(readFileSync(join(dir, "out", "resend.json"), "utf8")) as Record<string, string>;
    expect(Object.keys(logged).length).toBe(2);
    for (const [key, hash] of Object.entries(logged)) {
      const got = await eventually(() => gw.s3.getObject(key), 60_000, `s3 object ${key}`);
      expect(sha256(got), key).toBe(hash);
      const s3 = gw.s3.s3Client();
      const head = await s3.send(new HeadObjectCommand({ Bucket: gw.s3.bucket, Key: key }));
      s3.destroy();
      expect(head.ContentType).toBe("application/x-resend-test");
      expect(head.Metadata).toMatchObject({ epoch: "3", origin: "spool_left" });
    }

    // The same items again: the gateway answers from the first time, and the spool empties.
    for (const f of held) copyFileSync(join(aside, f), join(spool, f));
    const again = await resend();
    expect(again.map((i) => i.outcome)).toEqual(["accepted before", "accepted before"]);
    expect(readdirSync(spool)).toEqual([]);
    const jsm = await jetstreamManager(gw.bus.nc);
    const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: eventFilter("pyresend", RUN) });
    expect(Object.values(info.state.subjects ?? {})).toEqual([1, 1]);
  }, 300_000);
});
