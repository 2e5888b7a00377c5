/**
 * The committed three-node sample (deploy/nats/cluster/) runs as the README says: three real
 * nats-server processes, started from the committed files in that directory with the variables
 * the README's one-host commands set (here on free ports and the test's own store dirs), form a
 * JetStream cluster, and `artifact-bus topology` applies the topology on it at three replicas.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { EVENTS_STREAM, LEDGER_BUCKET } from "@artifact-bus/shared";
import { eventually, freePort } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { SAMPLE_CLUSTER_DIR, sampleClusterConfigs } from "../shared/src/nats/cluster-config.ts";
import { runCli } from "./harness/cli.ts";

const README = readFileSync(resolve(import.meta.dirname, "../README.md"), "utf8");
const NODES = ["n1", "n2", "n3"];

/** The README's commands for one host: the first sh block of its cluster section. */
function oneHostCommands(): string {
  const section = README.slice(README.indexOf("## Running on a three-node cluster"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README: no sh block under 'Running on a three-node cluster'");
  return block;
}

/** Each `$NAME` a node reads (unquoted: "$JS.API..." is a subject): its own and its users file's. */
function variablesRead(): string[] {
  const text = [join(SAMPLE_CLUSTER_DIR, "n1.conf"), join(SAMPLE_CLUSTER_DIR, "../nats-server.conf")]
    .map((f) => readFileSync(f, "utf8"))
    .join("\n")
    .replace(/#.*$/gm, "");
  return [...new Set([...text.matchAll(/(?<!["\w.])\$([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!))].sort();
}

/** `NAME=value` assignments of a shell block (unquoted values only). */
function assignments(block: string): Map<string, string> {
  return new Map([...block.matchAll(/\b([A-Z][A-Z0-9_]*)=([^\s'"\\]*)/g)].map((m) => [m[1]!, m[2]!]));
}

const started: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(
    started.map((p) =>
      p.exitCode !== null || p.signalCode !== null
        ? undefined
        : new Promise<void>((res) => {
            p.once("exit", () => res());
            p.kill("SIGTERM");
          }),
    ),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `nats-server -c <name>.conf` in the sample's directory; resolves once it is ready. */
function startNode(name: string, env: Record<string, string>): Promise<void> {
  const proc = spawn("nats-server", ["-c", `${name}.conf`], {
    cwd: SAMPLE_CLUSTER_DIR,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  started.push(proc);
  let log = "";
  return new Promise((res, rej) => {
    proc.stderr!.on("data", (c: Buffer) => {
      log = (log + c).slice(-8192);
      if (/Server is ready/.test(log)) res();
    });
    proc.once("exit", (code) => rej(new Error(`nats-server ${name} exited with ${code}:\n${log}`)));
  });
}

describe("the three-node cluster sample", () => {
  it("is what the code renders (run `node shared/src/nats/cluster-config.ts` when this fails)", () => {
    for (const [file, text] of Object.entries(sampleClusterConfigs())) {
      expect(readFileSync(join(SAMPLE_CLUSTER_DIR, file), "utf8"), file).toBe(text);
    }
  });

  it("the README's one-host commands start each node from its file and set every variable it reads", () => {
    const block = oneHostCommands();
    expect(block).toContain("cd deploy/nats/cluster");
    expect(block).toContain("nats-server -c n$i.conf");
    const set = assignments(block);
    expect(variablesRead().filter((v) => !set.has(v))).toEqual([]);
  });

  it("started that way on loopback, forms a cluster with a JetStream meta leader and takes the topology at three replicas", async () => {
    const readme = assignments(oneHostCommands());
    const passwords = Object.fromEntries([...readme].filter(([k]) => /^NATS_\w+_PASSWORD$/.test(k)));
    const ports: { client: number; cluster: number; http: number }[] = [];
    for (const _ of NODES) ports.push({ client: await freePort(), cluster: await freePort(), http: await freePort() });
    const routes = JSON.stringify(ports.map((p) => `nats-route://127.0.0.1:${p.cluster}`));
    await Promise.all(
      NODES.map((name, i) => {
        const dir = mkdtempSync(join(tmpdir(), `artifact-bus-sample-${name}-`));
        dirs.push(dir);
        return startNode(name, {
          ...passwords,
          NATS_HOST: "127.0.0.1",
          NATS_ROUTES: routes,
          NATS_PORT: String(ports[i]!.client),
          NATS_CLUSTER_PORT: String(ports[i]!.cluster),
          NATS_HTTP_PORT: String(ports[i]!.http),
          NATS_STORE_DIR: dir,
        });
      }),
    );

    // What the README's curl shows: a meta leader of three (only the leader lists its followers).
    let seen: unknown;
    const meta = await eventually(
      async () => {
        const jsz = (await (await fetch(`http://127.0.0.1:${ports[0]!.http}/jsz`)).json()) as any;
        seen = jsz.meta_cluster;
        const m = jsz.meta_cluster;
        return m?.leader && m.cluster_size === 3 ? m : undefined;
      },
      30_000,
      "a JetStream meta leader in a cluster of three",
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last meta_cluster: ${JSON.stringify(seen)}`);
    });
    expect(NODES).toContain(meta.leader);

    const urls = ports.map((p) => `nats://127.0.0.1:${p.client}`);
    const admin = { user: "admin", pass: readme.get("NATS_ADMIN_PASSWORD")! };
    const r = await runCli(["topology"], {
      ARTIFACT_BUS_NATS_URL: urls.join(","),
      ARTIFACT_BUS_NATS_USER: admin.user,
      ARTIFACT_BUS_NATS_PASSWORD: admin.pass,
      ARTIFACT_BUS_STREAM_REPLICAS: "3",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("topology applied");

    const nc = await connect({ servers: urls, ...admin });
    try {
      const jsm = await jetstreamManager(nc);
      for (const stream of [EVENTS_STREAM, `KV_${LEDGER_BUCKET}`]) {
        expect((await jsm.streams.info(stream)).config.num_replicas, stream).toBe(3);
      }
    } finally {
      await nc.close();
    }
  });
});
