/**
 * The shipped image builds and its services start, checked without a Docker engine: for every
 * service folder the root Dockerfile's steps are replayed as written (manifests only, its
 * `npm ci` line, then the sources; test/harness/dockerfile.ts), and each entry point that
 * docker-compose.yml runs from that image is started in the replayed tree with the environment
 * compose gives it, far enough to validate its configuration, and exits; and the image holds
 * nothing of the test kit (testkit/). `npm ci` needs the npm registry, so each replay may take a
 * minute or two.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative, sep } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  builtService,
  type ComposeService,
  environmentOf,
  loadCompose,
  REPO_ROOT,
  resolveInContainer,
} from "./harness/compose.ts";
import { type ReplayedStage, replayDockerfile } from "./harness/dockerfile.ts";

const SERVICES = readdirSync(join(REPO_ROOT, "services")).filter((s) =>
  existsSync(join(REPO_ROOT, "services", s, "src/main.ts")),
);
const { compose } = loadCompose();
const work = mkdtempSync(join(tmpdir(), "artifact-bus-dockerfile-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * What a build step sees besides the stage's ARG and ENV: the Node this suite runs on (24, as
 * the base image's) first on PATH, and the network settings npm needs. Nothing of the npm run
 * around this test (npm_config_local_prefix would send `npm ci` back into this repository).
 */
function buildEnv(): Record<string, string | undefined> {
  const keep = /^(HOME|TMPDIR|LANG|(https?|no)_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_(FILE|DIR))$/i;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => keep.test(k)));
  const path = (process.env.PATH ?? "").split(delimiter).filter((p) => !p.includes("node_modules"));
  return { ...env, PATH: [dirname(process.execPath), ...path].join(delimiter) };
}

/** The compose environment, with container paths of bind-mounted repository files mapped to them. */
function hostEnvironment(service: ComposeService): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environmentOf(service)).map(([k, v]) => {
      if (!v.startsWith("/")) return [k, v];
      try {
        return [k, resolveInContainer(service, v).hostPath ?? v];
      } catch {
        return [k, v];
      }
    }),
  );
}

/** Runs `node ...args` in the replayed image the way its CMD or a compose command would. */
function startIn(image: ReplayedStage, args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, args, {
    cwd: image.path("."),
    env: { ...buildEnv(), ...image.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
}

/** The contents of the test kit's files (testkit/), to find a copy of one under another name. */
const KIT_CONTENTS = new Set(filesUnder(join(REPO_ROOT, "testkit")).map((f) => readFileSync(f, "utf8")));

function filesUnder(dir: string, skip: (name: string) => boolean = () => false): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (skip(e.name)) return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? filesUnder(path, skip) : e.isFile() ? [path] : [];
  });
}

/**
 * Paths in a replayed image that are, or hold, the test kit: anything named `testkit` (its
 * folder, the node_modules/@artifact-bus/testkit link) and any file of ours, outside
 * node_modules, with the content of one of the kit's.
 */
function kitPathsIn(root: string): string[] {
  const app = join(root, "app");
  const named = readdirSync(app, { recursive: true, withFileTypes: true })
    .map((e) => relative(app, join(e.parentPath, e.name)))
    .filter((p) => p.split(sep).includes("testkit"));
  const copies = filesUnder(app, (name) => name === "node_modules")
    .filter((f) => KIT_CONTENTS.has(readFileSync(f, "utf8")))
    .map((f) => relative(app, f));
  return [...new Set([...named, ...copies])];
}

describe.each(SERVICES)("the image of services/%s", (service) => {
  it("builds from the Dockerfile as written, and every entry point compose runs from it validates its config and exits", () => {
    const { final: image, skipped } = replayDockerfile({
      dockerfile: join(REPO_ROOT, "Dockerfile"),
      context: REPO_ROOT,
      buildArgs: { SERVICE: service },
      workDir: join(work, service),
      baseEnv: buildEnv(),
    });
    // Steps left out may shape the image's filesystem, never install or run anything of ours.
    for (const step of skipped) expect(step.args).not.toMatch(/(^|[\s;&|(])(npm|npx|node|yarn|pnpm)\s/);

    // The test kit (testkit/, @artifact-bus/testkit) is for tests and the dev stack: the image holds
    // none of it, neither the folder, nor the workspace link, nor a copy of its files elsewhere.
    expect(kitPathsIn(image.root), "test kit files in the image").toEqual([]);

    const runners = Object.entries(compose.services).filter(([, s]) => builtService(s) === service);
    const daemons = runners.filter(([, s]) => s.command === undefined && s.entrypoint === undefined);
    expect(
      daemons.map(([name]) => name),
      `compose runs services/${service}`,
    ).not.toEqual([]);
    expect(image.cmd?.[0]).toBe("node");
    // The build filled Node's compile cache: the service compiles none of its TypeScript at start
    // (which would keep the type stripper in its memory), and neither does the CLI.
    const strippedAtStart = (stderr: string) =>
      stderr.split("\n").filter((l) => l.includes("no transpile cache for StrippedTypeScript"));
    const traceCache = { NODE_DEBUG_NATIVE: "COMPILE_CACHE" };
    for (const [name, s] of daemons) {
      const env = { ...hostEnvironment(s), ARTIFACT_BUS_CHECK_CONFIG: "1", ...traceCache };
      const r = startIn(image, image.cmd?.slice(1) ?? [], env);
      expect(r.status, `compose service ${name}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`${service}: config ok`);
      expect(strippedAtStart(r.stderr), `compose service ${name}`).toEqual([]);
    }

    // One-shots and tools run the CLI from the same image: its path exists and it loads (with
    // no arguments it prints its usage and exits 0).
    for (const [name, s] of runners) {
      const argv = [s.entrypoint, s.command].flatMap((a) => (a === undefined ? [] : [a].flat()));
      if (argv[0] !== "node") continue;
      const script = argv.slice(1).find((a) => !a.startsWith("-")) as string;
      const r = startIn(image, [image.path(script)], { ...hostEnvironment(s), ...traceCache });
      expect(r.status, `compose service ${name} (${script}): ${r.stdout}${r.stderr}`).toBe(0);
      expect(strippedAtStart(r.stderr), `compose service ${name} (${script})`).toEqual([]);
    }
  }, 600_000);
});

describe("the image of services/sftp-uploader", () => {
  it("carries the OpenSSH client that its default transport (auto) runs, and only that image does", () => {
    const dockerfile = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8").replaceAll("\\\n", " ");
    const install = dockerfile.split("\n").find((l) => /^RUN .*apt-get install .*\bopenssh-client\b/.test(l));
    expect(install, "a RUN step installing openssh-client").toBeDefined();
    expect(install).toMatch(/if \[ "\$SERVICE" = sftp-uploader \]/);
  });
});
