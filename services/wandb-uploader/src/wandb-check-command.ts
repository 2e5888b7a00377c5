/**
 * `artifact-bus wandb check --entity E --project P [--base-url URL] [--run R]`: confirms, in a
 * few seconds and with the user's own key, that a W&B deployment (the cloud or a self-hosted
 * server) takes artifacts the way the uploader sends them and gives them back intact. It logs one
 * tiny artifact to the scratch project named, reads it back through the public API and compares
 * digests, printing each step; it exits 1 naming the step that failed, 2 on a usage error.
 *
 * The key comes from WANDB_API_KEY (or --api-key-file), the base URL from --base-url or
 * WANDB_BASE_URL, the entity from --entity or WANDB_ENTITY: the official clients' variables. The
 * key is never printed. The CLI finds it as this package's `cliCommands` (a seam of the library:
 * shared/src/cli/destination-commands.ts), so the library imports no W&B code.
 */
import { readFileSync } from "node:fs";
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import type { DestinationCommands } from "@artifact-bus/shared";
import { wandbCheck } from "./wandb-check.ts";

const USAGE =
  "usage: artifact-bus wandb check --entity E --project SCRATCH_PROJECT [--base-url URL] [--run RUN] [--api-key-file FILE]";

/** What `wandb check` takes (its `--help` lists these). */
const WANDB_OPTIONS = {
  entity: { type: "string" },
  project: { type: "string" },
  "base-url": { type: "string" },
  run: { type: "string" },
  "api-key-file": { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

async function wandbCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (args[0] !== "check") {
    console.error(USAGE);
    return 2;
  }
  const { values } = parseArgs({ args: args.slice(1), options: WANDB_OPTIONS });
  const entity = values.entity ?? env.WANDB_ENTITY;
  if (!entity || !values.project) {
    console.error(`${USAGE}\n(--entity may come from WANDB_ENTITY; name a scratch project: the check adds to it)`);
    return 2;
  }
  const file = values["api-key-file"];
  const apiKey = file ? readFileSync(file, "utf8").trim() : env.WANDB_API_KEY?.trim();
  const baseUrl = (values["base-url"] ?? env.WANDB_BASE_URL ?? "https://api.wandb.ai").replace(/\/+$/, "");
  const result = await wandbCheck({
    baseUrl,
    apiKey: apiKey || undefined,
    entity,
    project: values.project,
    run: values.run ?? "artifact-bus-check",
    print: (line) => console.log(line),
  });
  if (!result.ok) console.error(`artifact-bus wandb check: failed at step "${result.failedStep}"`);
  return result.ok ? 0 : 1;
}

/** `artifact-bus wandb ...`, as the CLI loads it. */
export const cliCommands: DestinationCommands = {
  usage: [
    "  artifact-bus wandb check --entity E --project SCRATCH_PROJECT [--base-url URL] [--run RUN] [--api-key-file FILE]",
    "      logs one tiny artifact to W&B with WANDB_API_KEY, reads it back, compares digests; exit 1 names the failing step",
  ],
  options: WANDB_OPTIONS,
  run: wandbCommand,
};
