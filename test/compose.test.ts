/**
 * docker-compose.yml cannot drift from the code: every variable it sets is one the code reads,
 * every config it mounts parses (with the destinations' own option parsers), every NATS user
 * exists in the committed server config with the password the server reads, images are pinned,
 * ports stay on 127.0.0.1, long-running services have health checks, and the SFTP uploader pins
 * the host key its one-shot generated. All static: no Docker engine runs here.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { knownHostsName, parseSftpOptions, SFTP_ENV_VARIABLES, secretsFromEnv } from "@artifact-bus/sftp-uploader";
import {
  type Config,
  checkUploaderConfig,
  ENV_VARIABLES,
  loadConfig,
  parseConfig,
  parseDestinationName,
  servedDestinations,
  silentLogger,
} from "@artifact-bus/shared";
import { ensureSshdRuntimeDir } from "@artifact-bus/testkit";
import { describe, expect, it } from "vitest";
import { dirDestinationFactory } from "../services/dir-uploader/src/dir-factory.ts";
import { s3DestinationFactory } from "../services/s3-uploader/src/s3-factory.ts";
import { sftpDestinationFactory } from "../services/sftp-uploader/src/sftp-factory.ts";
import { wandbDestinationFactory } from "../services/wandb-uploader/src/wandb-factory.ts";
import {
  builtService,
  type ComposeService,
  environmentOf,
  isLongRunning,
  loadCompose,
  mountsOf,
  REPO_ROOT,
  resolveInContainer,
} from "./harness/compose.ts";
import { parseDockerfile } from "./harness/dockerfile.ts";

const { compose, raw } = loadCompose();
const services = Object.entries(compose.services);
const FACTORIES = {
  "s3-uploader": s3DestinationFactory,
  "sftp-uploader": sftpDestinationFactory,
  "wandb-uploader": wandbDestinationFactory,
  "dir-uploader": dirDestinationFactory,
} as const;
/** Services running an uploader's entry point (the image's CMD), by service folder. */
const uploaders = services.flatMap(([name, s]) => {
  const folder = builtService(s) as keyof typeof FACTORIES | undefined;
  const daemon = folder?.endsWith("-uploader") && s.command === undefined && s.entrypoint === undefined;
  return folder && daemon ? [{ name, s, folder }] : [];
});

/** The service's environment as the code sees it: the config file is the repository's. */
function configOf(s: ComposeService): Config {
  const env = environmentOf(s);
  if (env.ARTIFACT_BUS_CONFIG) env.ARTIFACT_BUS_CONFIG = resolveInContainer(s, env.ARTIFACT_BUS_CONFIG).hostPath ?? "";
  return loadConfig(env);
}

/** `Key value` lines of an sshd_config. */
function sshdConfig(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.trim().startsWith("#"))
      .map((l) => l.trim().split(/\s+/, 2) as [string, string]),
  );
}

