/**
 * The W&B destination against the strict API double in its own process, on what a user notices:
 * how many times a run is created, and which failures retry (TransientError) and which end the
 * artifact (PermanentError) or pause the destination (DestinationError).
 */
import { PermanentError, silentLogger, TransientError } from "@artifact-bus/shared";
import { memoryArtifact, testContext, WandbDouble } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WandbDestination } from "../src/wandb-destination.ts";

let double: WandbDouble;
let n = 0;

beforeAll(async () => {
  double = await WandbDouble.start();
});
afterAll(async () => {
  await double?.dispose();
});

/** A destination of its own (its own process-wide run cache), no retries within a call. */
function destination(): WandbDestination {
  const options = { baseUrl: double.baseUrl, entity: "team", retries: 0 };
  return new WandbDestination({ name: `wandb:t${++n}`, options, apiKey: double.apiKey, log: silentLogger });
}

const upload = (d: WandbDestination, project: string, run: string, name: string) =>
  d.upload(memoryArtifact(Buffer.from(`${name} ${Math.random()}`), { project, run, name }), testContext());

async function requestsSince(since: number, operation: string) {
  return (await double.requests()).filter((r) => r.at >= since && r.operation === operation);
}

describe("wandb destination: runs", () => {
  it("creates each run once per process, not once per artifact", async () => {
    const d = destination();
    const since = Date.now();
    await Promise.all([upload(d, "runs", "r1", "a.pt"), upload(d, "runs", "r1", "b.pt")]);
    await upload(d, "runs", "r1", "c.pt");
    await upload(d, "runs", "r2", "a.pt");
    expect((await double.versions("team", "runs", "a.pt")).length).toBe(2);
    expect((await requestsSince(since, "UpsertBucket")).length).toBe(2);
    expect((await requestsSince(since, "CreateArtifact")).length).toBe(4);
    await d.close();
  });

  it("asks again after a failed upsert, and after a refused createArtifact (the run may be gone)", async () => {
    const d = destination();
    const since = Date.now();
    await double.fault({ target: "graphql", operation: "UpsertBucket", times: 1, status: 503 });
    await expect(upload(d, "runs2", "r1", "a.pt")).rejects.toThrow(TransientError);
    await upload(d, "runs2", "r1", "a.pt");
    await double.fault({ target: "graphql", operation: "CreateArtifact", times: 1, status: 503 });
    await expect(upload(d, "runs2", "r1", "b.pt")).rejects.toThrow(TransientError);
    await upload(d, "runs2", "r1", "b.pt");
    await upload(d, "runs2", "r1", "c.pt");
    expect((await requestsSince(since, "UpsertBucket")).map((r) => r.status)).toEqual([503, 200, 200]);
    await d.close();
  });
});

describe("wandb destination: error classes", () => {
  it.each([
    ["a 200 whose body is not JSON", "<html>502 Bad Gateway</html>"],
    ["a GraphQL error it does not recognise", JSON.stringify({ errors: [{ message: "Internal Server Error" }] })],
    ["a 200 without data", JSON.stringify({ data: null })],
  ])("%s is transient: retried, not dead-lettered at once", async (_what, body) => {
    const d = destination();
    await double.fault({ target: "graphql", operation: "CreateArtifact", times: 1, status: 200, body });
    const failed = upload(d, "classes", "r1", "a.pt");
    await expect(failed).rejects.toThrow(TransientError);
    await expect(failed).rejects.toThrow(/W&B CreateArtifact/);
    await upload(d, "classes", "r1", "a.pt"); // the retry goes through
    await d.close();
  });

  it("a GraphQL error about this artifact stays permanent", async () => {
    const d = destination();
    const body = JSON.stringify({ errors: [{ message: 'artifact name "x" is invalid' }] });
    await double.fault({ target: "graphql", operation: "CreateArtifact", times: 1, status: 200, body });
    await expect(upload(d, "classes", "r1", "b.pt")).rejects.toThrow(PermanentError);
    await d.close();
  });
});
