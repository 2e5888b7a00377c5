/** The `options` of a `dir:*` destination, validated once at start-up. */
import { isAbsolute } from "node:path";
import {
  ConfigError,
  checkPathTemplate,
  DEFAULT_PATH_TEMPLATE,
  normalizeRoot,
  SHARED_NAMESPACE_OPTION,
} from "@artifact-bus/shared";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

export const DirOptionsSchema = Type.Object(
  {
    root: Type.String({ minLength: 1, description: "absolute directory every artifact goes under; must exist" }),
    pathTemplate: Type.String({ default: DEFAULT_PATH_TEMPLATE, description: "path below root" }),
    sharedNamespace: SHARED_NAMESPACE_OPTION,
    fsync: Type.Boolean({
      default: false,
      description:
        "fsync each file, its directory and the directories above it up to root before it counts as uploaded (survives a crash of the host)",
    }),
    allowDotSegments: Type.Boolean({ default: false, description: "accept names with a segment starting with '.'" }),
    staleTempMaxAgeMs: Type.Integer({
      minimum: 0,
      default: 3_600_000,
      description:
        "temp files older than this, left by a killed uploader, are removed when an uploader next writes into their directory (it looks once per this period)",
    }),
  },
  { additionalProperties: false },
);

export type DirOptions = Static<typeof DirOptionsSchema>;

/** Validates options and fills defaults; throws ConfigError naming the first bad field. */
export function parseDirOptions(destination: string, input: unknown): DirOptions {
  const fail = (field: string, message: string): never => {
    throw new ConfigError(`${destination}: options.${field}: ${message}`);
  };
  if (typeof input !== "object" || input === null || Array.isArray(input)) fail("", "must be an object");
  const value = Value.Default(DirOptionsSchema, structuredClone(input)) as Record<string, unknown>;
  const first = Value.Errors(DirOptionsSchema, value).First();
  if (first) {
    const path = first.path.replace(/^\//, "").replaceAll("/", ".") || "options";
    if (!(path in DirOptionsSchema.properties)) fail(path, "unknown option");
    fail(path, `${first.message} (got ${JSON.stringify(first.value)})`);
  }
  const options = value as DirOptions;
  if (!isAbsolute(options.root)) fail("root", `${JSON.stringify(options.root)} must be an absolute path`);
  if (options.root.split("/").includes("..")) fail("root", "must not contain '..'");
  options.root = normalizeRoot(options.root);
  try {
    checkPathTemplate(options.pathTemplate, options.sharedNamespace);
  } catch (err) {
    fail("pathTemplate", (err as Error).message);
  }
  return options;
}
