/**
 * Start-up of the processes we ship: without NATS they say which server they could not reach
 * and exit non-zero within a bounded time instead of hanging; once connected, an outage longer
 * than that bound is only waited out. An uploader's config check validates without connecting.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { connectNats } from "@artifact-bus/shared";
import { NatsServer, tempDirs } from "@artifact-bus/testkit";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");
const CLI = join(root, "shared/src/cli/main.ts");
const S3_UPLOADER = join(root, "services/s3-uploader/src/main.ts");
const work = tempDirs().make("artifact-bus-start-up-");
const file = join(work, "artifact.txt");
writeFileSync(file, "hello\n");

/** A port on 127.0.0.1 that nobody listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, "127.0.0.1", res));
  const { port } = srv.address() as { port: number };
  await new Promise((res) => srv.close(res));
  return port;
}

interface Run {
  code: number | null;
  output: string;
  elapsedMs: number;
}

/** Runs a script on this Node (24) with a clean ARTIFACT_BUS_* environment; killed after 30 s. */
function run(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ARTIFACT_BUS_")));
  const started = Date.now();
  const child = spawn(process.execPath, [script, ...args], {
    cwd: work,
    env: { ...clean, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c));
  child.stderr.on("data", (c: Buffer) => (output += c));
  // A safety net only: a hang fails the assertions below instead of stalling the suite.
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  return new Promise((res) =>
    child.once("exit", (code) => {
      clearTimeout(killer);
      res({ code, output, elapsedMs: Date.now() - started });
    }),
  );
}

describe("NATS unreachable at start", () => {
  it("artifact-bus put exits non-zero in under 10 s, naming the URL (default timeout)", async () => {
    const url = `nats://127.0.0.1:${await closedPort()}`;
    const r = await run(CLI, ["put", "--project", "demo", "--run", "r1", file], { ARTIFACT_BUS_NATS_URL: url });
    expect(r.code, r.output).not.toBe(0);
    expect(r.elapsedMs).toBeLessThan(10_000);
    expect(r.output).toContain(`cannot reach NATS at ${url}`);
  });

  it("masks credentials in the URL it names", async () => {
    const port = await closedPort();
    const r = await run(CLI, ["topology"], {
      ARTIFACT_BUS_NATS_URL: `nats://someone:s3cret-pw@127.0.0.1:${port}`,
      ARTIFACT_BUS_NATS_CONNECT_TIMEOUT_MS: "300",
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain(`nats://***@127.0.0.1:${port}`);
    expect(r.output).not.toContain("s3cret-pw");
  });

  it("an uploader exits non-zero naming the URL, within its configured timeout", async () => {
    const url = `nats://127.0.0.1:${await closedPort()}`;
    const r = await run(S3_UPLOADER, [], {
      ARTIFACT_BUS_NATS_URL: url,
      ARTIFACT_BUS_NATS_CONNECT_TIMEOUT_MS: "1000",
      ARTIFACT_BUS_DESTINATIONS: JSON.stringify([{ name: "s3:main", options: { bucket: "artifacts" } }]),
    });
    expect(r.code, r.output).toBe(1);
    expect(r.elapsedMs).toBeLessThan(10_000);
    expect(r.output).toMatch(new RegExp(`^s3-uploader: NatsConnectError: cannot reach NATS at ${url} within 1000 ms`));
  });

  it("a bad timeout value stops the process naming the field", async () => {
    const r = await run(CLI, ["topology"], { ARTIFACT_BUS_NATS_CONNECT_TIMEOUT_MS: "soon" });
    expect(r.code).toBe(1);
    expect(r.output).toContain("config field nats.connectTimeoutMs");
  });
});

describe("once connected", () => {
  let nats: NatsServer | undefined;
  afterAll(() => nats?.dispose());

  it("an outage longer than the connect timeout is waited out: the connection comes back", async () => {
    nats = await NatsServer.start();
    const nc = await connectNats({ servers: [nats.url], connectTimeoutMs: 200 }, { name: "start-up-test" });
    try {
      // Each reconnect attempt (250 ms apart) says "reconnecting"; three of them outlast the
      // 200 ms connect timeout.
      let attempts = 0;
      let downLongEnough!: () => void;
      const outlasted = new Promise<void>((res) => (downLongEnough = res));
      const reconnected = (async () => {
        for await (const s of nc.status()) {
          if (s.type === "reconnecting" && ++attempts === 3) downLongEnough();
          if (s.type === "reconnect") return;
        }
      })();
      await nats.stop();
      await outlasted;
      await nats.restart();
      await reconnected;
      expect(nc.isClosed()).toBe(false);
      await nc.flush();
    } finally {
      await nc.close();
    }
  });
});

describe("a server whose JetStream the account lacks", () => {
  let nats: NatsServer | undefined;
  afterAll(() => nats?.dispose());

  // Waiting out "not now" errors at start must not wait out "never": an account without
  // JetStream answers every JetStream request with an error no wait can mend.
  it("an uploader exits 1 at once naming JetStream, instead of waiting for it", async () => {
    nats = await NatsServer.start({ config: 'accounts { NOJS: { users: [{ user: "u", password: "p" }] } }' });
    const r = await run(S3_UPLOADER, [], {
      ARTIFACT_BUS_NATS_URL: nats.url,
      ARTIFACT_BUS_NATS_USER: "u",
      ARTIFACT_BUS_NATS_PASSWORD: "p",
      ARTIFACT_BUS_DESTINATIONS: JSON.stringify([{ name: "s3:main", options: { bucket: "artifacts" } }]),
    });
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/jetstream/i);
    expect(r.output).not.toContain("JetStream not available yet, waiting");
  });
});

describe("uploader config check (--check-config, ARTIFACT_BUS_CHECK_CONFIG=1)", () => {
  const unreachable = "nats://127.0.0.1:1";

  it("validates the destinations it serves and exits 0 without connecting", async () => {
    const r = await run(S3_UPLOADER, ["--check-config"], {
      ARTIFACT_BUS_NATS_URL: unreachable,
      ARTIFACT_BUS_DESTINATIONS: JSON.stringify([{ name: "s3:main", options: { bucket: "artifacts" } }]),
    });
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain("s3-uploader: config ok, serving s3:main");
  });

  it("exits 1 naming the bad destination option", async () => {
    const r = await run(S3_UPLOADER, [], {
      ARTIFACT_BUS_CHECK_CONFIG: "1",
      ARTIFACT_BUS_NATS_URL: unreachable,
      ARTIFACT_BUS_DESTINATIONS: JSON.stringify([{ name: "s3:main", options: { bucket: "artifacts", queueSize: 0 } }]),
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain("s3:main: options.queueSize");
  });

  it("exits 1 when the part buffers cannot hold one whole PUT of the cutoff (it would wait forever)", async () => {
    const options = { bucket: "artifacts", uploadCutoffBytes: 64 * 1024 * 1024, partBuffers: 7 };
    const r = await run(S3_UPLOADER, [], {
      ARTIFACT_BUS_CHECK_CONFIG: "1",
      ARTIFACT_BUS_NATS_URL: unreachable,
      ARTIFACT_BUS_DESTINATIONS: JSON.stringify([{ name: "s3:main", options }]),
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain("s3:main: options.partBuffers: 7 buffers cannot hold");
  });

  it("exits 1 when no destination of its kind is configured", async () => {
    const r = await run(S3_UPLOADER, ["--check-config"], { ARTIFACT_BUS_NATS_URL: unreachable });
    expect(r.code).toBe(1);
    expect(r.output).toContain("no s3:* destination configured (config field destinations)");
  });
});
