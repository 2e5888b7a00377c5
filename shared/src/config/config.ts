/**
 * Configuration, parsed and validated once at start-up: defaults < optional JSON file
 * (`ARTIFACT_BUS_CONFIG`) < environment. Secrets (passwords, tokens, cloud keys) are never
 * part of it: they come from the environment or credential files at the point of use.
 * The fields and their defaults are in config-schema.ts.
 */

import { readFileSync } from "node:fs";
import { Value } from "@sinclair/typebox/value";
import { checkPointerTemplate } from "../contract/checkpoint-set.ts";
import { parseDestinationName } from "../contract/destination-name.ts";
import { type Config, ConfigSchema } from "./config-schema.ts";
import { inboxPrefixOf } from "./inbox-prefix.ts";

export {
  type BackoffConfig,
  BackoffConfigSchema,
  type BreakerConfig,
  BreakerConfigSchema,
  type Config,
  ConfigSchema,
  DEFAULT_NATS_CONNECT_TIMEOUT_MS,
  DEFAULT_NATS_PING_INTERVAL_MS,
  type DestinationConfig,
  DestinationConfigSchema,
  type GatewayConfig,
  GatewayConfigSchema,
} from "./config-schema.ts";

/** What `gateway.allowedDirs` entries hold in place of the project a request is for. */
export const PROJECT_PLACEHOLDER = "{project}";

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

/** Environment variables that override the file; each maps to one config path. */
export const ENV_OVERRIDES: Record<string, (c: Record<string, any>, v: string) => void> = {
  ARTIFACT_BUS_NATS_URL: (c, v) => {
    c.nats = { ...c.nats, servers: v.split(",").map((s) => s.trim()) };
  },
  ARTIFACT_BUS_NATS_USER: (c, v) => {
    c.nats = { ...c.nats, user: v };
  },
  ARTIFACT_BUS_NATS_CREDS: (c, v) => {
    c.nats = { ...c.nats, credsFile: v };
  },
  ARTIFACT_BUS_NATS_INBOX_PREFIX: (c, v) => {
    c.nats = { ...c.nats, inboxPrefix: v };
  },
  ARTIFACT_BUS_NATS_CONNECT_TIMEOUT_MS: (c, v) => {
    c.nats = { ...c.nats, connectTimeoutMs: Number(v) };
  },
  ARTIFACT_BUS_NATS_PING_INTERVAL_MS: (c, v) => {
    c.nats = { ...c.nats, pingIntervalMs: Number(v) };
  },
  ARTIFACT_BUS_STAGING_DIR: (c, v) => {
    c.staging = { ...c.staging, dir: v };
  },
  ARTIFACT_BUS_STAGING_STORE: (c, v) => {
    c.staging = { ...c.staging, store: v };
  },
  ARTIFACT_BUS_STAGING_MODE: (c, v) => {
    c.staging = { ...c.staging, mode: v };
  },
  ARTIFACT_BUS_STREAM_REPLICAS: (c, v) => {
    c.stream = { ...c.stream, replicas: Number(v) };
  },
  ARTIFACT_BUS_LOG_LEVEL: (c, v) => {
    c.logLevel = v;
  },
  ARTIFACT_BUS_SHUTDOWN_GRACE_MS: (c, v) => {
    c.shutdownGraceMs = Number(v);
  },
  ARTIFACT_BUS_METRICS_PORT: (c, v) => {
    c.metricsPort = Number(v);
  },
  ARTIFACT_BUS_METRICS_HOST: (c, v) => {
    c.metricsHost = v;
  },
  ARTIFACT_BUS_GATEWAY_HOST: (c, v) => {
    c.gateway = { ...c.gateway, host: v };
  },
  ARTIFACT_BUS_GATEWAY_PORT: (c, v) => {
    c.gateway = { ...c.gateway, port: Number(v) };
  },
  ARTIFACT_BUS_GATEWAY_TOKENS_FILE: (c, v) => {
    c.gateway = { ...c.gateway, tokensFile: v };
  },
  ARTIFACT_BUS_GATEWAY_MAX_BODY_BYTES: (c, v) => {
    c.gateway = { ...c.gateway, maxBodyBytes: Number(v) };
  },
  ARTIFACT_BUS_GATEWAY_ALLOWED_DIRS: (c, v) => {
    c.gateway = { ...c.gateway, allowedDirs: v.split(",").map((s) => s.trim()) };
  },
  ARTIFACT_BUS_GATEWAY_TLS_CERT: (c, v) => {
    c.gateway = { ...c.gateway, tlsCertFile: v };
  },
  ARTIFACT_BUS_GATEWAY_TLS_KEY: (c, v) => {
    c.gateway = { ...c.gateway, tlsKeyFile: v };
  },
  ARTIFACT_BUS_GATEWAY_SSE_HEARTBEAT_MS: (c, v) => {
    c.gateway = { ...c.gateway, liveHeartbeatMs: Number(v) };
  },
};

