/**
 * Gateway tokens: `artifact-bus token create` prints a token once and appends only its hash,
 * projects and roles to the tokens file; the file's reader refuses what it cannot trust,
 * naming the line.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hashToken, newToken, readTokenFile, TOKEN_PREFIX, TokenFileError } from "../src/tokens.ts";

const CLI = resolve(import.meta.dirname, "../src/cli/main.ts");
const dir = mkdtempSync(join(tmpdir(), "artifact-bus-tokens-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("artifact-bus token create", () => {
  it("prints the token once and appends its hash with projects and roles to gateway.tokensFile", () => {
    const file = join(dir, "sub/tokens.jsonl");
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [CLI, "token", "create", ...args], {
        encoding: "utf8",
        env: { ...process.env, ARTIFACT_BUS_GATEWAY_TOKENS_FILE: file },
      });
    const a = run("--project", "demo", "--project", "vision", "--role", "publish", "--label", "ci");
    const b = run("--project", "*", "--role", "admin");
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    const tokenA = a.stdout.trim();
    expect(tokenA.startsWith(TOKEN_PREFIX)).toBe(true);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(tokenA);
    expect(text).not.toContain(b.stdout.trim());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const records = readTokenFile(file);
    expect(records.map((r) => r.sha256)).toEqual([hashToken(tokenA), hashToken(b.stdout.trim())]);
    expect(records[0]).toMatchObject({ projects: ["demo", "vision"], roles: ["publish"], label: "ci" });
    expect(records[1]).toMatchObject({ projects: ["*"], roles: ["admin"] });
    expect(a.stderr).toContain(records[0]!.id);
  });

  it("refuses an unknown role or a project that is no subject token, and writes nothing", () => {
    const file = join(dir, "refused.jsonl");
    for (const args of [
      ["--project", "demo", "--role", "root"],
      ["--project", "a.b", "--role", "read"],
      ["--role", "read"],
    ]) {
      const r = spawnSync(process.execPath, [CLI, "token", "create", "--file", file, ...args], { encoding: "utf8" });
      expect(r.status).toBe(2); // a usage error, as in every command
      expect(r.stdout).toBe("");
    }
    expect(readTokenFile(file)).toEqual([]);
  });
});

describe("readTokenFile", () => {
  it("skips blank and comment lines and names the line it cannot read", () => {
    const file = join(dir, "bad.jsonl");
    const { record } = newToken({ projects: ["demo"], roles: ["read"] });
    writeFileSync(
      file,
      `# tokens\n\n${JSON.stringify(record)}\n{"sha256":"xyz","projects":["demo"],"roles":["read"]}\n`,
    );
    expect(() => readTokenFile(file)).toThrow(TokenFileError);
    expect(() => readTokenFile(file)).toThrow(/line 4: sha256/);
    writeFileSync(file, `# tokens\n\n${JSON.stringify(record)}\n`);
    expect(readTokenFile(file)).toEqual([record]);
  });
});
