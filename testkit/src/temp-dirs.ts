/**
 * Temp dirs a test file makes, removed in its afterAll whether its tests passed or not: a
 * `rmSync` at the end of a test body is skipped when an assertion before it fails, and a dir
 * made in beforeAll has no test of its own to remove it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

export interface TempDirs {
  /** A fresh dir `<tmpdir>/<prefix>XXXXXX`, removed with the others after the file's tests. */
  make(prefix: string): string;
}

/**
 * Call at the top level of a test file (it registers an afterAll there). Registered before the
 * file's other afterAll hooks, it runs after them (vitest runs them in reverse): servers the
 * file stops there are done writing into these dirs by then.
 */
export function tempDirs(): TempDirs {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    make(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
  };
}
