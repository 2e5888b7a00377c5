/**
 * How every command reads its arguments, so that a mistake in them is refused the same way
 * everywhere: as a {@link UsageError}, which main.ts turns into exit 2 naming the problem.
 */
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";

/** Bad arguments: an unknown, repeated or malformed flag, a missing or extra argument. Exit 2. */
export class UsageError extends Error {}

/** What every command exits with for a {@link UsageError}. */
export const USAGE_EXIT = 2;

/**
 * `args` parsed by `options`, taking at most `positionals.length` positional arguments (their
 * names, for the message). node:util's parseArgs keeps the last of a repeated flag and drops
 * nothing it is not told to refuse, so both are checked here: a flag given twice and an extra
 * argument would otherwise be acted on as something the user did not mean.
 */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
  positionals: readonly string[] = [],
) {
  let parsed: ReturnType<typeof parse<O>>;
  try {
    parsed = parse(args, options);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind !== "option" || options[t.name]?.multiple) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} given twice`);
    seen.add(t.name);
  }
  const extra = parsed.positionals.slice(positionals.length);
  if (extra.length > 0) {
    const takes = positionals.length === 0 ? "no arguments" : `only ${positionals.join(" ")}`;
    throw new UsageError(`unexpected argument(s) ${extra.map((a) => JSON.stringify(a)).join(" ")}: it takes ${takes}`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

function parse<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  return parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
}
