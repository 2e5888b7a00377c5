/**
 * The Python client (clients/python, standard library only) against a real stack: its unittest
 * suite runs in the Debian python3 on every transport the stack serves, and what it says it
 * logged is checked here independently, by GET and hash of the S3 objects.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { EVENTS_STREAM, ensureTopology, eventFilter, eventSubject, parseConfig } from "@artifact-bus/shared";
import { eventually, sha256 } from "@artifact-bus/testkit";
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const CLIENT = resolve(import.meta.dirname, "../clients/python");
/** Debian's python3, which the client targets (pyenv's or another is used only where it is missing). */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
let gw: GatewayStack;
let token: string;
let outDir: string;

beforeAll(async () => {
  gw = await GatewayStack.start();
  token = gw.token(["*"], ["publish"]);
  await gw.reload();
  outDir = join(gw.bus.dir, "python-out");
  mkdirSync(outDir);
});
afterAll(async () => {
  await gw?.dispose();
});

/** The environment that describes the stack to the client's tests (tests/support.py). */
const pythonEnv = (extraEnv: Record<string, string> = {}) => ({
  ...process.env,
  PYTHONPATH: CLIENT,
  TRANSPORTS: "nats,http",
  ARTIFACT_BUS_NATS_URL: gw.bus.nats.url,
  ARTIFACT_BUS_STAGING_DIR: gw.bus.config.staging.dir,
  ARTIFACT_BUS_URL: gw.url,
  ARTIFACT_BUS_TOKEN: token,
  // Not the user's default spool (<tmpdir>/artifact-bus-spool-<uid>): what a test could not
  // send stays there, and this one goes with the stack's dir.
  ARTIFACT_BUS_SPOOL_DIR: join(gw.bus.dir, "python-spool"),
  OUT_DIR: outDir,
  ...extraEnv,
});

/** Runs python3 with the stack described in its environment; rejects with its output on failure. */
async function python(args: string[], extraEnv: Record<string, string> = {}) {
  const env = pythonEnv(extraEnv);
  try {
    return await promisify(execFile)(PYTHON, args, { cwd: CLIENT, env, timeout: 600_000, maxBuffer: 1 << 24 });
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    throw Object.assign(new Error(`python3 ${args.join(" ")} failed:\n${e.stdout}\n${e.stderr}`), {
      exitCode: e.code,
      stdout: e.stdout ?? "",
    });
  }
}

/** Every S3 object a Python test said it logged, read back and hashed. */
async function checkRecorded(prefix: string) {
  const files = readdirSync(outDir).filter((f) => f.startsWith(prefix));
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const logged = JSON.parse(readFileSync(join(outDir, f), "utf8")) as Record<string, string>;
    for (const [key, hash] of Object.entries(logged)) {
      const got = await eventually(() => gw.s3.getObject(key), 60_000, `s3 object ${key}`);
      expect(sha256(got), key).toBe(hash);
    }
  }
}

