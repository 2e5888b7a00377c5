/**
 * The entry point of an uploader service process (a service's `main.ts` is one call). Start-up
 * failures (a bad config field, NATS unreachable) print one line and exit 1, so an orchestrator
 * restarts the process and an operator reads the cause without a stack trace.
 */

import type { DestinationFactory } from "../destination/destination.ts";
import { describeError } from "../destination/errors.ts";
import { isWarmUp } from "./compile-cache.ts";
import { checkUploaderConfig } from "./uploader-config.ts";
import { startUploaderService } from "./uploader-service.ts";

/** Whether the process should only validate its config: `--check-config` or `ARTIFACT_BUS_CHECK_CONFIG=1`. */
export function isConfigCheck(argv: readonly string[], env: Record<string, string | undefined>): boolean {
  return argv.includes("--check-config") || env.ARTIFACT_BUS_CHECK_CONFIG === "1";
}

/**
 * Runs the service until SIGTERM/SIGINT. In config-check mode it loads the config, validates
 * every served destination's options and exits 0 without connecting: the image build check
 * (test/dockerfile.test.ts) starts each service's entry point this way. With `--warm-up` it
 * exits 0 at once: its imports have filled Node's compile cache (compile-cache.ts).
 */
export async function runUploaderMain(
  factory: DestinationFactory,
  argv: readonly string[] = process.argv.slice(2),
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  const name = `${factory.kind}-uploader`;
  if (isWarmUp(argv)) process.exit(0);
  try {
    if (isConfigCheck(argv, env)) {
      const served = await checkUploaderConfig(factory, { env });
      console.log(`${name}: config ok, serving ${served.join(", ")}`);
      process.exit(0);
    }
    await startUploaderService(factory, { ensureTopology: env.ARTIFACT_BUS_ENSURE_TOPOLOGY === "1" });
  } catch (err) {
    console.error(`${name}: ${describeError(err)}`);
    process.exit(1);
  }
}
