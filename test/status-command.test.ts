/**
 * `artifact-bus status` against the real services: nats-server with the committed users (the
 * command logs in as `admin`), s3rver, an S3 uploader and the HTTP gateway. It answers what the
 * gateway answers (the same code in shared/src/status), shows tables to a person, and exits with
 * the documented codes: 0 landed / healthy, 1 dead / unhealthy, 2 usage, 3 pending, 4 not found,
 * 5 NATS unreachable or refused. A failed checkpoint set is shown with why, in the table as in --json.
 */
import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { UploaderProcess } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./harness/cli.ts";
import { GatewayStack } from "./harness/gateway-stack.ts";

let stack: GatewayStack;
let uploader: UploaderProcess;
let reader: string;

beforeAll(async () => {
  stack = await GatewayStack.start({ secured: true, uploader: false });
  uploader = await stack.bus.startUploader();
  reader = stack.token(["*"], ["read"]);
  await stack.reload();
});
afterAll(async () => stack?.dispose());

const asAdmin = () => ({ ARTIFACT_BUS_CONFIG: stack.bus.configPath, ...stack.bus.login("admin") });
const status = (args: string[], env: Record<string, string> = asAdmin()) => runCli(["status", ...args], env);
const json = (out: string) => JSON.parse(out) as any;

/** Logs files of `run` as the trainer of project demo; returns the logged artifacts. */
async function log(run: string, names: string[]) {
  const t = await stack.bus.trainer();
  const logged = [];
  for (const name of names) {
    const path = join(stack.bus.dir, `${run}-${name.replaceAll("/", "_")}`);
    writeFileSync(path, `${run} ${name}\n`.repeat(100));
    logged.push(await t.publisher.logFile({ project: "demo", run, name, path }));
  }
  return { t, logged };
}

