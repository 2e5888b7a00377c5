/**
 * An operator pauses one destination (`artifact-bus pause`) on real servers: nats-server, an S3
 * server, an s3-uploader process serving two destinations of one bucket (s3:e2e and s3:mirror).
 * The paused one pulls nothing, not even after its uploader restarts, while the other goes on;
 * `status --destinations` shows the pause; `artifact-bus resume` drains the backlog, each event
 * uploaded in one attempt.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LoggedArtifact } from "@artifact-bus/shared";
import { eventually, freePort, type UploaderProcess } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./harness/cli.ts";
import { S3Stack } from "./harness/s3-stack.ts";

let stack: S3Stack;
let uploader: UploaderProcess;

beforeAll(async () => {
  stack = await S3Stack.start({ mirrorPrefix: "mirror" });
  uploader = await stack.bus.startUploader();
});
afterAll(async () => stack?.dispose());

const env = () => ({ ARTIFACT_BUS_CONFIG: stack.bus.configPath });
const cli = (args: string[]) => runCli(args, env());
const pausedLog = (p: UploaderProcess) =>
  p.waitForLog((l) => l.msg === "paused by an operator" && l.destination === "s3:e2e", 20_000);

describe("pausing a destination", () => {
  it("holds its events in its consumer, across an uploader restart, while another destination goes on; resume drains them", async () => {
    const run = `pause-${process.pid}`;
    const paused = await cli(["pause", "--destination", "s3:e2e", "--reason", "bucket migration"]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toContain("s3:e2e paused by operator: bucket migration");
    await pausedLog(uploader);

    const t = await stack.bus.trainer();
    const logged: LoggedArtifact[] = [];
    const log = async (name: string) => {
      const path = join(stack.bus.dir, `${run}-${name}`);
      writeFileSync(path, `${name}\n`.repeat(1000));
      logged.push(await (await t.publisher.logFile({ project: "vision", run, name, path })).durable);
    };
    for (const name of ["a.bin", "b.bin", "c.bin"]) await log(name);

    // The other destination takes them...
    for (const l of logged) await stack.bus.ledgerReaches(l, "uploaded", 20_000, "s3:mirror");
    // ...while the paused one was not even delivered one: they wait in its consumer.
    const held = async (n: number) => {
      const info = await stack.bus.consumerInfo("s3:e2e");
      expect({ pending: info.num_pending, ackPending: info.num_ack_pending }).toEqual({ pending: n, ackPending: 0 });
      for (const l of logged) expect(await stack.bus.ledger(l)).toBeUndefined();
    };
    await held(3);

    // A replica started while paused reads the pause before it pulls.
    await uploader.kill("SIGKILL");
    const port = await freePort();
    uploader = await stack.bus.startUploader({ ARTIFACT_BUS_METRICS_PORT: String(port) });
    await pausedLog(uploader);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/artifact_bus_destination_paused\{destination="s3:e2e"\} 1/);
    expect(metrics).toMatch(/artifact_bus_destination_paused\{destination="s3:mirror"\} 0/);
    await log("d.bin");
    await stack.bus.ledgerReaches(logged[3]!, "uploaded", 20_000, "s3:mirror");
    await held(4);

    // Status shows the pause, and the replica that holds to it.
    const shown = await eventually(
      async () => {
        const r = await cli(["status", "--destinations", "--json"]);
        const d = JSON.parse(r.stdout).destinations.find((x: { name: string }) => x.name === "s3:e2e");
        return d?.replicas.items.some((i: { alive: boolean; paused?: boolean }) => i.alive && i.paused) ? r : undefined;
      },
      20_000,
      "status to show a live replica holding to the pause",
    );
    const list = JSON.parse(shown.stdout).destinations as { name: string; paused: unknown }[];
    expect(list.find((d) => d.name === "s3:e2e")?.paused).toEqual({
      by: "operator",
      at: expect.any(String),
      reason: "bucket migration",
    });
    expect(list.find((d) => d.name === "s3:mirror")?.paused).toBeNull();
    const table = await cli(["status", "--destinations"]);
    expect(table.stdout).toMatch(/s3:e2e +closed +yes +\d+\/\d+ +4 +0/);
    expect(table.stdout).toMatch(/s3:mirror +closed +no /);
    expect(table.stdout).toContain("s3:e2e paused by operator at");

    const resumed = await cli(["resume", "--destination", "s3:e2e"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain("s3:e2e resumed (paused by operator");
    for (const l of logged) {
      const entry = await stack.bus.ledgerReaches(l, "uploaded", 20_000);
      expect(entry.attempts, l.name).toBe(1);
    }
    await t.publisher.flush({ timeoutMs: 20_000 });
    await t.close();
    expect(await stack.listKeys(`vision/${run}/`)).toHaveLength(4);
    expect((await cli(["resume", "--destination", "s3:e2e"])).stdout).toContain("s3:e2e was not paused");
  });

  it("refuses a missing, malformed or unknown destination with exit 2, naming the flag", async () => {
    const missing = await cli(["pause"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--destination is required");
    const malformed = await cli(["resume", "--destination", "s3 main"]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain("--destination:");
    const unknown = await cli(["pause", "--destination", "s3:nowhere"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("--destination: no destination s3:nowhere");
    expect((await cli(["resume", "--destination", "s3:e2e", "--reason", "x"])).code).toBe(2);
  });

  // Before, `dlq` listed nothing and `dlq replay` said "0 replayed, 0 skipped", both exit 0: a
  // typo looked like an empty DLQ. They take the same check pause does.
  it("dlq and dlq replay refuse an unknown destination as pause does, exit 2", async () => {
    for (const args of [["dlq"], ["dlq", "replay"], ["resume"]]) {
      const r = await cli([...args, "--destination", "s3:nope"]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`artifact-bus ${args[0]}: --destination: no destination s3:nope`);
      expect(r.stdout).toBe("");
    }
    const known = await cli(["dlq", "--destination", "s3:e2e"]);
    expect(known.code, known.stderr).toBe(0);
  });
});
