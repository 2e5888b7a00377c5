/**
 * `artifact-bus dlq` refuses what it would not act on, naming the flag, before it connects: a
 * flag only `dlq replay` takes, or a number that is none. Before, `dlq --seq 5` listed every letter
 * and `dlq replay --seq abc` replayed nothing without a word.
 */
import { describe, expect, it } from "vitest";
import { runCli } from "./harness/cli.ts";

// Nothing listens there: a command that got past its arguments would fail to connect instead.
const env = { ARTIFACT_BUS_NATS_URL: "nats://127.0.0.1:1", ARTIFACT_BUS_NATS_CONNECT_TIMEOUT_MS: "500" };

describe("artifact-bus dlq", () => {
  it.each([
    [["dlq", "--seq", "5"], /--seq.*only with `dlq replay`/],
    [["dlq", "--wait", "30"], /--wait.*only with `dlq replay`/],
    [["dlq", "--limit", "many"], /--limit: "many" is not a positive whole number/],
    [["dlq", "replay", "--destination", "s3:main", "--seq", "abc"], /--seq: "abc" is not a positive whole number/],
    [["dlq", "replay", "--destination", "s3:main", "--wait", "soon"], /--wait: "soon" is not a number of seconds/],
  ])("%j exits 2 naming the flag", async (args, message) => {
    const r = await runCli(args, env);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });
});
