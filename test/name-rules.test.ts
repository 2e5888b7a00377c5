import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  EVENTS_STREAM,
  ensureTopology,
  eventFilter,
  eventSubject,
  InvalidArtifactError,
  parseConfig,
} from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { pythonLogFile as logWithPython } from "./harness/python-log-file.ts";

let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  token = stack.token(["demo"], ["publish", "read"]);
  await stack.reload();
});
afterAll(async () => {
  await stack?.dispose();
});

const put = (name: string) =>
  stack.fetch(`/v1/projects/demo/runs/rules/artifacts/${name}`, token, { method: "PUT", body: "bytes" });

/** Events published for the run `rules` so far. */
async function eventsOfRun(): Promise<number> {
  const info = await (await jetstreamManager(stack.bus.nc)).streams.info(EVENTS_STREAM, {
    subjects_filter: eventFilter("demo", "rules"),
  });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

it("the gateway answers 400 naming the destination and the rule for a hidden name, and publishes nothing", async () => {
  for (const name of [".hidden/x.pt", ".git/config", "ckpt/.tmp/x.pt"]) {
    const r = await put(name);
    const body = (await r.json()) as { detail: string; field?: string };
    expect(r.status, name).toBe(400);
    expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(body.detail).toContain("s3:e2e");
    expect(body.detail).toContain("allowDotSegments");
    expect(body.field).toBe("name");
  }
  expect(await eventsOfRun()).toBe(0);
  // A name it takes still goes through.
  expect((await put("ckpt/x.pt")).status).toBe(202);
});

it("a checkpoint set's `.metadata` (Composer's sharded checkpoint) lands; other hidden names in a set are still refused", async () => {
  const member = (name: string) =>
    stack.fetch(`/v1/projects/demo/runs/rules/artifacts/${name}?set=ck/ep1-ba2`, token, { method: "PUT", body: "x" });
  expect((await member("ck/ep1-ba2/.metadata")).status).toBe(202);
  for (const name of ["ck/ep1-ba2/.env", "ck/ep1-ba2/shard/.metadata"]) {
    const r = await member(name);
    expect(r.status, name).toBe(400);
    expect(((await r.json()) as { detail: string }).detail).toMatch(/s3:e2e: .*allowDotSegments/);
  }
  // The TypeScript publisher: the exemption is for a member of a set only.
  const t = await stack.bus.trainer();
  const target = (set?: { name: string }) =>
    t.publisher.target({ project: "demo", run: "rules", name: "ck/ep1-ba2/.metadata", ...(set ? { set } : {}) });
  expect((await target({ name: "ck/ep1-ba2" })).destinations).toEqual(["s3:e2e"]);
  expect(await target().catch((e) => e)).toBeInstanceOf(InvalidArtifactError);
  await t.close();
});

it("logFile refuses a hidden name with InvalidArtifactError naming the destination; allowed once the topology says so", async () => {
  const t = await stack.bus.trainer();
  const path = join(stack.bus.dir, "rules.bin");
  writeFileSync(path, "x");
  const err = await t.publisher.logFile({ project: "demo", run: "rules", name: ".git/config", path }).catch((e) => e);
  expect(err).toBeInstanceOf(InvalidArtifactError);
  expect((err as Error).message).toMatch(/s3:e2e: .*allowDotSegments/);

  const config = stack.bus.config;
  const apply = (allowDotSegments: boolean) =>
    ensureTopology(stack.bus.nc, {
      stream: config.stream,
      destinations: config.destinations.map((d) => ({ ...d, options: { ...d.options, allowDotSegments } })),
    });
  await apply(true);
  try {
    // Within the publisher's next check of the topology stamp (every 5 s).
    const target = await eventually(
      () => t.publisher.target({ project: "demo", run: "rules", name: ".hydra/config.yaml" }).catch(() => undefined),
      20_000,
      "the hidden name accepted",
    );
    expect(target.destinations).toEqual(["s3:e2e"]);
  } finally {
    await apply(false);
  }
  await t.close();
});

it("a destination that writes files refuses a segment longer than NAME_MAX; one that does not (S3) takes it", async () => {
  const dirDestination = parseConfig({
    destinations: [{ name: "dir:names", filter: { project: "longnames" }, options: { root: stack.bus.dir } }],
  }).destinations;
  await ensureTopology(stack.bus.nc, { stream: stack.bus.config.stream, destinations: dirDestination });
  try {
    const t = await stack.bus.trainer();
    const long = `ckpt/${"x".repeat(253)}.pt`; // a 256-byte segment
    const err = await t.publisher.target({ project: "longnames", run: "r", name: long }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidArtifactError);
    expect((err as Error).message).toMatch(/refused by dir:names: .*longer than 255 bytes/);
    const fits = `ckpt/${"x".repeat(252)}.p`;
    expect((await t.publisher.target({ project: "longnames", run: "r", name: fits })).destinations.sort()).toEqual([
      "dir:names",
      "s3:e2e",
    ]);
    expect((await t.publisher.target({ project: "demo", run: "r", name: long })).destinations).toEqual(["s3:e2e"]);
    await t.close();
  } finally {
    const jsm = await jetstreamManager(stack.bus.nc);
    for (const name of ["dest_dir_names", "replay_dir_names"]) await jsm.consumers.delete(EVENTS_STREAM, name);
  }
});

/** What the Python client over NATS says to `log_file` of `name` (a member of `set`, if given): "accepted" or "refused: <why>". */
const pythonLogFile = (name: string, set?: string) => logWithPython(stack.bus, "rules-py", name, set);

it("the Python client over NATS refuses a hidden name in log_file, naming the destination and the rule, but takes a set's .metadata", async () => {
  expect(await pythonLogFile(".hidden/x.pt")).toMatch(
    /^refused: name: ".hidden\/x.pt" is refused by s3:e2e: .*allowDotSegments/,
  );
  expect((await pythonLogFile("ck/ep1/.metadata", "ck/ep1")).trim()).toBe("accepted");
  expect(await pythonLogFile("ck/ep1/.env", "ck/ep1")).toMatch(
    /^refused: name: "ck\/ep1\/.env" is refused by s3:e2e: .*allowDotSegments/,
  );
});

it("a name a destination writes a checkpoint set's pointer under (ck/latest) is refused at once by the gateway, logFile and the Python client; the pointer stays the set's", async () => {
  const set = "ck/ep1";
  const member = await stack.fetch(
    `/v1/projects/demo/runs/rules/artifacts/${set}/model.pt?set=${set}&setMembers=1`,
    token,
    {
      method: "PUT",
      body: "the checkpoint",
    },
  );
  expect(member.status).toBe(202);
  await eventually(
    async () => ((await stack.s3.getObject("demo/rules/ck/latest"))?.toString() === set ? true : undefined),
    30_000,
    "the set's pointer",
  );
  const before = await eventsOfRun();

  const r = await put("ck/latest");
  const body = (await r.json()) as { detail: string; field?: string };
  expect(r.status).toBe(400);
  expect(body.field).toBe("name");
  expect(body.detail).toMatch(/"ck\/latest" is refused by s3:e2e: .*pointer.*\{dir\}\/latest/);
  expect((await put("latest")).status).toBe(400); // a set at the top has its pointer there
  expect(await eventsOfRun()).toBe(before);

  const t = await stack.bus.trainer();
  const path = join(stack.bus.dir, "pointer.bin");
  writeFileSync(path, "x");
  const err = await t.publisher.logFile({ project: "demo", run: "rules", name: "ck/latest", path }).catch((e) => e);
  await t.close();
  expect(err).toBeInstanceOf(InvalidArtifactError);
  expect((err as Error).message).toMatch(/s3:e2e: .*pointer/);
  expect(await pythonLogFile("ck/latest")).toMatch(/^refused: name: "ck\/latest" is refused by s3:e2e: .*pointer/);

  // Names that only look alike go through.
  expect((await put("ck/latest.pt")).status).toBe(202);
  expect((await put("ck/latest/x.pt")).status).toBe(202);
  expect((await stack.s3.getObject("demo/rules/ck/latest"))?.toString()).toBe(set);
});

it("an event under a pointer's name from a producer that does not check the rule (an older one) dies at the destination naming setPointer; it never lands over the pointer", async () => {
  const t = await stack.bus.trainer();
  // What an older producer (or a raw one) does: stage the bytes, publish the event, no rule checked.
  const id = randomUUID();
  const blob = await t.blobs.get("fs").stageStream(Readable.from([Buffer.from("not a pointer")]), {
    project: "demo",
    run: "rules",
    id,
    sizeHint: 13,
  });
  const event = {
    schema: 1,
    id,
    project: "demo",
    run: "rules",
    name: "ck/latest",
    level: "fit" as const,
    blob,
    contentType: "application/octet-stream",
    metadata: {},
    producer: { host: "older", pid: 1 },
    createdAt: new Date().toISOString(),
  };
  await jetstream(t.nc).publish(eventSubject(event), JSON.stringify(event), { msgID: id });
  const logged = { id };
  await t.close();
  const entry = await stack.bus.ledgerReaches({ id: logged.id, project: "demo", run: "rules" }, "dead", 30_000);
  expect(entry.error).toMatch(/"ck\/latest" .*setPointer "\{dir\}\/latest"/);
  expect((await stack.s3.getObject("demo/rules/ck/latest"))?.toString()).not.toBe("not a pointer");
});
