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
import type { ParseArgsOptionsConfig } from "node:util";
import { ConfigError } from "../config/config.ts";
import { DLQ_OPTIONS, dlqCommand } from "./dlq-command.ts";
import { PUT_OPTIONS, putCommand } from "./put-command.ts";
import { STATUS_OPTIONS, statusCommand } from "./status-command.ts";
import { TOKEN_OPTIONS, tokenCommand } from "./token-command.ts";
import { topologyCommand } from "./topology-command.ts";
import { WANDB_OPTIONS, wandbCommand } from "./wandb-command.ts";

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

/**
 * The options each command's parser takes: `<command> --help` lists them from the parser's own
 * table, so the help (and test/docs.test.ts, which holds the docs to it) cannot name a flag the
 * command would refuse.
 */
const OPTIONS: Record<string, ParseArgsOptionsConfig> = {
  put: PUT_OPTIONS,
  status: STATUS_OPTIONS,
  topology: {},
  dlq: DLQ_OPTIONS,
  token: TOKEN_OPTIONS,
  wandb: WANDB_OPTIONS,
};

const isHelp = (arg: string | undefined) => arg === "--help" || arg === "-h";

/** `name`'s lines of USAGE (with their indented continuations), and the options it takes. */
function helpOf(name: string): string {
  const lines: string[] = [];
  let mine = false;
  for (const line of USAGE.split("\n")) {
    if (/^ {2}artifact-bus /.test(line))
      mine = line.startsWith(`  artifact-bus ${name} `) || line === `  artifact-bus ${name}`;
    else if (!line.startsWith("    ")) mine = false;
    if (mine) lines.push(line);
  }
  const options = OPTIONS[name];
  if (options) {
    const names = Object.entries(options).map(([long, o]) => (o.short ? `--${long} (-${o.short})` : `--${long}`));
    lines.push(`options: ${names.join(" ") || "none"}`);
  }
  return `usage:\n${lines.join("\n")}`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || isHelp(name)) {
    console.log(USAGE);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(USAGE);
    return 2;
  }
  const beforeDashes = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  if (beforeDashes.some(isHelp)) {
    console.log(helpOf(name));
    return 0;
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