/**
 * Every `ARTIFACT_BUS_*` variable the shared code reads: {@link ENV_OVERRIDES}, secrets read at
 * their point of use, and switches of the processes. The compose test holds docker-compose.yml
 * to this list, and holds the list to the sources, so neither can drift.
 */
export const ENV_VARIABLES: readonly string[] = [
  ...Object.keys(ENV_OVERRIDES),
  "ARTIFACT_BUS_CONFIG",
  "ARTIFACT_BUS_DESTINATIONS",
  "ARTIFACT_BUS_NATS_PASSWORD",
  "ARTIFACT_BUS_NATS_TOKEN",
  "ARTIFACT_BUS_SERVE",
  "ARTIFACT_BUS_ENSURE_TOPOLOGY",
  "ARTIFACT_BUS_CHECK_CONFIG",
  // `artifact-bus get`, a client of the HTTP gateway: its URL, and the token (a secret, read at
  // its point of use), the names the Python client reads.
  "ARTIFACT_BUS_URL",
  "ARTIFACT_BUS_TOKEN",
];

/**
 * Builds the config from an optional file and the environment; throws ConfigError naming
 * the first bad field. `ARTIFACT_BUS_DESTINATIONS` may hold the destinations as JSON.
 */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  let raw: Record<string, any> = {};
  const file = env.ARTIFACT_BUS_CONFIG;
  if (file) {
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`ARTIFACT_BUS_CONFIG (${file}): ${(err as Error).message}`);
    }
  }
  for (const [key, apply] of Object.entries(ENV_OVERRIDES)) {
    const v = env[key];
    if (v !== undefined && v !== "") apply(raw, v);
  }
  if (env.ARTIFACT_BUS_DESTINATIONS) {
    try {
      raw.destinations = JSON.parse(env.ARTIFACT_BUS_DESTINATIONS);
    } catch (err) {
      throw new ConfigError(`ARTIFACT_BUS_DESTINATIONS: not JSON (${(err as Error).message})`);
    }
  }
  return parseConfig({ ...raw, ...overrides });
}

/** Validates a config object and fills in defaults. */
export function parseConfig(input: unknown): Config {
  const value = Value.Default(ConfigSchema, structuredClone(input ?? {}));
  const first = Value.Errors(ConfigSchema, value).First();
  if (first) {
    const path = first.path.replace(/^\//, "").replaceAll("/", ".") || "config";
    throw new ConfigError(`config field ${path}: ${first.message} (got ${JSON.stringify(first.value)})`);
  }
  const config = value as Config;
  try {
    inboxPrefixOf(config.nats);
  } catch (err) {
    const field = config.nats.inboxPrefix !== undefined ? "nats.inboxPrefix" : "nats.user";
    throw new ConfigError(`config field ${field}: ${(err as Error).message}`);
  }
  if ((config.gateway.tlsCertFile === undefined) !== (config.gateway.tlsKeyFile === undefined)) {
    throw new ConfigError("config field gateway.tlsKeyFile: tlsCertFile and tlsKeyFile go together");
  }
  if (config.stream.duplicateWindowMs > config.stream.maxAgeMs) {
    throw new ConfigError(
      `config field stream.duplicateWindowMs: ${config.stream.duplicateWindowMs} is longer than stream.maxAgeMs (${config.stream.maxAgeMs}); nats-server refuses such a stream`,
    );
  }
  config.gateway.allowedDirs.forEach((dir, i) => {
    // Without {project}, every project's token could stage (and link or move) every other's files.
    if (
      dir.split(/[\\/]/).filter((s) => s === PROJECT_PLACEHOLDER).length !== 1 ||
      dir.split(PROJECT_PLACEHOLDER).length !== 2
    ) {
      throw new ConfigError(
        `config field gateway.allowedDirs.${i}: ${JSON.stringify(dir)} must hold ${PROJECT_PLACEHOLDER} once, as a whole path segment (e.g. /shared/${PROJECT_PLACEHOLDER}): a token then stages files only from its own project's directory`,
      );
    }
  });
  const seen = new Set<string>();
  config.destinations.forEach((d, i) => {
    try {
      parseDestinationName(d.name);
    } catch (err) {
      throw new ConfigError(`config field destinations.${i}.name: ${(err as Error).message}`);
    }
    if (seen.has(d.name)) throw new ConfigError(`config field destinations.${i}.name: ${d.name} appears twice`);
    seen.add(d.name);
    if (d.setPointer !== undefined) {
      try {
        checkPointerTemplate(d.setPointer);
      } catch (err) {
        throw new ConfigError(`config field destinations.${i}.setPointer: ${(err as Error).message}`);
      }
    }
  });
  return config;
}
