/**
 * Replays a Dockerfile's build steps without a Docker engine: each stage's filesystem is a
 * directory, COPY copies (from the build context as .dockerignore filters it, or from an
 * earlier stage), WORKDIR maps into the stage directory, and RUN runs the very command line
 * with `/bin/sh -c` there, with the stage's ARG and ENV values in its environment. The base
 * image is the machine it runs on (its Node, npm and shell), and file owners (`--chown`,
 * `USER`) are not reproduced. A step that needs what the machine lacks (the base image's own
 * files and users, its package manager) the Dockerfile marks with a `# replay: skip, <reason>`
 * comment right above it; nothing else is left out.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";

export interface Instruction {
  /** Line of the instruction's first line, 1-based. */
  line: number;
  keyword: string;
  /** `--name=value` options before the arguments, e.g. `from` for `COPY --from=manifests`. */
  flags: Record<string, string>;
  args: string;
  /** The reason given by a `# replay: skip, <reason>` comment right above, if any. */
  skip?: string;
}

export interface Stage {
  name?: string;
  base: string;
  instructions: Instruction[];
}

/** Logical lines (continuations joined, comments dropped) grouped into stages. */
export function parseDockerfile(text: string): { globalArgs: Instruction[]; stages: Stage[] } {
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  const lines = text.split("\n");
  let skip: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const first = (lines[i] ?? "").trim();
    if (first === "" || first.startsWith("#")) {
      const marker = /^#\s*replay:\s*skip,?\s*(.*)$/.exec(first);
      if (marker) skip = marker[1] || "no reason given";
      continue;
    }
    const start = i + 1;
    let logical = first;
    while (logical.endsWith("\\") && i + 1 < lines.length) {
      logical = logical.slice(0, -1);
      const next = (lines[++i] ?? "").trim();
      if (!next.startsWith("#")) logical += ` ${next}`;
    }
    const m = /^(\S+)\s*(.*)$/s.exec(logical.trim()) as RegExpExecArray;
    const flags: Record<string, string> = {};
    let args = m[2] ?? "";
    for (let f = /^--([a-z-]+)=(\S+)\s+/.exec(args); f; f = /^--([a-z-]+)=(\S+)\s+/.exec(args)) {
      flags[f[1] as string] = f[2] as string;
      args = args.slice(f[0].length);
    }
    const ins: Instruction = { line: start, keyword: (m[1] as string).toUpperCase(), flags, args: args.trim() };
    if (skip !== undefined) ins.skip = skip;
    skip = undefined;
    if (ins.keyword === "FROM") {
      const [base = "", as, name] = ins.args.split(/\s+/);
      stages.push({ base, ...(as?.toUpperCase() === "AS" && name ? { name } : {}), instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== "ARG") throw new Error(`line ${start}: ${ins.keyword} before the first FROM`);
      globalArgs.push(ins);
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

/**
 * A .dockerignore as Docker reads it: patterns from the context root, `**`, `!` exceptions,
 * the last matching pattern wins, and a pattern matching a directory covers what it holds.
 */
export function dockerignore(text: string): { ignored: (path: string) => boolean; hasExceptions: boolean } {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const pattern = posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, "");
      const re = pattern
        .split("/")
        .map((seg) =>
          seg === "**"
            ? "\0"
            : seg
                .replace(/[.+^${}()|[\]\\]/g, "\\$&")
                .replace(/\*/g, "[^/]*")
                .replace(/\?/g, "[^/]"),
        )
        .join("/")
        .replace(/\0\//g, "(?:.*/)?")
        .replace(/\/\0$/, "(?:/.*)?")
        .replace(/\0/g, ".*");
      return { negate, re: new RegExp(`^${re}$`) };
    });
  const ignored = (path: string) => {
    const parts = path.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let result = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) result = !r.negate;
    return result;
  };
  return { ignored, hasExceptions: rules.some((r) => r.negate) };
}

/** Copies the build context as `docker build` would send it (.dockerignore applied) into `to`. */
export function copyContext(context: string, to: string): void {
  const ignoreFile = join(context, ".dockerignore");
  const { ignored, hasExceptions } = dockerignore(existsSync(ignoreFile) ? readFileSync(ignoreFile, "utf8") : "");
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(context, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        // Without `!` exceptions an ignored directory (node_modules) holds nothing that is sent.
        if (hasExceptions || !ignored(path)) walk(path);
      } else if (!ignored(path)) {
        cpSync(join(context, path), join(to, path), { verbatimSymlinks: true });
      }
    }
  };
  mkdirSync(to, { recursive: true });
  walk("");
}

/** `$NAME` and `${NAME}` as Dockerfile instructions substitute them; unknown names are empty. */
function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a, b) => vars[a ?? b] ?? "");
}

/** Splits `a "b c" d` into words, the way COPY and ENV read their arguments. */
function words(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => (m[1] ?? m[2]) as string);
}

/** `NAME=value` as [NAME, value]; value undefined without `=`. */
function assignment(text: string): [string, string | undefined] {
  const i = text.indexOf("=");
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + 1)];
}

/** Longest a RUN step may take (an `npm ci` against a slow registry takes minutes). */
const STEP_TIMEOUT_MS = 10 * 60_000;

export interface ReplayedStage {
  /** The directory standing for the stage's `/`. */
  root: string;
  workdir: string;
  /** ARG and ENV values in effect at the end of the stage. */
  env: Record<string, string>;
  cmd?: string[];
  user?: string;
  /** Host path of a path inside the stage. */
  path(inside: string): string;
}

