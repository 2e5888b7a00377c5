/**
 * Fills this checkout's compile cache (shared/src/service/compile-cache.ts) before tests, the bench or the
 * dev stack start service processes, as the image build does: so that every service process they
 * measure starts, like a production one, without the TypeScript stripper in memory.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UPLOADER_NODE_FLAGS } from "@artifact-bus/shared";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** This checkout's cache directory for the processes tests, the bench and the dev stack start. */
export const REPO_COMPILE_CACHE_DIR = join(REPO_ROOT, "node_modules/.cache/artifact-bus-compile");

/** The environment that gives a child service process the compile cache (an explicit `NODE_COMPILE_CACHE` wins). */
export function compileCacheEnv(env: Record<string, string | undefined> = process.env): { NODE_COMPILE_CACHE: string } {
  return { NODE_COMPILE_CACHE: env.NODE_COMPILE_CACHE ?? REPO_COMPILE_CACHE_DIR };
}

/** The entry points it warms: every service's `main.ts --warm-up` and the CLI (its usage). */
export function warmUpCommands(root = REPO_ROOT): string[][] {
  const services = readdirSync(join(root, "services"))
    .map((s) => join(root, "services", s, "src/main.ts"))
    .filter((main) => existsSync(main));
  return [
    ...services.map((main) => [...UPLOADER_NODE_FLAGS, main, "--warm-up"]),
    [join(root, "shared/src/cli/main.ts")],
  ];
}

/** Runs the warm-up commands at once; rejects naming the command that failed. */
export async function warmCompileCache(root = REPO_ROOT): Promise<void> {
  const env = { ...process.env, ...compileCacheEnv() };
  await Promise.all(
    warmUpCommands(root).map(
      (args) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] });
          let stderr = "";
          child.stderr.on("data", (c: Buffer) => {
            stderr += c;
          });
          child.once("error", reject);
          child.once("close", (code) =>
            code === 0 ? resolve() : reject(new Error(`warm-up of ${args.join(" ")} exited with ${code}: ${stderr}`)),
          );
        }),
    ),
  );
}
