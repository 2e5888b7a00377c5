/** The hashing threads: right digests of files and streams, errors that name the file, and a process that still exits. */
import { execFile } from "node:child_process";
import { createHash, randomBytes, randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { sha256 } from "@artifact-bus/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { HashPool } from "../src/blob/hash-pool.ts";

const dir = mkdtempSync(join(tmpdir(), "artifact-bus-hash-pool-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("HashPool: files", () => {
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
    // Used for a file and a stream, then idle.
    const used = await run(
      `const s = hashPool.stream(); await s.update(Buffer.from("x")); await s.digest();\n` +
        `console.log((await hashPool.hashFile(${JSON.stringify(path)})).sha256);`,
    );
    expect(used.stdout.trim()).toBe(sha256(data));
  });
});

describe("HashPool: streams", () => {
  const pool = new HashPool(2);
  it("digests what was passed in, with sessions interleaved and the caller's buffer reused at once", async () => {
    const sessions = Array.from({ length: 6 }, () => ({ hash: pool.stream(), expected: createHash("sha256") }));
    const buf = Buffer.alloc(3 * 1024 * 1024 + 11);
    for (let round = 0; round < 12; round++) {
      for (const s of sessions) {
        const n = 1 + Math.floor(Math.random() * buf.length);
        randomFillSync(buf, 0, n);
        s.expected.update(buf.subarray(0, n));
        await s.hash.update(buf.subarray(0, n));
        buf.fill(0xee, 0, n); // a caller refilling its buffer must not change the digest
      }
    }
    const digests = await Promise.all(sessions.map((s) => s.hash.digest()));
    expect(digests).toEqual(sessions.map((s) => s.expected.digest("hex")));
  });

  it("a stream and a file job share the one thread, each digest right", async () => {
    const one = new HashPool(1);
    const data = randomBytes(9 << 20);
    const path = join(dir, "shared");
    writeFileSync(path, data);
    const bytes = randomBytes(7 << 20);
    const stream = one.stream();
    const file = one.hashFile(path);
    await stream.update(bytes);
    expect(await stream.digest()).toBe(sha256(bytes));
    expect((await file).sha256).toBe(sha256(data));
  });

  it("a session dropped halfway leaves the others correct, and an empty one is the empty digest", async () => {
    const dropped = pool.stream();
    await dropped.update(randomBytes(5 * 1024 * 1024));
    dropped.dispose();
    const bytes = randomBytes(20 * 1024 * 1024);
    const whole = pool.stream();
    await whole.update(bytes);
    expect(await whole.digest()).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(await pool.stream().digest()).toBe(createHash("sha256").digest("hex"));
  });
});