export interface ReplayOptions {
  dockerfile: string;
  context: string;
  buildArgs: Record<string, string>;
  /** An empty directory the stages are built in. */
  workDir: string;
  /** Environment every RUN starts from (PATH with the Node to use, HOME, npm's settings). */
  baseEnv: Record<string, string | undefined>;
}

export interface ReplayResult {
  final: ReplayedStage;
  skipped: Instruction[];
}

/** Replays every stage; throws naming the Dockerfile line of the first step that fails. */
export function replayDockerfile(o: ReplayOptions): ReplayResult {
  const { globalArgs, stages } = parseDockerfile(readFileSync(o.dockerfile, "utf8"));
  const contextCopy = join(o.workDir, "context");
  copyContext(o.context, contextCopy);
  const globals: Record<string, string> = {};
  for (const a of globalArgs) {
    const [name, def] = assignment(a.args);
    globals[name] = o.buildArgs[name] ?? def ?? "";
  }
  const built = new Map<string, ReplayedStage>();
  const skipped: Instruction[] = [];
  let stage: ReplayedStage | undefined;
  stages.forEach((s, index) => {
    const root = join(o.workDir, `stage-${index}`);
    const current: ReplayedStage = {
      root,
      workdir: "/",
      env: {},
      path: (inside) => join(root, posix.resolve(current.workdir, inside)),
    };
    stage = current;
    mkdirSync(root, { recursive: true });
    // `FROM <earlier stage>` goes on from its files and settings; a base image's are the machine's.
    const parent = built.get(s.base);
    if (parent) {
      cpSync(parent.root, root, { recursive: true, verbatimSymlinks: true });
      Object.assign(current, { workdir: parent.workdir, env: { ...parent.env }, cmd: parent.cmd, user: parent.user });
    }
    for (const ins of s.instructions) {
      const at = `${o.dockerfile}:${ins.line} ${ins.keyword}`;
      if (ins.skip !== undefined) {
        skipped.push(ins);
        continue;
      }
      switch (ins.keyword) {
        case "ARG": {
          const [name, def] = assignment(ins.args);
          current.env[name] = o.buildArgs[name] ?? def ?? globals[name] ?? "";
          break;
        }
        case "ENV": {
          const pairs = words(ins.args).map(assignment);
          // The legacy form `ENV NAME value` sets one variable to the rest of the line.
          if (pairs[0]?.[1] === undefined)
            pairs.splice(0, pairs.length, [pairs[0]?.[0] ?? "", ins.args.replace(/^\S+\s*/, "")]);
          for (const [k, v] of pairs) current.env[k] = substitute(v ?? "", current.env);
          break;
        }
        case "WORKDIR":
          current.workdir = posix.resolve(current.workdir, substitute(ins.args, current.env));
          mkdirSync(current.path("."), { recursive: true });
          break;
        case "COPY": {
          const from = ins.flags.from;
          const source = from === undefined ? undefined : (built.get(from) ?? built.get(`#${from}`));
          if (from !== undefined && !source) throw new Error(`${at}: no stage named ${from}`);
          const parts = words(substitute(ins.args, current.env));
          const dest = parts.pop() as string;
          for (const src of parts) {
            if (/[*?[]/.test(src)) throw new Error(`${at}: the replay does not expand wildcards (${src})`);
            const hostSrc = source ? source.path(posix.resolve("/", src)) : join(contextCopy, posix.normalize(src));
            const into = current.path(dest);
            const target =
              statSync(hostSrc).isDirectory() || !dest.endsWith("/") ? into : join(into, posix.basename(src));
            cpSync(hostSrc, target, { recursive: true, verbatimSymlinks: true });
          }
          break;
        }
        case "RUN": {
          const other = Object.entries(ins.flags).find(([k, v]) => k !== "mount" || !v.startsWith("type=cache"));
          if (other) throw new Error(`${at}: the replay only knows cache mounts (--${other[0]}=${other[1]})`);
          // The exec form `RUN ["cmd", "arg"]` runs without a shell.
          const argv: string[] = ins.args.startsWith("[") ? JSON.parse(ins.args) : ["/bin/sh", "-c", ins.args];
          const r = spawnSync(argv[0] as string, argv.slice(1), {
            cwd: current.path("."),
            env: { ...o.baseEnv, ...current.env },
            encoding: "utf8",
            maxBuffer: 64 * 1024 * 1024,
            // spawnSync blocks the test runner's own timeout: a hung step must end by itself.
            timeout: STEP_TIMEOUT_MS,
          });
          if (r.status !== 0) {
            throw new Error(`${at} exited with ${r.status ?? r.signal}: ${ins.args}\n${r.stdout}${r.stderr}`);
          }
          break;
        }
        case "USER":
          current.user = ins.args;
          break;
        case "CMD":
          if (!ins.args.startsWith("["))
            throw new Error(`${at}: the replay starts only the exec form, CMD ["node", ...]`);
          current.cmd = JSON.parse(ins.args);
          break;
        case "EXPOSE":
        case "LABEL":
        case "STOPSIGNAL":
          break;
        default:
          throw new Error(`${at}: the replay does not know ${ins.keyword}; teach test/harness/dockerfile.ts`);
      }
    }
    built.set(`#${index}`, current);
    if (s.name) built.set(s.name, current);
  });
  if (!stage) throw new Error(`${o.dockerfile}: no FROM`);
  return { final: stage, skipped };
}
