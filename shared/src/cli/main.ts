#!/usr/bin/env node
/**
 * `artifact-bus`: the command line for trainers and operators.
 *   put      log one file as an artifact (optionally wait until it landed)
 *   get      fetch a complete checkpoint set through the gateway, each member checked
 *   status   where an artifact, a run's artifacts, or the destinations are
 *   topology create or update streams, ledger and destination consumers from config
 *   ledger   the ledger's format; migrate it to this release's (a rolling upgrade's step)
 *   dlq      list dead-lettered events
 *   pause    stop a destination's uploaders pulling (resume: let them pull again)
 *   token    create a gateway token
 *   nats-users  the nats-server config of a deployment's least-privilege users
 *   <kind>   commands a destination's package adds (wandb check: a W&B deployment end to end)
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { ConfigError } from "../config/config.ts";
import { USAGE_EXIT, UsageError } from "./args.ts";
import { destinationCommands } from "./destination-commands.ts";
import { DLQ_OPTIONS, dlqCommand } from "./dlq-command.ts";
import { GET_OPTIONS, getCommand } from "./get-command.ts";
import { ledgerCommand } from "./ledger-command.ts";
import { NATS_USERS_OPTIONS, natsUsersCommand } from "./nats-users-command.ts";
import { PAUSE_OPTIONS, pauseCommand, RESUME_OPTIONS, resumeCommand } from "./pause-command.ts";
import { PUT_OPTIONS, putCommand } from "./put-command.ts";
import { STATUS_OPTIONS, statusCommand } from "./status-command.ts";
import { TOKEN_OPTIONS, tokenCommand } from "./token-command.ts";
import { topologyCommand } from "./topology-command.ts";

const USAGE = `usage:
  artifact-bus put --project P --run R [--name NAME] [--level fit|epoch|batch] [--meta k=v ...] [--mode copy|link|move] [--wait SECONDS] [--quiet] FILE
      exit 0 logged (--wait: landed everywhere), 1 dead at a destination, timed out or failed, 2 usage
  artifact-bus status EVENT_ID [--project P --run R] | --project P --run R | --destinations  [--json]
      exit 0 all landed (destinations: all healthy), 1 dead (unhealthy), 2 usage, 3 pending, 4 not found, 5 NATS unreachable or refused
  artifact-bus get --project P --run R --set NAME_OR_POINTER --out DIR [--gateway URL] [--destination D]
      through the gateway (--gateway or ARTIFACT_BUS_URL; token from ARTIFACT_BUS_TOKEN)
      exit 0 set placed, 1 a member does not match the manifest, 2 usage, 4 no such pointer or complete set, 5 gateway unreachable or refused
  artifact-bus topology
  artifact-bus ledger format
      the ledger's format number and the formats this release reads; exit 1 when it reads not that one
  artifact-bus ledger migrate
      bring the ledger to this release's format (docs/ledger-format.md); exit 1 when it reads not the ledger's
  artifact-bus dlq [--destination s3:main] [--limit N]
  artifact-bus dlq replay --destination s3:main [--seq N ...] [--wait SECONDS]
      exit 0 replayed (--wait: each landed or superseded), 1 a replay dead again (--wait), timed out or failed, 2 usage
  artifact-bus pause --destination s3:main [--reason TEXT]
  artifact-bus resume --destination s3:main
  artifact-bus token create --project P [--project Q] --role publish|read|admin [--role R] [--label TEXT] [--file PATH]
  artifact-bus nats-users --project P [--project Q ...] --destination s3:main [--destination D ...] [--out FILE]
      nats-server config: admin, gateway, a trainer per project, an uploader per destination (least privilege)
  artifact-bus <kind> ...  commands of a destination's package, where installed (artifact-bus wandb --help)

Every command exits 2 for bad arguments (an unknown or repeated flag, a malformed value, a missing or extra argument).
Configuration comes from ARTIFACT_BUS_CONFIG (a JSON file) and ARTIFACT_BUS_* variables; see README.`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  put: putCommand,
  status: statusCommand,
  get: getCommand,
  topology: topologyCommand,
  ledger: ledgerCommand,
  dlq: dlqCommand,
  pause: pauseCommand,
  resume: resumeCommand,
  token: tokenCommand,
  "nats-users": natsUsersCommand,
};

/**
 * The options each command's parser takes: `<command> --help` lists them from the parser's own
 * table, so the help (and test/docs.test.ts, which holds the docs to it) cannot name a flag the
 * command would refuse.
 */
const OPTIONS: Record<string, ParseArgsOptionsConfig> = {
  put: PUT_OPTIONS,
  status: STATUS_OPTIONS,
  get: GET_OPTIONS,
  topology: {},
  ledger: {},
  dlq: DLQ_OPTIONS,
  pause: PAUSE_OPTIONS,
  resume: RESUME_OPTIONS,
  token: TOKEN_OPTIONS,
  "nats-users": NATS_USERS_OPTIONS,
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
  if (options) lines.push(optionsLine(options));
  return `usage:\n${lines.join("\n")}`;
}

/** The `options:` line of a command's help, from its parser's table. */
function optionsLine(options: ParseArgsOptionsConfig): string {
  const names = Object.entries(options).map(([long, o]) => (o.short ? `--${long} (-${o.short})` : `--${long}`));
  return `options: ${names.join(" ") || "none"}`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || isHelp(name)) {
    console.log(USAGE);
    return 0;
  }
  const beforeDashes = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  const command = commands[name];
  if (!command) {
    const added = await destinationCommands(name);
    if (!added) {
      console.error(USAGE);
      return USAGE_EXIT;
    }
    if (beforeDashes.some(isHelp)) {
      console.log(`usage:\n${added.usage.join("\n")}\n${optionsLine(added.options)}`);
      return 0;
    }
    return added.run(rest);
  }
  if (beforeDashes.some(isHelp)) {
    console.log(helpOf(name));
    return 0;
  }
  try {
    return await command(rest);
  } catch (err) {
    // Every command's bad arguments end here, so each exits the same code for them (README).
    if (!(err instanceof UsageError)) throw err;
    console.error(`artifact-bus ${name}: ${err.message}`);
    return USAGE_EXIT;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`artifact-bus: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
