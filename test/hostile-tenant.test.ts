import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  ArtifactPublisher,
  artifactKey,
  blobKey,
  eventSubject,
  FsBlobStore,
  LEDGER_BUCKET,
  openBlobStores,
} from "@artifact-bus/shared";
import { eventually, sha256, type UploaderProcess, writeRandomFile } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Trainer } from "./harness/bus-stack.ts";
import { runCli } from "./harness/cli.ts";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { RawProducer, withUploader as withBusUploader } from "./harness/raw-producer.ts";

let stack: GatewayStack;
let trainer: Trainer;
let operator: ArtifactPublisher;
let staging: FsBlobStore;
let raw: RawProducer;
const newId = () => raw.newId();
const LEDGER_STREAM = `KV_${LEDGER_BUCKET}`;
const PYTHON_CLIENT = resolve(import.meta.dirname, "../clients/python");
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

beforeAll(async () => {
  // One upload at a time: the order in which the uploader meets messages is the stream's.
  stack = await GatewayStack.start({ secured: true, uploader: false, destination: { concurrency: 1 } });
  trainer = await stack.bus.trainer();
  staging = new FsBlobStore(stack.bus.config.staging.dir);
  raw = new RawProducer(trainer.nc, staging, stack.bus.dir);
  // The victim's artifacts are logged by someone allowed to: the operator.
  operator = await ArtifactPublisher.create({
    nc: stack.bus.nc,
    blobStore: (await openBlobStores(stack.bus.config.staging)).get("fs"),
  });
});
afterAll(async () => {
  await trainer?.close();
  await stack?.dispose();
});

const withUploader = <T>(fn: (u: UploaderProcess) => Promise<T>) => withBusUploader(stack.bus, fn);

/** A token, known to the running gateway. */
async function token(projects: string[], roles: ("read" | "publish" | "admin")[]): Promise<string> {
  const t = stack.token(projects, roles);
  await stack.reload();
  return t;
}

