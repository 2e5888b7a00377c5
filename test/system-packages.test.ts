/**
 * scripts/require-system-packages.sh, run before `npm test`, `npm run dev` and `npm run bench`:
 * on a machine that has everything it must say nothing and install nothing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const SCRIPT = resolve(import.meta.dirname, "../scripts/require-system-packages.sh");

describe("require-system-packages.sh", () => {
  // A PATH with the programs this machine has, and no apt-get: a wrong verdict cannot install
  // anything and shows as a list of missing packages instead.
  const bin = mkdtempSync(join(tmpdir(), "artifact-bus-path-"));
  afterAll(() => rmSync(bin, { recursive: true, force: true }));
  for (const program of ["nats-server", "sftp", "mkfs.xfs", "id"]) {
    const found = spawnSync("bash", ["-c", `PATH=$PATH:/usr/sbin:/sbin command -v ${program}`])
      .stdout.toString()
      .trim();
    if (found) symlinkSync(found, join(bin, program));
  }

  it("finds nothing missing where everything is installed (pip, setuptools and venv's ensurepip import)", () => {
    const run = spawnSync("/bin/bash", [SCRIPT], { env: { PATH: bin } });
    expect(run.stderr.toString()).toBe("");
    expect(run.status).toBe(0);
  });
});
