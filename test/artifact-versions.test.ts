/**
 * Finding an artifact by name through the gateway, on real servers (nats-server, the S3 double,
 * an S3 uploader and the gateway in their own processes): every version of a name in a run,
 * newest first, each at each destination with the attempts that ran (start, end, outcome,
 * error, replica), the newest error first; only for tokens of the project.
 */
import { eventually } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const DEST = "s3:e2e";
let stack: GatewayStack;
let publish: string;
let read: string;
let otherProject: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  publish = stack.token(["alpha"], ["publish"]);
  read = stack.token(["alpha"], ["read"]);
  otherProject = stack.token(["beta"], ["read", "admin"]);
  await stack.reload();
}, 120_000);
afterAll(async () => stack?.dispose());

interface Attempt {
  attempt: number;
  startedAt: string;
  endedAt: string;
  outcome: string;
  error?: string;
  replica: string;
}
interface Versions {
  name: string;
  versions: { id: string; destinations: Record<string, { state: string; error?: string; history?: Attempt[] }> }[];
  latestError: { eventId: string; destination: string; error: string; at: string } | null;
}

async function put(name: string, body: string): Promise<string> {
  const res = await stack.fetch(`/v1/projects/alpha/runs/find/artifacts/${name}`, publish, { method: "PUT", body });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}
const versionsOf = (name: string, token = read) => stack.fetch(`/v1/projects/alpha/runs/find/versions/${name}`, token);

describe("GET /v1/projects/{project}/runs/{run}/versions/{name}", () => {
  it("lists a name's versions newest first, each with its attempts, and the newest error first", async () => {
    const first = await put("ckpt/model.pt", "version one");
    await stack.bus.ledgerReaches({ id: first, project: "alpha", run: "find" }, "uploaded", 20_000);
    await put("ckpt/other.pt", "another name");

    await stack.s3.s3.stop();
    let second = "";
    try {
      second = await put("ckpt/model.pt", "version two");
      // An attempt failed and the version waits for its retry: the error is the name's newest.
      const failing = await eventually(
        async () => {
          const res = await versionsOf("ckpt/model.pt");
          const body = (await res.json()) as Versions;
          return body.latestError?.eventId === second ? body : undefined;
        },
        30_000,
        "the second version's failed attempt",
      );
      expect(failing.versions.map((v) => v.id)).toEqual([second, first]);
      expect(failing.latestError).toMatchObject({ destination: DEST, error: expect.stringMatching(/\S/) });
      const tried = failing.versions[0]!.destinations[DEST]!.history!;
      expect(tried.length).toBeGreaterThanOrEqual(1);
      expect(tried[0]).toMatchObject({ attempt: 1, outcome: "failed", error: expect.stringMatching(/\S/) });
      expect(tried[0]!.replica).toMatch(/\S/);
      expect(Date.parse(tried[0]!.endedAt)).toBeGreaterThanOrEqual(Date.parse(tried[0]!.startedAt));
    } finally {
      await stack.s3.s3.restart();
    }
    await stack.bus.ledgerReaches({ id: second, project: "alpha", run: "find" }, "uploaded", 30_000);
    const res = await versionsOf("ckpt/model.pt");
    expect(res.status).toBe(200);
    const landed = (await res.json()) as Versions;
    expect(landed.name).toBe("ckpt/model.pt");
    expect(landed.latestError).toBeNull();
    const history = landed.versions[0]!.destinations[DEST]!.history!;
    // The attempt that landed it is the newest; it counts as the entry counts its attempts.
    const state = landed.versions[0]!.destinations[DEST]! as { attempts?: number; history: Attempt[] };
    expect(history.at(-1)).toMatchObject({ outcome: "uploaded", attempt: state.attempts });
    expect(history.at(-1)).not.toHaveProperty("error");
    expect(history.length).toBeLessThanOrEqual(5);
    // The attempts count up, oldest first.
    expect(history.map((a) => a.attempt)).toEqual([...history.map((a) => a.attempt)].sort((a, b) => a - b));
    // The first version landed at its first attempt.
    expect(landed.versions[1]!.destinations[DEST]!.history).toEqual([
      expect.objectContaining({ attempt: 1, outcome: "uploaded" }),
    ]);
  });

  it("another project's token gets 403; a name the run does not have, 404", async () => {
    expect((await versionsOf("ckpt/model.pt", otherProject)).status).toBe(403);
    const missing = await versionsOf("no/such.pt");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { detail: string }).detail).toContain("no/such.pt");
  });
});
