/**
 * `artifact-bus token create --project P [--project Q] --role R [--role S] [--label TEXT]`:
 * makes a gateway token, prints it once on stdout, and appends its hash (with its projects and
 * roles) to the gateway's tokens file (`gateway.tokensFile`). A running gateway picks it up on
 * SIGHUP. The token itself is stored nowhere: lose it, make another.
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { loadConfig } from "../config/config.ts";
import { appendTokenRecord, newToken } from "../tokens.ts";
import { parseCommandArgs, UsageError } from "./args.ts";

/** What `token create` takes; `token --help` prints these names. */
export const TOKEN_OPTIONS = {
  project: { type: "string", multiple: true },
  role: { type: "string", multiple: true },
  label: { type: "string" },
  file: { type: "string" },
} satisfies ParseArgsOptionsConfig;

export async function tokenCommand(args: string[]): Promise<number> {
  if (args[0] !== "create")
    throw new UsageError("usage: artifact-bus token create --project P --role publish|read|admin");
  const { values } = parseCommandArgs(args.slice(1), TOKEN_OPTIONS);
  if (!values.project?.length || !values.role?.length) throw new UsageError("token create needs --project and --role");
  let made: ReturnType<typeof newToken>;
  try {
    // It checks only what it was given (projects, roles), so what it refuses is a bad argument.
    made = newToken({ projects: values.project, roles: values.role, label: values.label });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { token, record } = made;
  const file = values.file ?? loadConfig().gateway.tokensFile;
  appendTokenRecord(file, record);
  console.error(
    `token ${record.id} for ${record.projects.join(", ")} (${record.roles.join(", ")}) added to ${file}; send SIGHUP to a running gateway`,
  );
  console.log(token);
  return 0;
}
