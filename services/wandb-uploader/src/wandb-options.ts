/**
 * The `options` of a `wandb:*` destination, validated once at start-up, and its API key, which
 * never sits in options: it comes from `WANDB_API_KEY` or the file `apiKeyFile` names.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "@artifact-bus/shared";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { DEFAULT_TYPES, typeProblem } from "./wandb-names.ts";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export const WandbOptionsSchema = Type.Object(
  {
    baseUrl: Type.String({ default: "https://api.wandb.ai", description: "W&B API, or a self-hosted server" }),
    entity: Type.String({ minLength: 1, pattern: "^[A-Za-z0-9_.-]+$", description: "W&B entity (team or user)" }),
    project: Type.String({
      default: "{project}",
      pattern: "^[A-Za-z0-9_.{}-]+$",
      description: "W&B project; {project} is ours (one W&B project per project of ours)",
    }),
    types: Type.Record(Type.String({ pattern: "^\\.[A-Za-z0-9]+$" }), Type.String(), {
      default: DEFAULT_TYPES,
      description: "artifact type by extension",
    }),
    defaultType: Type.String({ default: "file", description: "type of an extension not in `types`" }),
    apiKeyFile: Type.Optional(Type.String({ minLength: 1, description: "file holding the API key" })),
    requestTimeoutMs: Type.Integer({ minimum: 100, default: 30_000, description: "one GraphQL request" }),
    retries: Type.Integer({
      minimum: 0,
      maximum: 20,
      // The runtime retries too (with backoff and the breaker): a couple of quick ones here spare
      // redoing the steps before a throttled one, more would only hold the slot.
      default: 2,
      description: "GraphQL retries within one upload attempt, by the official clients' rules",
    }),
    maxRetryAfterMs: Type.Integer({
      minimum: 0,
      default: 30_000,
      description: "a longer Retry-After hands the wait to the runtime instead of holding the upload",
    }),
    multipartThresholdBytes: Type.Integer({
      minimum: 5 * MiB,
      default: 2 * GiB,
      description: "files this large or larger go multipart with per-part MD5",
    }),
    partSizeBytes: Type.Integer({ minimum: 5 * MiB, default: 100 * MiB, description: "multipart part size" }),
  },
  { additionalProperties: false },
);

export type WandbOptions = Static<typeof WandbOptionsSchema>;

/** Validates options and fills defaults; throws ConfigError naming the first bad field. */
export function parseWandbOptions(destination: string, input: unknown): WandbOptions {
  const fail = (field: string, message: string): never => {
    throw new ConfigError(`${destination}: options.${field}: ${message}`);
  };
  if (typeof input !== "object" || input === null || Array.isArray(input)) fail("", "must be an object");
  if ("apiKey" in (input as object))
    fail("apiKey", "the API key never goes in the config: set WANDB_API_KEY or apiKeyFile");
  const value = Value.Default(WandbOptionsSchema, structuredClone(input)) as Record<string, unknown>;
  const first = Value.Errors(WandbOptionsSchema, value).First();
  if (first) {
    const path = first.path.replace(/^\//, "").replaceAll("/", ".") || "options";
    if (!(path.split(".")[0]! in WandbOptionsSchema.properties)) fail(path, "unknown option");
    fail(path, `${first.message} (got ${JSON.stringify(first.value)})`);
  }
  const options = value as WandbOptions;
  const url = URL.parse(options.baseUrl);
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) fail("baseUrl", "must be an http(s) URL");
  if (url?.username || url?.password) fail("baseUrl", "must not carry credentials");
  options.baseUrl = options.baseUrl.replace(/\/+$/, "");
  for (const [ext, type] of Object.entries({ ...options.types, "*": options.defaultType })) {
    const problem = typeProblem(type);
    if (problem) fail(ext === "*" ? "defaultType" : `types.${ext}`, problem);
  }
  const unknown = options.project.replace("{project}", "").match(/[{}]/);
  if (unknown) fail("project", "only {project} may be templated");
  return options;
}

/**
 * The API key: the file named by `apiKeyFile` (a missing or empty file is a config error), else
 * WANDB_API_KEY, else undefined: a secret, not config, so its absence is reported where it is
 * used. Never logged.
 */
export function apiKeyOf(
  options: WandbOptions,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (options.apiKeyFile) {
    let key: string;
    try {
      key = readFileSync(options.apiKeyFile, "utf8").trim();
    } catch (err) {
      throw new ConfigError(`wandb apiKeyFile ${options.apiKeyFile}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    if (!key) throw new ConfigError(`wandb apiKeyFile ${options.apiKeyFile} is empty`);
    return key;
  }
  return env.WANDB_API_KEY?.trim() || undefined;
}