describe("artifact-bus status", () => {
  it("answers as the gateway does for an event, a run and the destinations; exit 0 when all landed", async () => {
    const { t, logged } = await log("st1", ["checkpoints/a.pt", "logs/train.log"]);
    await t.publisher.flush({ timeoutMs: 30_000 });
    await t.close();
    const id = logged[0]!.id;

    const one = await status([id, "--json"]);
    expect(one.code, one.stderr).toBe(0);
    const gatewayOne = await (await stack.fetch(`/v1/artifacts/${id}`, reader)).json();
    expect(json(one.stdout)).toEqual(gatewayOne);
    expect(json(one.stdout).destinations["s3:minio"]).toMatchObject({ state: "uploaded", attempts: 1 });

    const run = await status(["--project", "demo", "--run", "st1", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const gatewayRun = (await (await stack.fetch("/v1/projects/demo/runs/st1/artifacts", reader)).json()) as any;
    expect(json(run.stdout)).toEqual({ project: "demo", run: "st1", items: gatewayRun.items });
    expect(json(run.stdout).items.map((a: any) => a.name)).toEqual(
      expect.arrayContaining(["checkpoints/a.pt", "logs/train.log"]),
    );

    const dests = await status(["--destinations", "--json"]);
    expect(dests.code, dests.stderr).toBe(0);
    const gatewayDests = (await (await stack.fetch("/v1/destinations", reader)).json()) as any;
    expect(json(dests.stdout).destinations).toEqual(
      // The gateway adds what it can tell that status cannot: read-back and the recent upload rate.
      gatewayDests.destinations.map(
        ({ readBack: _, throughput: __, ...d }: { readBack: boolean; throughput: unknown }) => d,
      ),
    );
    expect(json(dests.stdout).destinations[0].paused).toBeNull();
    expect(json(dests.stdout).destinations[0]).toMatchObject({
      name: "s3:minio",
      breaker: "closed",
      replicas: { alive: 1 },
      consumer: { pending: 0, ackPending: 0 },
    });

    // For a person: tables.
    const table = await status([id]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`id       ${id}`);
    expect(table.stdout).toMatch(/DESTINATION +STATE +ATTEMPTS +PROGRESS +UPDATED +DETAIL/);
    expect(table.stdout).toMatch(/s3:minio +uploaded +1 +\S+ +s3:\/\/artifacts\/demo\/st1\/checkpoints\/a\.pt/);
    const runTable = await status(["--project", "demo", "--run", "st1"]);
    expect(runTable.stdout).toMatch(/NAME +SIZE +S3:MINIO +ID/);
    expect(runTable.stdout).toMatch(new RegExp(`checkpoints/a\\.pt +[\\d.]+ KiB +uploaded +${id}`));
    expect(runTable.stdout).toContain("demo/st1: 2 artifact(s); 2 done everywhere, 0 dead somewhere, 0 pending");
    const destTable = await status(["--destinations"]);
    expect(destTable.stdout).toMatch(
      /DESTINATION +BREAKER +PAUSED +ALIVE +PENDING +ACK PENDING +REDELIVERED +DEAD LETTERS/,
    );
    expect(destTable.stdout).toMatch(/s3:minio +closed +no +1\/1 +0 +0 +0 +\d+ +artifacts\.v1\.events\.\S+/);
  });

  it("exit 3 while pending, 1 once dead (and for a destination without a live replica), 0 once landed", async () => {
    await uploader.kill("SIGTERM"); // a clean stop removes its heartbeat: no live replica
    const { t, logged } = await log("st2", ["a.pt", "b.pt"]);
    const [a, b] = logged as [(typeof logged)[0], (typeof logged)[0]];

    // Nothing but the stream knows the event yet (no uploader wrote an entry, no gateway a
    // record): its run is searched for it.
    const unseen = await status([a.id]);
    expect(unseen.code).toBe(4);
    expect(unseen.stderr).toContain("add --project and --run to search its run");
    const pending = await status([a.id, "--project", "demo", "--run", "st2", "--json"]);
    expect(pending.code, pending.stderr).toBe(3);
    expect(json(pending.stdout)).toMatchObject({ done: false, destinations: { "s3:minio": { state: "pending" } } });
    expect((await status(["--project", "demo", "--run", "st2"])).code).toBe(3);
    const down = await status(["--destinations", "--json"]);
    expect(down.code).toBe(1);
    expect(json(down.stdout).destinations[0]).toMatchObject({ breaker: "unknown", replicas: { alive: 0 } });
    expect(json(down.stdout).destinations[0].consumer.pending).toBeGreaterThanOrEqual(2);

    // b's staged bytes vanish before any upload: it dies, a lands.
    rmSync(join(stack.bus.dir, "staging", "demo", "st2", b.id));
    uploader = await stack.bus.startUploader();
    await t.publisher.flush({ timeoutMs: 30_000, failOnDead: false }); // b's death is what status must show
    await t.close();

    const dead = await status([b.id]);
    expect(dead.code, dead.stderr).toBe(1);
    expect(dead.stdout).toMatch(/s3:minio +dead +\d+ .*missing/);
    expect((await status([a.id])).code).toBe(0);
    const run = await status(["--project", "demo", "--run", "st2"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("demo/st2: 2 artifact(s); 1 done everywhere, 1 dead somewhere, 0 pending");
    expect((await status(["--destinations"])).code).toBe(0);
  });

  it("shows why a checkpoint set failed in the table, as --json does", async () => {
    const t = await stack.bus.trainer();
    for (const [file, members] of [
      ["a.pt", 2],
      ["b.pt", 5],
    ] as const) {
      const path = join(stack.bus.dir, `st3-${file}`);
      writeFileSync(path, `st3 ${file}\n`);
      await t.publisher.logFile({
        project: "demo",
        run: "st3",
        name: `ck/ep1/${file}`,
        path,
        set: { name: "ck/ep1", members },
      });
    }
    await t.publisher.flush({ timeoutMs: 30_000 });
    await t.close();
    // The counts in the order the uploader met the two events, which it may take in either order.
    const why = /events disagree on the member count \((2 and 5|5 and 2)\)/;
    const asJson = await status(["--project", "demo", "--run", "st3", "--json"]);
    expect(json(asJson.stdout).sets[0]).toMatchObject({
      set: "ck/ep1",
      state: "failed",
      conflict: expect.stringMatching(why),
    });
    const table = await status(["--project", "demo", "--run", "st3"]);
    expect(table.code, table.stderr).toBe(1);
    expect(table.stdout).toMatch(/ck\/ep1 +s3:minio +failed +2\/[25]/);
    expect(table.stdout).toMatch(why);
  });

  it("exit 4 for what does not exist, 2 for bad arguments, 5 when NATS is unreachable or refuses", async () => {
    const missing = await status([randomUUID(), "--json"]);
    expect(missing.code).toBe(4);
    expect(json(missing.stdout)).toMatchObject({ exitCode: 4, error: expect.stringContaining("no artifact version") });
    expect((await status(["--project", "demo", "--run", "nothing-here"])).code).toBe(4);
    expect((await status([randomUUID(), "--project", "demo", "--run", "st1"])).code).toBe(4);

    const bad = [[], ["--project", "demo"], ["x/y"], ["--destinations", "--project", "demo", "--run", "r"], ["a", "b"]];
    for (const args of bad) {
      const r = await status(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^artifact-bus status: /);
    }
    expect((await status(["--nope"])).code).toBe(2);

    const trainer = await status(["--destinations"], { ...asAdmin(), ...stack.bus.login("trainer-demo") });
    expect(trainer.code).toBe(5);
    expect(trainer.stderr).toMatch(/permission.*use a NATS user that may, e\.g\. admin/i);

    const away = await status(["--destinations"], {
      ...asAdmin(),
      ARTIFACT_BUS_NATS_URL: "nats://127.0.0.1:1",
      ARTIFACT_BUS_NATS_CONNECT_TIMEOUT_MS: "300",
    });
    expect(away.code).toBe(5);
    expect(away.stderr).toContain("nats://127.0.0.1:1");
  });
});
