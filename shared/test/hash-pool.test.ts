/** The hashing threads: right digests, errors that name the file, and a process that still exits. */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { HashPool } from "../src/blob/hash-pool.ts";
import { sha256 } from "../src/testing/files.ts";

const dir = mkdtempSync(join(tmpdir(), "artifact-bus-hash-pool-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("HashPool", () => {
  it("hashes files of every size, more at once than it has threads", async () => {
    const pool = new HashPool(2);
    const sizes = [0, 1, 4 << 20, (4 << 20) + 1, 9 << 20];
    const files = sizes.map((size, i) => {
      const data = randomBytes(size);
      const path = join(dir, `f${i}`);
      writeFileSync(path, data);
      return { path, data };
    });
    const digests = await Promise.all(files.map((f) => pool.hashFile(f.path)));
    expect(digests).toEqual(files.map((f) => ({ sha256: sha256(f.data), size: f.data.length })));
  });

  it("a file that cannot be read fails its job with the error's code, and the pool goes on", async () => {
    const pool = new HashPool(1);
    await expect(pool.hashFile(join(dir, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
    const path = join(dir, "after");
    writeFileSync(path, "x");
    expect((await pool.hashFile(path)).size).toBe(1);
  });

  it("an idle pool does not keep the process alive: a trainer script ends by itself", async () => {
    const path = join(dir, "exit");
    const data = randomBytes(100_000);
    writeFileSync(path, data);
    const pool = resolve(import.meta.dirname, "../src/blob/hash-pool.ts");
    const run = (body: string) =>
      promisify(execFile)(
        process.execPath,
        ["--input-type=module", "-e", `import { hashPool } from ${JSON.stringify(pool)};\n${body}`],
        { timeout: 20_000 },
      );
    // Warmed but never used (a trainer logging only small files), and used.
    expect((await run(`hashPool.warm(); console.log("ok");`)).stdout.trim()).toBe("ok");
    const used = await run(`hashPool.warm(); console.log((await hashPool.hashFile(${JSON.stringify(path)})).sha256);`);
    expect(used.stdout.trim()).toBe(sha256(data));
  });
});
