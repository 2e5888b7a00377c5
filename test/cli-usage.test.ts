/**
 * Every command refuses bad arguments the same way, before it connects: exit 2, a message naming
 * what is wrong. Before, `put` dropped a second FILE and logged the first, a repeated flag kept its
 * last value, and `put`, `token` and `dlq` exited 1 (the code `put` also uses for "died at a
 * destination") where `status`, `get` and `pause` exited 2.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./harness/cli.ts";

// Nothing listens there: a command that got past its arguments would fail to connect instead.
const env = { ARTIFACT_BUS_NATS_URL: "nats://127.0.0.1:1", ARTIFACT_BUS_NATS_CONNECT_TIMEOUT_MS: "500" };
const run = ["--project", "demo", "--run", "c1"];
// Where a command that wrongly went ahead would write: not the repository.
const dir = mkdtempSync(join(tmpdir(), "cli-usage-"));
const tokens = join(dir, "tokens.jsonl");

describe("artifact-bus usage errors", () => {
  it.each([
    [["put", ...run, "./README.md", "./package.json"], /unexpected argument\(s\) "\.\/package\.json"/],
    [["put", "--project", "demo", ...run, "./README.md"], /--project given twice/],
    [["put", ...run, "--level", "fit", "--level", "epoch", "./README.md"], /--level given twice/],
    [["put", ...run, "--meta", "a=1", "--meta", "a=2", "./README.md"], /--meta: key "a" given twice/],
    [["put", ...run, "--bogus", "./README.md"], /--bogus/],
    [["put", ...run, "--wait", "abc", "./README.md"], /--wait "abc" must be seconds/],
    [["put", ...run], /put needs --project, --run and a FILE/],
    [["status", ...run, "--run", "c2"], /--run given twice/],
    [["get", ...run, "--set", "a", "--set", "b", "--out", "x"], /--set given twice/],
    [["pause", "--destination", "s3:a", "--destination", "s3:b"], /--destination given twice/],
    [["token", "create", "--project", "demo", "--role", "bogus", "--file", tokens], /role "bogus" is not one of/],
    [["token", "create", "--project", "demo", "--file", tokens], /--role/],
    [["token", "create", "--bogus"], /--bogus/],
    [["token"], /token create/],
    [["dlq", "--bogus"], /--bogus/],
    [["dlq", "--destination", "bogus"], /--destination: .*bogus/],
    [["dlq", "--destination", "s3:a", "--destination", "s3:b"], /--destination given twice/],
    [["dlq", "--limit", "0"], /--limit: "0" is not a positive whole number/],
    [["dlq", "replay"], /dlq replay needs --destination/],
    [["dlq", "replay", "--destination", "bogus"], /--destination: .*bogus/],
    [["dlq", "extra"], /unexpected argument\(s\) "extra"/],
    [["nats-users", "--project", "demo", "--out", join(dir, "a"), "--out", join(dir, "b")], /--out given twice/],
    [["topology", "--bogus"], /--bogus/],
    [["ledger", "formats"], /ledger format \| artifact-bus ledger migrate/],
  ])("%j exits 2 naming the problem", async (args, message) => {
    const r = await runCli(args, env);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(new RegExp(`^artifact-bus ${args[0]}: `));
    expect(r.code, r.stderr).toBe(2);
  });
});
