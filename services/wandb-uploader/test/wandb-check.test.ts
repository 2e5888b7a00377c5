/**
 * `artifact-bus wandb check`, run as a user runs it (the CLI in its own process, the key in
 * WANDB_API_KEY) against the W&B API double, which serves the official read path strictly: the
 * check passes step by step, never prints the key, and a failure exits 1 naming its step.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { compileCacheEnv, WandbDouble } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLI = resolve(import.meta.dirname, "../../../shared/src/cli/main.ts");

let double: WandbDouble;

beforeAll(async () => {
  double = await WandbDouble.start();
});
afterAll(async () => {
  await double?.dispose();
});

/** Runs `artifact-bus wandb check ...` to its end. */
function check(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(WANDB_|ARTIFACT_BUS_)/.test(k)));
  const proc = spawn(process.execPath, [CLI, "wandb", "check", ...args], {
    env: { ...clean, ...compileCacheEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (c: Buffer) => (out += c));
  proc.stderr.on("data", (c: Buffer) => (out += c));
  return new Promise((res) => proc.once("close", (code) => res({ code, out })));
}

describe("artifact-bus wandb check", () => {
  it("logs a tiny artifact, reads it back through the public API and compares digests, step by step", async () => {
    const since = Date.now();
    const { code, out } = await check(["--entity", "team", "--project", "scratch", "--base-url", double.baseUrl], {
      WANDB_API_KEY: double.apiKey,
    });
    expect(code, out).toBe(0);
    const lines = out.trim().split("\n");
    expect(lines.map((l) => l.split(":")[0])).toEqual([
      "1/5 key",
      "2/5 log",
      "3/5 find",
      "4/5 manifest",
      "5/5 file",
      "ok",
    ]);
    expect(out).toMatch(/5\/5 file: downloaded artifact-bus-check.txt .* matches the bytes logged/);
    expect(out).not.toContain(double.apiKey);
    expect(out).not.toMatch(/signature=/);
    const latest = await double.artifact("team/scratch/artifact-bus-check:latest");
    expect(latest).toMatchObject({ version: "v0", state: "COMMITTED", runName: "artifact-bus-check" });
    const reads = (await double.requests()).filter((r) => r.at >= since && (r.kind === "storage" || r.operation));
    expect(reads.map((r) => `${r.method} ${r.operation ?? r.kind} ${r.status}`)).toEqual([
      "POST Viewer 200",
      "POST UpsertBucket 200",
      "POST CreateArtifact 200",
      "POST CreateArtifactManifest 200",
      "POST CreateArtifactFiles 200",
      "PUT storage 200",
      "POST CreateArtifactManifest 200",
      "PUT storage 200",
      "POST CommitArtifact 200",
      "POST ArtifactMembershipByName 200",
      "POST ArtifactManifest 200",
      "GET storage 200",
      "POST ArtifactFileURLsByManifestEntries 200",
      "GET storage 200",
    ]);
  });

  it("a refused key: exit 1 at step key, the key never printed", async () => {
    const { code, out } = await check(["--entity", "team", "--project", "scratch", "--base-url", double.baseUrl], {
      WANDB_API_KEY: "not-the-key-0123456789",
    });
    expect(code).toBe(1);
    expect(out).toMatch(/1\/5 key: FAILED: .*HTTP 401/);
    expect(out).toContain('failed at step "key"');
    expect(out).not.toContain("not-the-key-0123456789");
  });

  it("a read that fails: exit 1 naming that step, after the ones that passed", async () => {
    await double.fault({ target: "graphql", operation: "ArtifactFileURLsByManifestEntries", times: 1, status: 404 });
    const { code, out } = await check(["--entity", "team", "--project", "scratch", "--base-url", double.baseUrl], {
      WANDB_API_KEY: double.apiKey,
    });
    expect(code).toBe(1);
    expect(out).toMatch(/4\/5 manifest: downloaded the manifest/);
    expect(out).toMatch(/5\/5 file: FAILED: W&B ArtifactFileURLsByManifestEntries: HTTP 404/);
    expect(out).toContain('failed at step "file"');
  });

  it("usage: exit 2 without --project", async () => {
    const { code, out } = await check(["--entity", "team"], {});
    expect(code).toBe(2);
    expect(out).toMatch(/scratch project/);
  });
});
