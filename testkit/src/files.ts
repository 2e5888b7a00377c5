/** Test files with known contents, hashing for independent checks, and bounded polling. */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, writeFileSync } from "node:fs";

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export function writeRandomFile(path: string, size: number): Buffer {
  const data = randomBytes(size);
  writeFileSync(path, data);
  return data;
}

/** A large file written in chunks (not held in memory); returns its sha256. */
export async function writeLargeFile(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  const out = createWriteStream(path);
  const chunk = 8 << 20;
  for (let done = 0; done < size; done += chunk) {
    const part = randomBytes(Math.min(chunk, size - done));
    hash.update(part);
    if (!out.write(part)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return hash.digest("hex");
}

/**
 * Polls `check` until it returns a value, bounded by `timeoutMs`: for waiting on a condition,
 * never for timing. `everyMs` is the poll interval.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