describe("docker-compose.yml", () => {
  it("names only ARTIFACT_BUS_* variables the code reads, and that list is the code's", () => {
    const known = new Set([...ENV_VARIABLES, ...SFTP_ENV_VARIABLES]);
    const read = new Set<string>();
    const sources = ["shared/src", ...readdirSync(join(REPO_ROOT, "services")).map((s) => `services/${s}/src`)];
    for (const dir of sources) {
      for (const f of readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: "utf8" })) {
        if (!f.endsWith(".ts") || f.startsWith("testing")) continue;
        for (const m of readFileSync(join(REPO_ROOT, dir, f), "utf8").matchAll(/ARTIFACT_BUS_[A-Z0-9_]*[A-Z0-9]/g)) {
          read.add(m[0]);
        }
      }
    }
    expect([...read].sort()).toEqual([...known].sort());
    for (const [name, s] of services) {
      for (const key of Object.keys(s.environment ?? {}).filter((k) => k.startsWith("ARTIFACT_BUS_"))) {
        expect(known.has(key), `${name}: ${key} is read by nothing`).toBe(true);
      }
    }
  });

  it("mounts config files that parse, with every destination's options valid for its adapter", () => {
    const files = readdirSync(join(REPO_ROOT, "deploy/compose")).filter((f) => f.endsWith(".json"));
    const mounted = new Set(services.flatMap(([, s]) => mountsOf(s).flatMap((m) => m.hostPath ?? [])));
    for (const f of files) {
      const path = join(REPO_ROOT, "deploy/compose", f);
      expect(mounted.has(path), `deploy/compose/${f} is mounted by a service`).toBe(true);
      const config = parseConfig(JSON.parse(readFileSync(path, "utf8")));
      for (const d of config.destinations) {
        const kind = parseDestinationName(d.name).kind;
        expect(Object.keys(FACTORIES), `${f}: ${d.name} has an uploader`).toContain(`${kind}-uploader`);
      }
    }
    for (const [name, s] of services.filter(([, s]) => environmentOf(s).ARTIFACT_BUS_CONFIG)) {
      expect(() => configOf(s), name).not.toThrow();
    }
  });

  it("runs an uploader for every destination, each validating its options as its process would", async () => {
    const served = new Set<string>();
    for (const { name, s, folder } of uploaders) {
      const env = environmentOf(s);
      const names = await checkUploaderConfig(FACTORIES[folder], { config: configOf(s), env, log: silentLogger });
      for (const n of names) served.add(n);
      expect(names.length, name).toBeGreaterThan(0);
    }
    const configs = uploaders.map(({ s }) => configOf(s));
    expect([...served].sort()).toEqual([...new Set(configs.flatMap((c) => c.destinations.map((d) => d.name)))].sort());
  });

  it("logs every service into NATS as a user of deploy/nats/nats-server.conf, with the password the server reads", () => {
    const conf = readFileSync(join(REPO_ROOT, "deploy/nats/nats-server.conf"), "utf8");
    const users = new Map([...conf.matchAll(/user: "([^"]+)"\s+password: \$(\w+)/g)].map((m) => [m[1], m[2]]));
    const natsEnv = raw.services.nats?.environment ?? {};
    for (const [name, s] of services) {
      const user = environmentOf(s).ARTIFACT_BUS_NATS_USER;
      if (!user) continue;
      const variable = users.get(user);
      expect(variable, `${name}: NATS user ${user} in nats-server.conf`).toBeDefined();
      // Same expression, same default: overriding one variable changes both sides.
      expect(raw.services[name]?.environment?.ARTIFACT_BUS_NATS_PASSWORD, name).toBe(natsEnv[variable as string]);
    }
    // An uploader's user may consume only its own destination's consumer.
    for (const { name, s, folder } of uploaders) {
      const kind = folder.replace(/-uploader$/, "");
      const tokens = servedDestinations(configOf(s), kind, environmentOf(s)).map(
        (d) => parseDestinationName(d.name).token,
      );
      expect(
        tokens.map((t) => `uploader-${t}`),
        name,
      ).toEqual([environmentOf(s).ARTIFACT_BUS_NATS_USER]);
    }
  });

  it("pins every image, in compose and in the Dockerfiles it builds", () => {
    const pinned = (image: string) => {
      const tag = /:([^/:@]+)$/.exec(image)?.[1];
      return tag !== undefined && tag !== "latest" && /\d/.test(tag);
    };
    for (const [name, s] of services) {
      if (s.build === undefined) expect(pinned(s.image ?? ""), `${name}: ${s.image}`).toBe(true);
      else {
        const build = typeof s.build === "string" ? { context: s.build } : s.build;
        const file = join(REPO_ROOT, build.context ?? ".", build.dockerfile ?? "Dockerfile");
        const { stages } = parseDockerfile(readFileSync(file, "utf8"));
        const named = new Set(stages.flatMap((st) => st.name ?? []));
        for (const st of stages.filter((st) => !named.has(st.base))) {
          expect(pinned(st.base), `${name}: FROM ${st.base} in ${file}`).toBe(true);
        }
      }
    }
  });

  it("publishes ports on 127.0.0.1 only", () => {
    for (const [name, s] of services) {
      for (const p of s.ports ?? []) {
        const host =
          typeof p === "object" ? p.host_ip : String(p).split(":").length === 3 ? String(p).split(":")[0] : "";
        expect(host, `${name}: port ${JSON.stringify(p)}`).toBe("127.0.0.1");
      }
    }
  });

  it("has a health check on every long-running service; uploaders ask /readyz on their metrics port", () => {
    for (const [name, s] of services.filter(([, s]) => isLongRunning(s))) {
      expect(s.healthcheck?.test, name).toBeDefined();
      expect(s.healthcheck?.disable, name).not.toBe(true);
    }
    for (const { name, s } of uploaders) {
      const port = environmentOf(s).ARTIFACT_BUS_METRICS_PORT;
      expect(port, name).toMatch(/^\d+$/);
      expect([s.healthcheck?.test].flat().join(" "), name).toContain(`http://127.0.0.1:${port}/readyz`);
    }
  });

  it("runs the gateway: published port, /readyz health check, tokens on a volume the token tool writes", () => {
    const gateway = services.find(([, s]) => builtService(s) === "gateway")?.[1];
    if (!gateway) throw new Error("compose runs no gateway");
    const config = configOf(gateway);
    expect(config.gateway.host).toBe("0.0.0.0");
    expect(gateway.ports).toContain(`127.0.0.1:${config.gateway.port}:${config.gateway.port}`);
    expect([gateway.healthcheck?.test].flat().join(" ")).toContain(`http://127.0.0.1:${config.gateway.port}/readyz`);
    expect(environmentOf(gateway).ARTIFACT_BUS_NATS_USER).toBe("gateway");
    const tokens = resolveInContainer(gateway, config.gateway.tokensFile);
    expect(tokens.volume, "tokens file on a volume").toBeDefined();
    const tool = services.find(
      ([, s]) => s !== gateway && mountsOf(s).some((m) => m.volume === tokens.volume && !m.readOnly),
    )?.[1];
    expect(tool, "a service that writes the tokens").toBeDefined();
    expect(configOf(tool as ComposeService).gateway.tokensFile).toBe(config.gateway.tokensFile);
  });

  it("gives each service only its own secrets: the gateway reads back with a read-only MinIO user of its own", () => {
    // An uploader's secrets: the S3 uploader's key pair (variables), the SFTP uploader's private key
    // (the volume its one-shot writes). Only that uploader, and the one-shot making them, hold them.
    const holders = (has: (name: string, s: ComposeService) => boolean) =>
      services.filter(([name, s]) => has(name, s)).map(([name]) => name);
    const s3Key = holders((name) =>
      Object.values(raw.services[name]?.environment ?? {}).some((v) => /\$\{S3_UPLOADER_/.test(String(v))),
    );
    expect(s3Key.sort()).toEqual(["createbucket", "s3-uploader"]);
    const sftpKey = holders((_, s) => mountsOf(s).some((m) => m.volume === "sftp-uploader-keys"));
    expect(sftpKey.sort()).toEqual(["sftp-keys", "sftp-uploader"]);

    // The gateway reads content back (read-back.ts) only from the destinations config names, with
    // credentials of its own: an S3 user whose policy allows reads only.
    const gateway = services.find(([, s]) => builtService(s) === "gateway")?.[1] as ComposeService;
    const config = configOf(gateway);
    expect(config.gateway.readBack).toEqual(["s3:minio"]);
    const env = raw.services.gateway?.environment ?? {};
    expect(env.AWS_ACCESS_KEY_ID).toMatch(/^\$\{S3_GATEWAY_ACCESS_KEY:-/);
    expect(env.AWS_SECRET_ACCESS_KEY).toMatch(/^\$\{S3_GATEWAY_SECRET_KEY:-/);
    const script = [compose.services.createbucket?.command].flat().join("\n");
    const policy = /cat > \/tmp\/gateway-policy.json <<'EOF'\n([\s\S]*?)\n\s*EOF/.exec(script)?.[1];
    const actions = (JSON.parse(policy ?? "{}").Statement ?? []).flatMap((st: { Action: string[] }) => st.Action);
    expect(actions.sort()).toEqual(["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"]);
    expect(script).toMatch(/mc admin policy attach local artifact-bus-gateway --user "\$GATEWAY_ACCESS_KEY"/);
  });

  it("pins the SFTP server's host key, generated by a one-shot, in the uploader's known_hosts", () => {
    const uploader = uploaders.find((u) => u.folder === "sftp-uploader")?.s;
    if (!uploader) throw new Error("compose runs no sftp-uploader");
    const config = configOf(uploader);
    const d = servedDestinations(config, "sftp", environmentOf(uploader))[0];
    const o = parseSftpOptions(d?.options, secretsFromEnv(environmentOf(uploader)));
    expect(o.insecureAcceptAnyHostKey).toBe(false);
    const knownHosts = resolveInContainer(uploader, o.knownHostsFile ?? "");
    const key = resolveInContainer(uploader, o.privateKeyPath ?? "");
    expect(knownHosts.volume, "known_hosts comes from a volume").toBeDefined();
    expect(key.volume).toBe(knownHosts.volume);

    // The one-shot that writes them mounts that volume at the same path and runs first.
    const [keysName, keys] = services.find(
      ([, s]) => s.restart === "no" && mountsOf(s).some((m) => m.volume === knownHosts.volume && !m.readOnly),
    ) ?? ["", {}];
    const script = [keys.command].flat().join("\n");
    expect(resolveInContainer(keys, o.knownHostsFile as string).volume).toBe(knownHosts.volume);
    expect(script).toContain(`-f ${o.privateKeyPath}`);
    expect(script).toContain(`echo "${knownHostsName(o.host, o.port)} `);
    expect(script).toContain(`> ${o.knownHostsFile}`);
    expect((uploader.depends_on as Record<string, { condition: string }>)[keysName]?.condition).toBe(
      "service_completed_successfully",
    );

    // The server, a compose service named by `host`, serves that host key on `port`, lets in the
    // uploader's key, and stores under `root`; sshd itself accepts the config.
    const server = compose.services[o.host] as ComposeService;
    const sshd = sshdConfig(join(REPO_ROOT, String(server.build), "sshd_config"));
    expect(Number(sshd.Port)).toBe(o.port);
    const hostKey = resolveInContainer(server, sshd.HostKey as string);
    expect(mountsOf(keys).find((m) => m.volume === hostKey.volume)?.target).toBe(posix.dirname(sshd.HostKey as string));
    expect(script).toContain(`cd ${posix.dirname(sshd.HostKey as string)}\n`);
    expect(script).toContain(`-f ${hostKey.relative}`);
    expect(script).toContain(`${hostKey.relative}.pub)" > ${o.knownHostsFile}`);
    expect(resolveInContainer(server, sshd.AuthorizedKeysFile as string).volume).toBe(hostKey.volume);
    expect(script).toContain(`cp ${o.privateKeyPath}.pub ${posix.basename(sshd.AuthorizedKeysFile as string)}`);
    expect(sshd.AllowUsers).toBe(o.username);
    expect(resolveInContainer(server, o.root).relative).toBe("");
    const dir = mkdtempSync(join(tmpdir(), "artifact-bus-sshd-"));
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
    const text = readFileSync(join(REPO_ROOT, String(server.build), "sshd_config"), "utf8");
    writeFileSync(join(dir, "sshd_config"), text.replace(sshd.HostKey as string, join(dir, "key")));
    ensureSshdRuntimeDir();
    const check = spawnSync("/usr/sbin/sshd", ["-t", "-f", join(dir, "sshd_config")], { encoding: "utf8" });
    rmSync(dir, { recursive: true, force: true });
    expect(check.status, check.stderr).toBe(0);
  });
});
