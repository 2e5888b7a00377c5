/**
 * What an uploader process serves, and the config check its image build runs: both decided from
 * the config alone, before anything connects.
 */
import type { Logger } from "pino";
import { type Config, ConfigError, type DestinationConfig, loadConfig } from "../config/config.ts";
import { parseDestinationName } from "../contract/destination-name.ts";
import type { DestinationFactory } from "../destination/destination.ts";
import { createLogger } from "../log.ts";

type Env = Record<string, string | undefined>;

/**
 * The configured destinations of `kind` this process serves: all of them, or those listed in
 * `ARTIFACT_BUS_SERVE` (e.g. one deployment per destination). Throws ConfigError when none is left.
 */
export function servedDestinations(config: Config, kind: string, env: Env = process.env): DestinationConfig[] {
  const serve = env.ARTIFACT_BUS_SERVE?.split(",").map((s) => s.trim());
  const mine = config.destinations.filter(
    (d) => parseDestinationName(d.name).kind === kind && (!serve || serve.includes(d.name)),
  );
  if (mine.length === 0) {
    throw new ConfigError(
      `no ${kind}:* destination configured${serve ? ` among ARTIFACT_BUS_SERVE=${serve.join(",")}` : ""} (config field destinations)`,
    );
  }
  return mine;
}

/**
 * Loads the config and builds every destination this process would serve, so each factory
 * validates its options, then closes them; nothing connects (no NATS, no destination). Throws
 * ConfigError (or the adapter's options error) naming the first bad field; returns the names.
 */
export async function checkUploaderConfig(
  factory: DestinationFactory,
  opts: { config?: Config; env?: Env; log?: Logger } = {},
): Promise<string[]> {
  const config = opts.config ?? loadConfig(opts.env);
  const log = opts.log ?? createLogger(`${factory.kind}-uploader`, config.logLevel);
  const mine = servedDestinations(config, factory.kind, opts.env);
  for (const dc of mine) {
    const destination = await factory.create(dc, log);
    await destination.close();
  }
  return mine.map((d) => d.name);
}