describe("the Python client", () => {
  it("passes its unittest suite, and what it logged is in S3 byte for byte", async () => {
    const run = await python(["-m", "unittest", "discover", "-s", "tests", "-t", ".", "-p", "test_*.py", "-v"]);
    expect(run.stderr).toMatch(/\nOK\b/);
    await checkRecorded("training_loop_");
    await checkRecorded("composer_");
    await checkRecorded("agree_");
    // Both transports: the same bytes, content type and metadata (each its own event id).
    const [viaNats, viaHttp] = await Promise.all(
      ["nats", "http"].map(async (t) => {
        const [key] = Object.keys(JSON.parse(readFileSync(join(outDir, `agree_${t}.json`), "utf8")));
        const s3 = gw.s3.s3Client();
        const head = await s3.send(new HeadObjectCommand({ Bucket: gw.s3.bucket, Key: key }));
        s3.destroy();
        const { "artifact-event-id": id, ...metadata } = head.Metadata ?? {};
        expect(id).toMatch(/\S/);
        return { bytes: sha256((await gw.s3.getObject(key!))!), contentType: head.ContentType, metadata };
      }),
    );
    expect(viaHttp).toEqual(viaNats);
    expect(viaNats!.contentType).toBe("application/x-safetensors");
  }, 900_000);

  it("close(timeout) with the destination down names what is pending, and it all lands after recovery", async () => {
    await gw.s3.s3.stop();
    try {
      await python(["-m", "unittest", "tests.down_close_timeout", "-v"]);
    } finally {
      await gw.s3.s3.restart();
    }
    await checkRecorded("down_");
  }, 300_000);

  it("flush() raises FlushError naming an artifact that ended dead, its destination and why, once; close(fail_on_dead=False) only waits", async () => {
    // S3 down: nothing uploads before the script removed the staged bytes of the one that dies.
    await gw.s3.s3.stop();
    const go = join(gw.bus.dir, "dead-close-go");
    const child = spawn(PYTHON, ["-m", "unittest", "tests.dead_close", "-v"], {
      cwd: CLIENT,
      env: pythonEnv({ GO: go }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("exit", r));
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      expect((await lines.next()).value).toBe("ready");
    } finally {
      await gw.s3.s3.restart();
      writeFileSync(go, "");
    }
    expect(await exited, stderr).toBe(0);
    await checkRecorded("dead_");
  }, 300_000);

  it("download_set, download_member and download refuse a set's member changed at the destination behind the bus, naming it", async () => {
    const go = join(gw.bus.dir, "changed-member-go");
    const child = spawn(PYTHON, ["-m", "unittest", "tests.changed_member", "-v"], {
      cwd: CLIENT,
      env: pythonEnv({ GO: go }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("exit", r));
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const keys = JSON.parse(((await lines.next()).value as string | undefined) ?? "{}");
      expect(keys, stderr).toEqual({ keep: expect.any(String), rehash: expect.any(String) });
      // Changed behind the bus, as in test/cli-get-set.test.ts: same size, other bytes. "rehash"
      // also gets the new bytes' sha256 in its metadata, which the gateway names as the ETag.
      const s3 = gw.s3.s3Client();
      try {
        for (const [how, Key] of Object.entries(keys as Record<string, string>)) {
          const head = await s3.send(new HeadObjectCommand({ Bucket: gw.s3.bucket, Key }));
          const Body = randomBytes(Number(head.ContentLength));
          const Metadata = how === "rehash" ? { ...head.Metadata, "artifact-sha256": sha256(Body) } : head.Metadata;
          await s3.send(new PutObjectCommand({ Bucket: gw.s3.bucket, Key, Body, Metadata }));
        }
      } finally {
        s3.destroy();
      }
    } finally {
      writeFileSync(go, "");
    }
    expect(await exited, stderr).toBe(0);
  }, 300_000);

  it("over HTTP, the gateway SIGKILLed mid-run and started again: every artifact lands, each event published once", async () => {
    const run = `gw-restart-${process.pid}`;
    const progressFile = join(outDir, "progress");
    const progress = () => (existsSync(progressFile) ? Number(readFileSync(progressFile, "utf8") || 0) : 0);
    const port = new URL(gw.url).port;
    const client = python(["-m", "unittest", "tests.gateway_restart", "-v"], {
      RUN: run,
      PROGRESS_FILE: progressFile,
    });
    await eventually(() => (progress() >= 10 ? true : undefined), 60_000, "10 artifacts logged");
    await gw.gateway.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 2_000)); // the outage's length, not a wait for a result
    await gw.startGateway({ ARTIFACT_BUS_GATEWAY_PORT: port });
    await client;
    await checkRecorded("gateway_restart");
    // Exactly once: one event per name in the stream, whatever the client retried.
    const jsm = await jetstreamManager(gw.bus.nc);
    const info = await jsm.streams.info(EVENTS_STREAM, { subjects_filter: eventFilter("pyclient", run) });
    const counts = Object.values(info.state.subjects ?? {});
    expect(counts.length).toBe(40);
    expect(counts.every((n) => n === 1)).toBe(true);
  }, 300_000);

  it("over NATS, sees a destination's filter changed by the topology at its next check (names and topology stamp)", async () => {
    const apply = (project: string) => {
      const config = parseConfig({ destinations: [{ name: "s3:pyfilter", filter: { project } }] });
      return ensureTopology(gw.bus.nc, { stream: gw.bus.config.stream, destinations: config.destinations });
    };
    await apply("pyalpha");
    const go = join(gw.bus.dir, "pyfilter-go");
    const script = `
import json, os, sys, time
from artifact_bus._direct import DirectTransport
t = DirectTransport(os.environ["ARTIFACT_BUS_NATS_URL"], os.environ["ARTIFACT_BUS_STAGING_DIR"])
alpha, beta = os.environ["ALPHA"], os.environ["BETA"]
print(json.dumps([t.destinations_of(alpha), t.destinations_of(beta)]), flush=True)
while not os.path.exists(os.environ["GO"]):
    time.sleep(0.05)
started = time.time()
while "s3_pyfilter" not in t.destinations_of(beta) and time.time() - started < 30:
    time.sleep(0.2)
print(json.dumps([t.destinations_of(alpha), t.destinations_of(beta), time.time() - started]), flush=True)
`;
    const subject = (project: string) => eventSubject({ project, run: "r1", level: "fit", name: "m.pt" });
    const child = spawn(PYTHON, ["-c", script], {
      cwd: CLIENT,
      env: {
        ...process.env,
        PYTHONPATH: CLIENT,
        ARTIFACT_BUS_NATS_URL: gw.bus.nats.url,
        ARTIFACT_BUS_STAGING_DIR: gw.bus.config.staging.dir,
        ALPHA: subject("pyalpha"),
        BETA: subject("pybeta"),
        GO: go,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => JSON.parse((await lines.next()).value as string);
    // The first answer comes from a full listing; then the filter moves from pyalpha to pybeta.
    const first = await next();
    await apply("pybeta");
    writeFileSync(go, "");
    const after = await next();
    expect(first[0]).toContain("s3_pyfilter");
    expect(first[1]).not.toContain("s3_pyfilter");
    expect(after[0]).not.toContain("s3_pyfilter");
    expect(after[1]).toContain("s3_pyfilter"); // within its 30 s: at a check, not the hourly listing
    const jsm = await jetstreamManager(gw.bus.nc);
    for (const name of ["dest_s3_pyfilter", "replay_s3_pyfilter"]) await jsm.consumers.delete(EVENTS_STREAM, name);
  });

  it("its CLI over HTTP: put --wait, status by the printed id, get, wait; a missing id or name exits 4", async () => {
    const run = `cli-${process.pid}`;
    const file = join(outDir, "cli-model.pt");
    const data = randomBytes(200_000);
    writeFileSync(file, data);
    const cli = (...args: string[]) =>
      python(["-m", "artifact_bus", "--project", "pyclient", "--run", run, "--json", ...args]).then(
        (out) => ({ code: 0, stdout: out.stdout }),
        (err: { exitCode?: number; stdout: string }) => ({ code: err.exitCode, stdout: err.stdout }),
      );
    const put = await cli("put", file, "--name", "cli/model.pt", "--wait", "60");
    expect(put.code).toBe(0);
    const { id } = JSON.parse(put.stdout) as { id: string };
    const status = await cli("status", id);
    expect(status.code).toBe(0);
    const states = Object.values(JSON.parse(status.stdout).destinations as Record<string, { state: string }>);
    expect(states.map((d) => d.state)).toEqual(["uploaded"]);
    expect((await cli("status", "ik-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")).code).toBe(4);
    const copy = join(outDir, "cli-copy.pt");
    expect((await cli("get", "cli/model.pt", copy)).code).toBe(0);
    expect(readFileSync(copy).equals(data)).toBe(true);
    expect((await cli("get", "cli/none.pt", join(outDir, "none.pt"))).code).toBe(4);
    expect((await cli("wait", "--timeout", "30")).code).toBe(0);
  }, 120_000);
});