async function getJson(path: string, tok: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await stack.fetch(path, tok);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A well-formed event of project demo, its blob staged, before any forgery. */
const demoEvent = (run: string, name: string, bytes: Buffer) => raw.event("demo", run, name, bytes);
/** Publishes `body` as trainer-demo on `subject`, raw, as a producer in any language could; returns its stream sequence. */
const publishRaw = (subject: string, body: unknown, msgID: string) => raw.publish(subject, body, msgID);

/** The dead letter of the message at stream sequence `seq`, once the uploader wrote it. */
function letterOfSeq(seq: number) {
  return eventually(
    async () => (await stack.bus.deadLetters()).find((l) => l.streamSeq === seq),
    20_000,
    `the dead letter of stream sequence ${seq}`,
  );
}

/** The victim's artifact, logged by the operator and landed. */
async function victimArtifact(run: string, name: string) {
  const path = join(stack.bus.dir, `${newId()}.pt`);
  const bytes = writeRandomFile(path, 5000);
  const logged = await operator.logFile({ project: "victim", run, name, path });
  const { streamSeq } = await logged.durable;
  return { id: logged.id, bytes, streamSeq };
}

describe("a hostile tenant", () => {
  it("publishes a body claiming the victim's project and id on its own subject: no read of either project shows it", async () => {
    const demoRead = await token(["demo"], ["read"]);
    const victimRead = await token(["victim"], ["read"]);
    await withUploader(async () => {
      const victim = await victimArtifact("r1", "models/best.pt");
      await operator.flush({ timeoutMs: 20_000 });
      const forged = await demoEvent("r1", "forged.pt", Buffer.from("attacker bytes"));
      const claim = { ...forged, project: "victim", id: victim.id }; // on demo's own subject
      await letterOfSeq(await publishRaw(eventSubject(forged), claim, forged.id));

      const demoRun = await getJson("/v1/projects/demo/runs/r1/artifacts", demoRead);
      expect(demoRun.status).toBe(200);
      expect(demoRun.body.items).toEqual([]);
      const own = await getJson(`/v1/artifacts/${victim.id}`, victimRead);
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ project: "victim", name: "models/best.pt", sha256: sha256(victim.bytes) });
      // The id is the victim's: for demo's token there is no such version among its projects.
      expect((await getJson(`/v1/artifacts/${victim.id}`, demoRead)).status).toBe(404);
    });
  });

  it("publishes a body nobody can decode into a run: listing, wait and status of the run skip it", async () => {
    const demoRead = await token(["demo"], ["read"]);
    await withUploader(async () => {
      const path = join(stack.bus.dir, `${newId()}.pt`);
      writeRandomFile(path, 1000);
      const good = await trainer.publisher.logFile({ project: "demo", run: "r2", name: "good.pt", path });
      await good.durable;
      const junk = eventSubject({ project: "demo", run: "r2", level: "fit", name: "junk.pt" });
      expect(junk.endsWith(artifactKey("junk.pt"))).toBe(true);
      await letterOfSeq(await publishRaw(junk, "{ this is not json", newId()));
      await trainer.publisher.flush({ timeoutMs: 20_000 });

      const list = await getJson("/v1/projects/demo/runs/r2/artifacts", demoRead);
      expect(list.status).toBe(200);
      expect((list.body.items as { id: string }[]).map((i) => i.id)).toEqual([good.id]);
      const wait = await stack.fetch("/v1/projects/demo/runs/r2/wait?timeout=20", demoRead, { method: "POST" });
      expect(wait.status).toBe(200);
      expect(await wait.json()).toMatchObject({ done: true });
      const env = { ARTIFACT_BUS_CONFIG: stack.bus.configPath, ...stack.bus.login("admin") };
      const status = await runCli(["status", "--project", "demo", "--run", "r2", "--json"], env);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).items.map((i: { id: string }) => i.id)).toEqual([good.id]);
      expect(status.stderr).toMatch(/skipped 1 message/);
    });
  });

  it("as an admin of its own project: sees and replays only that project's dead letters", async () => {
    const demoAdmin = await token(["demo"], ["admin"]);
    const operatorToken = await token(["*"], ["admin"]);
    // A victim artifact whose blob vanished before upload: dead, and replayable by its own operators.
    const victim = await victimArtifact("r3", "lost.pt");
    await staging.remove({ store: "fs", ref: blobKey("victim", "r3", victim.id) });
    // And one of demo's own: a forged body, dead as invalid.
    const forged = await demoEvent("r3", "mine.pt", Buffer.from("x"));
    const demoSeq = await publishRaw(eventSubject(forged), { ...forged, run: "elsewhere" }, forged.id);
    await withUploader(async () => {
      await letterOfSeq(victim.streamSeq);
      await letterOfSeq(demoSeq);
    });
    const victimRef = { id: victim.id, project: "victim", run: "r3" };
    const deadBefore = await stack.bus.ledger(victimRef);
    expect(deadBefore).toMatchObject({ state: "dead" });

    const seen = await getJson("/v1/dead-letters?limit=1000", demoAdmin);
    expect(seen.status).toBe(200);
    const letters = seen.body.items as { subject: string; streamSeq: number; seq: number }[];
    expect(letters.map((l) => l.streamSeq)).toContain(demoSeq);
    expect(letters.every((l) => l.subject.startsWith("artifacts.v1.events.demo."))).toBe(true);
    const all = (await getJson("/v1/dead-letters?limit=1000", operatorToken)).body.items as typeof letters;
    const victimLetter = all.find((l) => l.streamSeq === victim.streamSeq);
    expect(victimLetter).toBeDefined();

    for (const body of [
      { destination: stack.bus.destination },
      { destination: stack.bus.destination, seqs: [victimLetter!.seq] },
    ]) {
      const res = await stack.fetch("/v1/dead-letters/replay", demoAdmin, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      const { results } = (await res.json()) as { results: { dlqSeq: number }[] };
      expect(results.map((r) => r.dlqSeq)).not.toContain(victimLetter!.seq);
    }
    // Nothing was queued for the victim: its entry is the same dead one.
    expect(await stack.bus.ledger(victimRef)).toEqual(deadBefore);
  });

  it("publishes a message carrying another event's id ahead of it: the message dies alone, the event lands", async () => {
    const bytes = Buffer.from(`the real checkpoint ${newId()}`);
    const real = await demoEvent("r4", "ckpt.pt", bytes);
    const squatter = { ...real, blob: { ...real.blob, ref: `demo/r4/${real.id}-elsewhere` } };
    const squatterSeq = await publishRaw(eventSubject(real), squatter, `${real.id}-squatter`);
    const realSeq = await publishRaw(eventSubject(real), real, real.id);
    expect(realSeq).toBeGreaterThan(squatterSeq);
    await withUploader(async () => {
      const entry = await stack.bus.ledgerReaches({ id: real.id, project: "demo", run: "r4" }, "uploaded");
      expect(entry.streamSeq).toBe(realSeq);
      expect(await stack.s3.getObject("demo/r4/ckpt.pt")).toEqual(bytes);
      const letter = await letterOfSeq(squatterSeq);
      expect(letter.reason).toMatch(/blob\.ref/);
    });
  });

  it("reads another project's artifact states over NATS: every way to the ledger refuses it", async () => {
    const victim = await victimArtifact("r5", "secret-name.pt");
    await withUploader(() => stack.bus.ledgerReaches({ id: victim.id, project: "victim", run: "r5" }, "uploaded"));
    const key = `ev.${stack.bus.token}.victim.r5.${victim.id}`;
    const refused = (p: Promise<unknown>, subject: string) =>
      expect(p).rejects.toThrow(`Permissions Violation for Publish to "${subject}`);
    const jsm = await jetstreamManager(trainer.nc);
    // A message get names the subject in its body, where no permission can see it.
    await refused(
      jsm.streams.getMessage(LEDGER_STREAM, { last_by_subj: `$KV.${LEDGER_BUCKET}.${key}` }),
      `$JS.API.STREAM.MSG.GET.${LEDGER_STREAM}`,
    );
    await refused(jsm.streams.getMessage(LEDGER_STREAM, { seq: 1 }), `$JS.API.STREAM.MSG.GET.${LEDGER_STREAM}`);
    // A direct get names it in the request subject: only the trainer's own project's keys pass.
    await refused(
      jsm.direct.getMessage(LEDGER_STREAM, { last_by_subj: `$KV.${LEDGER_BUCKET}.${key}` }),
      `$JS.API.DIRECT.GET.${LEDGER_STREAM}.$KV.${LEDGER_BUCKET}.ev.${stack.bus.token}.victim`,
    );
    await refused(jsm.direct.getMessage(LEDGER_STREAM, { seq: 1 }), `$JS.API.DIRECT.GET.${LEDGER_STREAM}`);
    // A watch (a consumer) of the victim's keys, and one whose body asks for more than its subject says.
    const kv = await new Kvm(trainer.nc).open(LEDGER_BUCKET);
    await refused(kv.watch({ key: "ev.*.victim.>" }), `$JS.API.CONSUMER.CREATE.${LEDGER_STREAM}`);
    const ownFilter = `$KV.${LEDGER_BUCKET}.ev.*.demo.>`;
    const forgedCreate = await trainer.nc.request(
      `$JS.API.CONSUMER.CREATE.${LEDGER_STREAM}.peek.${ownFilter}`,
      JSON.stringify({
        stream_name: LEDGER_STREAM,
        config: { name: "peek", filter_subject: `$KV.${LEDGER_BUCKET}.ev.*.victim.>`, ack_policy: "none" },
      }),
    );
    expect(forgedCreate.json<{ error?: { description: string } }>().error?.description).toMatch(
      /did not match filtered subject/i,
    );
    // The trainer's own entries it reads as before (flush relies on them).
    const own = await demoEvent("r5", "mine.pt", Buffer.from(`own ${newId()}`));
    await publishRaw(eventSubject(own), own, own.id);
    await withUploader(() => stack.bus.ledgerReaches({ id: own.id, project: "demo", run: "r5" }, "uploaded"));
    const mine = await new Kvm(trainer.nc).open(LEDGER_BUCKET, { allow_direct: true });
    const entry = await mine.get(`ev.${stack.bus.token}.demo.r5.${own.id}`);
    expect(entry?.json<{ state: string }>().state).toBe("uploaded");
  });

  it("as a Python trainer: logs and flushes its own artifacts over NATS, and reads none of the victim's", async () => {
    const victim = await victimArtifact("r6", "secret.pt");
    await withUploader(() => stack.bus.ledgerReaches({ id: victim.id, project: "victim", run: "r6" }, "uploaded"));
    const path = join(stack.bus.dir, `${newId()}.pt`);
    const bytes = writeRandomFile(path, 3000);
    const script = `
import json, os, sys
from artifact_bus import ArtifactClient
from artifact_bus._nats import NatsError
client = ArtifactClient.from_env(project="demo", run="r6")
client.log_file(sys.argv[1], name="python.pt")
client.flush(timeout=60)
try:
    client.transport._ledger_value(sys.argv[2])
    print(json.dumps({"victim": "read"}))
except NatsError as err:
    print(json.dumps({"victim": str(err)}))
client.close()
`;
    const victimKey = `ev.${stack.bus.token}.victim.r6.${victim.id}`;
    const run = withUploader(() =>
      promisify(execFile)(PYTHON, ["-c", script, path, victimKey], {
        cwd: PYTHON_CLIENT,
        env: {
          ...process.env,
          PYTHONPATH: PYTHON_CLIENT,
          ARTIFACT_BUS_NATS_URL: stack.bus.nats.url,
          ARTIFACT_BUS_STAGING_DIR: stack.bus.config.staging.dir,
          ...stack.bus.login("trainer-demo"),
        },
        timeout: 120_000,
      }),
    );
    const { stdout } = await run;
    expect(JSON.parse(stdout).victim).toMatch(/Permissions Violation for Publish to .*DIRECT\.GET/i);
    expect(await stack.s3.getObject("demo/r6/python.pt")).toEqual(bytes);
  });
});
