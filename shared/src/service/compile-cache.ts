/**
 * Node's compile cache for the service processes. Node 24 runs our TypeScript by stripping its
 * types with a WebAssembly build of swc, loaded on the first `.ts` module a process compiles and
 * kept for the life of the process: a share of every uploader's and gateway's RSS worth saving
 * (bench/RESULTS.md has it). With every module in the cache (`NODE_COMPILE_CACHE`), a process
 * never loads the stripper and starts about twice as fast. The cache is keyed by file path and content: an edited
 * source simply misses it.
 *
 * The image fills its cache when it is built (`main.ts --warm-up`, Dockerfile); tests, the bench
 * and the dev stack fill one under node_modules/.cache (testkit/src/compile-cache-warm-up.ts, which
 * also gives the processes they start its environment).
 */
import { flushCompileCache, getCompileCacheDir } from "node:module";

/**
 * `--warm-up`: the entry point has loaded (and so compiled into the cache) every module it
 * imports; it loads any it would import later, then exits 0 without reading config or connecting.
 */
export function isWarmUp(argv: readonly string[]): boolean {
  return argv.includes("--warm-up");
}

/**
 * Writes what this process compiled to the cache now rather than at exit: services are often
 * killed, not exited, and the next start should find the cache full.
 */
export function persistCompileCache(): void {
  if (getCompileCacheDir()) flushCompileCache();
}
