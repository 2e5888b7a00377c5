/**
 * Commands a destination's package adds to the CLI: `artifact-bus <kind> <command> ...` (e.g.
 * `artifact-bus wandb check`). The package exports `cliCommands` from its face; the CLI knows
 * this seam and the packages' naming convention, never a package itself, so the library imports
 * nothing of a service and the other commands load no destination code.
 */
import type { ParseArgsOptionsConfig } from "node:util";

/** What a destination's package exports as `cliCommands`. */
export interface DestinationCommands {
  /** Usage lines, each starting `artifact-bus <kind> `, continuations indented by four more spaces. */
  usage: string[];
  /** The options its parser takes (`--help` lists them). */
  options: ParseArgsOptionsConfig;
  /** Runs `artifact-bus <kind> <args...>`; resolves with the exit code. */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<number>;
}

/** The package of a destination kind, by the repository's convention. */
export const packageOfKind = (kind: string) => `@artifact-bus/${kind}-uploader`;

/**
 * The commands of destination kind `kind`, or undefined when no installed package provides any
 * (not a kind, or its package is not installed here).
 */
export async function destinationCommands(kind: string): Promise<DestinationCommands | undefined> {
  if (!/^[a-z][a-z0-9]*$/.test(kind)) return undefined;
  try {
    const face = (await import(packageOfKind(kind))) as { cliCommands?: DestinationCommands };
    return face.cliCommands;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") return undefined;
    throw err;
  }
}
