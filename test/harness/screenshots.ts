/**
 * Where the browser tests (test/ops-page*.test.ts) write their screenshots. They are for a person
 * to look at, so a run keeps them only when asked: ARTIFACT_BUS_SCREENSHOTS=<dir> writes them to
 * <dir>/<name>/ (created; its path is logged). Otherwise they go to a temp dir that is removed
 * after the file's tests, like every other temp dir of a run.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { TempDirs } from "@artifact-bus/testkit";

export function screenshotDir(temp: TempDirs, name: string): string {
  const keep = process.env.ARTIFACT_BUS_SCREENSHOTS;
  if (!keep) return temp.make(`artifact-bus-${name}-`);
  const dir = resolve(keep, name);
  mkdirSync(dir, { recursive: true });
  console.info(`${name} screenshots: ${join(dir, "*.png")}`);
  return dir;
}
