/**
 * The Python client's install, exactly as clients/python/README.md writes it: its ```sh block
 * under "## Install" runs in bash, from a copy of the repository's layout, with Debian's python3
 * first on PATH and no package index (PIP_NO_INDEX), so a fresh venv that needs anything
 * downloaded, or setuptools' `wheel`, fails here as it failed for users.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";

const CLIENT = resolve(import.meta.dirname, "../clients/python");
const work = mkdtempSync(join(tmpdir(), "artifact-bus-pyinstall-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The README's install commands, as written. */
function installBlock(): string {
  const readme = readFileSync(join(CLIENT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Install"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('clients/python/README.md has no ```sh block under "## Install"');
  return block;
}

it("installs into a fresh venv with the README's commands, offline, and its CLI answers", async () => {
  const repo = join(work, "repo");
  mkdirSync(join(repo, "clients"), { recursive: true });
  cpSync(CLIENT, join(repo, "clients/python"), { recursive: true, filter: (p) => !p.includes("__pycache__") });
  const env = {
    // Debian's python3 and nothing a developer's shell adds (pyenv, another venv).
    PATH: "/usr/bin:/bin",
    HOME: work,
    PIP_NO_INDEX: "1",
    PIP_DISABLE_PIP_VERSION_CHECK: "1",
    PIP_CONFIG_FILE: "/dev/null",
    LANG: "C.UTF-8",
  };
  const sh = (script: string) =>
    promisify(execFile)("/bin/bash", ["-euo", "pipefail", "-c", script], { cwd: repo, env, timeout: 300_000 });
  const installed = await sh(installBlock()).catch((e: { stdout: string; stderr: string }) => {
    throw new Error(`the README's install commands failed:\n${e.stdout}\n${e.stderr}`);
  });
  expect(installed.stdout).toMatch(/put.*get.*status.*wait/s);
  // Installed, not found in the source folder: imported from elsewhere, the venv's copy answers.
  const venv = join(repo, ".venv/bin");
  const elsewhere = (args: string[]) => promisify(execFile)(join(venv, args[0]!), args.slice(1), { cwd: work, env });
  const where = await elsewhere([
    "python",
    "-c",
    "import artifact_bus; print(artifact_bus.__file__, artifact_bus.__version__)",
  ]);
  expect(where.stdout).toMatch(/\.venv\/lib\/python3[.\d]*\/site-packages\/artifact_bus\/__init__\.py 0\.1\.0/);
  expect((await elsewhere(["artifact-bus-py", "--help"])).stdout).toMatch(/put.*get.*status.*wait/s);
  // No transport configured: a usage error (2) naming the variables, in one line.
  const noConfig = await elsewhere(["python", "-m", "artifact_bus", "put", "x"]).catch(
    (e: { code: number; stderr: string }) => e,
  );
  expect(noConfig).toMatchObject({ code: 2, stderr: expect.stringMatching(/^artifact-bus: .*ARTIFACT_BUS_URL.*\n$/) });
}, 300_000);
