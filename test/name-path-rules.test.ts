/**
 * A name whose rendered path a destination cannot hold (an S3 key past 1,024 bytes once the
 * destination's prefix and template are added) is refused at once by every publisher, naming the
 * destination, the lengths and the limit, and nothing is published: the destination's name rules
 * carry its template, prefix and limit. Before, only its uploader refused it (dead-lettered),
 * so the producer heard of it from the DLQ. Real processes: nats-server, s3rver, the S3 uploader,
 * the gateway (requests over raw HTTP) and the Python client over NATS.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EVENTS_STREAM, eventFilter, InvalidArtifactError } from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { pythonLogFile } from "./harness/python-log-file.ts";

let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  stack = await GatewayStack.start({ s3Options: { prefix: "team-a/" } });
  token = stack.token(["demo"], ["publish", "read"]);
  await stack.reload();
});
afterAll(async () => {
  await stack?.dispose();
});

/** Events published for run `run` of demo so far. */
async function eventsOfRun(run: string): Promise<number> {
  const info = await (await jetstreamManager(stack.bus.nc)).streams.info(EVENTS_STREAM, {
    subjects_filter: eventFilter("demo", run),
  });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

/** A name of `bytes` bytes in segments of 200: S3 takes segments of any length, the key's total is what counts. */
const nameOf = (bytes: number) => {
  const segments = `${"n".repeat(199)}/`.repeat(Math.floor(bytes / 200));
  return segments + "x".repeat(bytes - segments.length);
};

// Key = "team-a/" (7) + "demo/" (5) + run and "/" + name: the run's 4 bytes leave 1,007 for the name.
const OVER = nameOf(1008);
const FITS = nameOf(1007);
const REASON =
  /"nnn.*" is refused by s3:e2e: object key is 1,025 bytes \(name 1,008 \+ prefix "team-a\/" 7 \+ 10 from template "\{project\}\/\{run\}\/\{name\}"\); S3 allows at most 1,024 bytes/;

it("logFile refuses a name whose S3 key would pass 1,024 bytes under the prefix, naming the destination, lengths and limit; one byte less lands", async () => {
  const t = await stack.bus.trainer();
  const path = join(stack.bus.dir, "key.bin");
  writeFileSync(path, "x");
  const err = await t.publisher.logFile({ project: "demo", run: "lf01", name: OVER, path }).catch((e) => e);
  expect(err).toBeInstanceOf(InvalidArtifactError);
  expect((err as InvalidArtifactError).message).toMatch(REASON);
  expect(await eventsOfRun("lf01")).toBe(0);

  const fits = await t.publisher.logFile({ project: "demo", run: "lf01", name: FITS, path });
  await fits.durable;
  await stack.bus.ledgerReaches(fits, "uploaded");
  expect(await stack.s3.getObject(`team-a/demo/lf01/${FITS}`)).toEqual(Buffer.from("x"));
  await t.close();
});

it("the gateway answers 400 at once for such a name, naming the destination, lengths and limit, and publishes nothing; one byte less lands", async () => {
  const put = (name: string) =>
    stack.fetch(`/v1/projects/demo/runs/gw01/artifacts/${name}`, token, { method: "PUT", body: "bytes" });
  const r = await put(OVER);
  const body = (await r.json()) as { detail: string; field?: string };
  expect(r.status).toBe(400);
  expect(body.field).toBe("name");
  expect(body.detail).toMatch(REASON);
  expect(await eventsOfRun("gw01")).toBe(0);

  expect((await put(FITS)).status).toBe(202);
  await eventually(
    async () => (await stack.s3.getObject(`team-a/demo/gw01/${FITS}`))?.toString() === "bytes" || undefined,
    30_000,
    "the artifact under the prefix",
  );
});

it("GET name-rules answers the destination's path rule: its template, prefix and limit", async () => {
  const r = await stack.fetch(`/v1/projects/demo/runs/gw01/name-rules?name=a.pt`, token);
  expect(r.status).toBe(200);
  expect(((await r.json()) as { destinations: unknown[] }).destinations).toEqual([
    {
      destination: "s3:e2e",
      rules: expect.objectContaining({ pathTemplate: "{project}/{run}/{name}", prefix: "team-a/", maxPathBytes: 1024 }),
    },
  ]);
});

it("the Python client over NATS refuses such a name in log_file, in the same words; one byte less lands", async () => {
  expect(await pythonLogFile(stack.bus, "py01", OVER)).toMatch(new RegExp(`^refused: name: ${REASON.source}`));
  expect(await eventsOfRun("py01")).toBe(0);
  expect((await pythonLogFile(stack.bus, "py01", FITS)).trim()).toBe("accepted");
  await eventually(
    async () => (await stack.s3.getObject(`team-a/demo/py01/${FITS}`))?.toString() === "x" || undefined,
    30_000,
    "the artifact under the prefix",
  );
});
