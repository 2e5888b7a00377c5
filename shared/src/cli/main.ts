#!/usr/bin/env node
/**
 * `artifact-bus`: the command line for trainers and operators.
 *   put      log one file as an artifact (optionally wait until it landed)
 *   status   where an artifact, a run's artifacts, or the destinations are
 *   topology create or update streams, ledger and destination consumers from config
 *   dlq      list dead-lettered events
 *   token    create a gateway token
 *   wandb    check a W&B deployment end to end with your own key
 */
import { parseArgs } from "node:util";
import { ConfigError } from "../config.ts";
import { dlqCommand } from "./dlq-command.ts";
import { putCommand } from "./put-command.ts";
import { statusCommand } from "./status-command.ts";
import { tokenCommand } from "./token-command.ts";
import { topologyCommand } from "./topology-command.ts";
import { wandbCommand } from "./wandb-command.ts";

const USAGE = `usage:
  artifact-bus put --project P --run R [--name NAME] [--level fit|epoch|batch] [--meta k=v ...] [--mode copy|link|move] [--wait SECONDS] [--quiet] FILE
  artifact-bus status EVENT_ID [--project P --run R] | --project P --run R | --destinations  [--json]
      exit 0 all landed (destinations: all healthy), 1 dead (unhealthy), 2 usage, 3 pending, 4 not found, 5 NATS unreachable or refused
  artifact-bus topology
  artifact-bus dlq [--destination s3:main] [--limit N]
  artifact-bus dlq replay --destination s3:main [--seq N ...] [--wait SECONDS]
  artifact-bus token create --project P [--project Q] --role publish|read|admin [--role R] [--label TEXT] [--file PATH]
  artifact-bus wandb check --entity E --project SCRATCH_PROJECT [--base-url URL] [--run RUN] [--api-key-file FILE]
      logs one tiny artifact to W&B with WANDB_API_KEY, reads it back, compares digests; exit 1 names the failing step

Configuration comes from ARTIFACT_BUS_CONFIG (a JSON file) and ARTIFACT_BUS_* variables; see README.`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  put: putCommand,
  status: statusCommand,
  topology: topologyCommand,
  dlq: dlqCommand,
  token: tokenCommand,
  wandb: wandbCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const { values } = parseArgs({
    args: name ? [] : argv,
    options: { help: { type: "boolean", short: "h" } },
    strict: false,
  });
  const command = name ? commands[name] : undefined;
  if (!command || values.help) {
    console.error(USAGE);
    return name && !command ? 2 : 0;
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`artifact-bus: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
