import { createHash, randomBytes, randomFillSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ThreadSha256 } from "../src/blob/sha256-thread.ts";

describe("ThreadSha256: sha256 on a worker thread", () => {
  it("digests what was passed in, with sessions interleaved and the caller's buffer reused at once", async () => {
    const sessions = Array.from({ length: 6 }, () => ({ hash: new ThreadSha256(), expected: createHash("sha256") }));
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

  it("a session dropped halfway leaves the others correct, and an empty one is the empty digest", async () => {
    const dropped = new ThreadSha256();
    await dropped.update(randomBytes(5 * 1024 * 1024));
    dropped.dispose();
    const bytes = randomBytes(20 * 1024 * 1024);
    const whole = new ThreadSha256();
    await whole.update(bytes);
    expect(await whole.digest()).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(await new ThreadSha256().digest()).toBe(createHash("sha256").digest("hex"));
  });
});
