/**
 * The docs name only what exists: every `artifact-bus` subcommand and flag that README.md,
 * docs/*.md and the Python client's README show is one the CLI's own `--help` lists (which lists
 * the options of the command's parser), and every relative link resolves to a file, and to a
 * heading when it names an anchor.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { compileCacheEnv } from "@artifact-bus/testkit";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { CLI } from "./harness/cli.ts";
import { commandLines, flagsOf, headingAnchors, relativeLinks } from "./harness/doc-references.ts";

const ROOT = resolve(import.meta.dirname, "..");
const DOCS = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
  "clients/python/README.md",
];
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

/** Compose services whose entrypoint is the CLI: `docker compose run --rm <service> put …` is `put …`. */
const CLI_SERVICES = Object.entries(
  (parseYaml(read("docker-compose.yml")) as { services: Record<string, { entrypoint?: string[] }> }).services,
)
  .filter(([, s]) => s.entrypoint?.some((a) => a.endsWith("shared/src/cli/main.ts")))
  .map(([name]) => name);

/** `artifact-bus <command> --help`, as a user runs it; undefined when there is no such command. */
const helps = new Map<string, string | undefined>();
function helpOf(command: string): string | undefined {
  if (!helps.has(command)) {
    try {
      const env = { ...process.env, ...compileCacheEnv() };
      helps.set(
        command,
        execFileSync(process.execPath, [CLI, command, "--help"], { encoding: "utf8", env, stdio: "pipe" }),
      );
    } catch {
      helps.set(command, undefined);
    }
  }
  return helps.get(command);
}

/** What a document shows that the CLI does not have, one line per problem. */
function commandProblems(file: string, markdown: string): string[] {
  const problems: string[] = [];
  for (const c of commandLines(markdown, CLI_SERVICES)) {
    const [command, second] = c.words as [string, string | undefined];
    const where = `${file}:${c.line}: \`${c.text.trim()}\``;
    const help = helpOf(command);
    if (help === undefined) {
      problems.push(`${where}: no subcommand ${command}`);
      continue;
    }
    if (second && /^[a-z]+$/.test(second) && !help.includes(`artifact-bus ${command} ${second}`)) {
      problems.push(`${where}: no subcommand ${command} ${second}`);
    }
    const known = new Set(flagsOf(help.split(/\s+/)));
    for (const flag of flagsOf(c.words.slice(1))) {
      if (!known.has(flag)) problems.push(`${where}: ${command} has no flag ${flag}`);
    }
  }
  return problems;
}

function linkProblems(file: string, markdown: string): string[] {
  const problems: string[] = [];
  for (const { line, target } of relativeLinks(markdown)) {
    const [path, anchor] = target.split("#") as [string, string | undefined];
    const resolved = path ? resolve(dirname(join(ROOT, file)), decodeURI(path)) : join(ROOT, file);
    if (!existsSync(resolved)) {
      problems.push(`${file}:${line}: ${target}: no such file`);
      continue;
    }
    if (anchor && statSync(resolved).isFile() && resolved.endsWith(".md")) {
      if (!headingAnchors(readFileSync(resolved, "utf8")).has(anchor)) {
        problems.push(`${file}:${line}: ${target}: no heading #${anchor}`);
      }
    }
  }
  return problems;
}

/** Repository paths a document names in code spans (templates such as `<project>` aside). */
function namedPaths(markdown: string): string[] {
  const span = /`((?:shared|services|clients|testkit|test|docs|bench|scripts|deploy)\/[\w./-]+)`/g;
  return [...markdown.matchAll(span)].map((m) => (m[1] as string).replace(/\.$/, ""));
}

describe("the docs", () => {
  it("name only files and folders that exist (docs/architecture.md names one for each step)", () => {
    expect(namedPaths(read("docs/architecture.md")).length).toBeGreaterThan(20);
    const missing = DOCS.flatMap((f) =>
      namedPaths(read(f)).flatMap((p) => (existsSync(join(ROOT, p)) ? [] : [`${f}: ${p}`])),
    );
    expect(missing).toEqual([]);
  });

  it("show only artifact-bus subcommands and flags that the CLI has", () => {
    const shown = DOCS.flatMap((f) => commandLines(read(f), CLI_SERVICES));
    expect(shown.length).toBeGreaterThan(10); // the docs show commands, and the scan finds them
    expect(DOCS.flatMap((f) => commandProblems(f, read(f)))).toEqual([]);
  });

  it("hold the CLI's help to its parsers: each usage line's flags are among the options it lists", () => {
    for (const command of ["put", "status", "topology", "dlq", "token"]) {
      const help = helpOf(command);
      expect(help, command).toBeDefined();
      const [usage, options] = help!.split(/^options:/m) as [string, string];
      const accepted = new Set(flagsOf(options.split(/\s+/)));
      expect(
        flagsOf(usage.split(/\s+/)).filter((f) => !accepted.has(f)),
        command,
      ).toEqual([]);
    }
  });

  it("would catch a subcommand or a flag the CLI does not have", () => {
    const doc = [
      "Run `artifact-bus put --project p --run r --bogus FILE`, then",
      "```sh",
      "npm run artifact-bus -- dlq replay --destination s3:main \\",
      "  --every",
      "docker compose run --rm trainer frobnicate",
      "```",
    ].join("\n");
    expect(commandProblems("x.md", doc)).toEqual([
      "x.md:1: `artifact-bus put --project p --run r --bogus FILE`: put has no flag --bogus",
      "x.md:3: `npm run artifact-bus -- dlq replay --destination s3:main  --every`: dlq has no flag --every",
      "x.md:5: `docker compose run --rm trainer frobnicate`: no subcommand frobnicate",
    ]);
  });

  it("link only to files and headings that exist", () => {
    expect(DOCS.flatMap((f) => linkProblems(f, read(f)))).toEqual([]);
    expect(linkProblems("README.md", "[a](docs/nope.md) [b](docs/contract.md#no-such-heading)")).toEqual([
      "README.md:1: docs/nope.md: no such file",
      "README.md:1: docs/contract.md#no-such-heading: no heading #no-such-heading",
    ]);
  });
});
