/**
 * `npm run dev`: the local stack on one machine, with no Docker. Starts the real nats-server,
 * an S3-compatible server (s3rver) in its own process with a bucket, applies the topology and
 * runs the S3 uploader; prints how to log a first artifact. Ctrl-C stops everything.
 * `npm run dev -- --sftp` adds destination `sftp:local`: a throwaway OpenSSH sshd (its host key
 * pinned in the config) and the SFTP uploader. `npm run dev -- --wandb` adds `wandb:local`: the
 * W&B uploader against the local W&B API double (the real service cannot be reached here).
 * The HTTP gateway runs too, with a token for project `demo` made at start (printed with a curl
 * example that works as printed).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  appendTokenRecord,
  connectNats,
  ensureTopology,
  newToken,
  parseConfig,
  UPLOADER_NODE_FLAGS,
} from "@artifact-bus/shared";
import {
  compileCacheEnv,
  NatsServer,
  S3TestServer,
  SshdServer,
  WandbDouble,
  warmCompileCache,
} from "@artifact-bus/testkit";

const root = resolve(import.meta.dirname, "..");
const stackDir = resolve(root, ".stack");
mkdirSync(stackDir, { recursive: true });

// Meanwhile the services' modules go into Node's compile cache, so that even the first start
// of each runs without the TypeScript stripper in its memory (shared/src/service/compile-cache.ts).
const warming = warmCompileCache().catch((err: Error) => console.warn(`compile cache not filled: ${err.message}`));
// First, so a missing or failing sshd stops us before anything else runs.
const sshd = process.argv.includes("--sftp") ? await SshdServer.start() : undefined;
const wandb = process.argv.includes("--wandb") ? await WandbDouble.start() : undefined;
const nats = await NatsServer.start({ port: await preferPort(4222) });
const s3 = await S3TestServer.start({ buckets: ["artifacts"] });
const configPath = resolve(stackDir, "config.json");
mkdirSync(resolve(stackDir, "files", "demo"), { recursive: true });
const gatewayPort = (await preferPort(8080)) ?? (await preferPort(0, true));
const config = parseConfig({
  nats: { servers: [nats.url] },
  // POST by path reads a project's files from .stack/files/<project>/ only.
  gateway: {
    port: gatewayPort,
    tokensFile: resolve(stackDir, "gateway-tokens.jsonl"),
    allowedDirs: [resolve(stackDir, "files", "{project}")],
  },
  staging: { store: "fs", dir: resolve(stackDir, "staging"), mode: "copy" },
  destinations: [
    {
      name: "s3:local",
      options: { bucket: "artifacts", endpoint: s3.endpoint, forcePathStyle: true, region: s3.region },
    },
    ...(sshd
      ? [
          {
            name: "sftp:local",
            options: {
              host: sshd.host,
              port: sshd.port,
              username: sshd.username,
              root: sshd.rootDir,
              hostKeyFingerprint: sshd.hostKeySha256Fingerprint,
              privateKeyPath: sshd.privateKeyPath,
            },
          },
        ]
      : []),
    ...(wandb ? [{ name: "wandb:local", options: { baseUrl: wandb.baseUrl, entity: "local" } }] : []),
  ],
});
writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);

const nc = await connectNats(config.nats, { name: "dev-stack" });
await ensureTopology(nc, {
  stream: config.stream,
  destinations: config.destinations,
  blobProjects: config.staging.projects,
});
await nc.close();

await warming;

/** One uploader service process; each serves the destinations of its own kind in the config. */
function startUploader(service: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [...UPLOADER_NODE_FLAGS, resolve(root, `services/${service}/src/main.ts`)], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, ...compileCacheEnv(), ARTIFACT_BUS_CONFIG: configPath, ...env },
  });
}
const uploader = startUploader("s3-uploader", {
  AWS_ACCESS_KEY_ID: s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
});
const sftpUploader = sshd ? startUploader("sftp-uploader") : undefined;
// A fresh token each start: only its hash is kept (.stack/gateway-tokens.jsonl).
const { token, record } = newToken({ projects: ["demo"], roles: ["publish"], label: "npm run dev" });
appendTokenRecord(config.gateway.tokensFile, record);
const gateway = spawn(process.execPath, [resolve(root, "services/gateway/src/main.ts")], {
  stdio: ["ignore", "inherit", "inherit"],
  env: {
    ...process.env,
    ...compileCacheEnv(),
    ARTIFACT_BUS_CONFIG: configPath,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  },
});
const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
await untilReady(`${gatewayUrl}/readyz`);
const wandbUploader = wandb ? startUploader("wandb-uploader", { WANDB_API_KEY: wandb.apiKey }) : undefined;
const uploaders = [uploader, gateway, ...[sftpUploader, wandbUploader].filter((u) => u !== undefined)];
const sftpLines = sshd
  ? {
      server: `\n  SFTP       sftp://${sshd.host}:${sshd.port} as ${sshd.username}, root ${sshd.rootDir}\n             host key ${sshd.hostKeySha256Fingerprint} (pinned in the config; sshd and its files go on Ctrl-C)`,
      uploader: `\n  uploader   sftp:local (pid ${sftpUploader?.pid})`,
      lands: `\nand at ${sshd.rootDir}/demo/r1/README.md over SFTP.`,
    }
  : { server: "", uploader: "", lands: "" };
const wandbLines = wandb
  ? {
      server: `\n  W&B        ${wandb.baseUrl}  (the local API double; entity "local")`,
      uploader: `\n  uploader   wandb:local (pid ${wandbUploader?.pid})`,
      lands: `\nand as W&B artifact local/demo/README.md:v0 (type file, aliases latest).`,
    }
  : { server: "", uploader: "", lands: "" };

console.log(`
artifact-bus local stack is up
  NATS       ${nats.url}  (no users: for NATS permissions per tenant see deploy/nats/nats-server.conf)
  S3         ${s3.endpoint}  (bucket "artifacts", access key ${s3.accessKeyId})${sftpLines.server}${wandbLines.server}
  config     ${configPath}
  staging    ${config.staging.dir}  (where producers on NATS stage blobs: docs/producers.md)
  uploader   s3:local (pid ${uploader.pid})${sftpLines.uploader}${wandbLines.uploader}
  gateway    ${gatewayUrl} (pid ${gateway.pid}), token for project demo (publish):
             ${token}

Log a first artifact from another terminal:
  ARTIFACT_BUS_CONFIG=.stack/config.json npm run artifact-bus -- put --project demo --run r1 --wait 30 ./README.md
It lands at s3://artifacts/demo/r1/README.md on ${s3.endpoint}${sftpLines.lands || (wandb ? "" : ".")}${wandbLines.lands}
Or over HTTP, then wait until it landed and read it back:
  curl -sS -T ./README.md -H "Authorization: Bearer ${token}" ${gatewayUrl}/v1/projects/demo/runs/r2/artifacts/docs/README.md
  curl -sS -X POST -H "Authorization: Bearer ${token}" "${gatewayUrl}/v1/projects/demo/runs/r2/wait?timeout=30"
  curl -sS -H "Authorization: Bearer ${token}" ${gatewayUrl}/v1/projects/demo/runs/r2/artifacts/docs/README.md/content
Ctrl-C stops everything.
`);

let stopping = false;
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  await Promise.all(uploaders.map(stopChild));
  await sshd?.dispose();
  await wandb?.dispose();
  await s3.dispose();
  await nats.dispose();
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
for (const child of uploaders) {
  child.on("exit", (code) => {
    if (!stopping) {
      console.error(
        `${child === gateway ? "gateway" : "uploader"} ${child.pid} exited with ${code}; stopping the stack`,
      );
      void shutdown(1);
    }
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    child.once("exit", () => res());
    child.kill("SIGTERM");
  });
}

/**
 * The well-known port when free, so the default config (nats://127.0.0.1:4222) just works; with
 * `any`, the port the system picks for 0.
 */
async function preferPort(port: number, any = false): Promise<number | undefined> {
  const { createServer } = await import("node:net");
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(undefined));
    srv.listen(port, "127.0.0.1", () => {
      const got = (srv.address() as { port: number }).port;
      srv.close(() => res(any ? got : port));
    });
  });
}

/** Resolves once `url` answers 200 (the gateway connected and listening), within 30 s. */
async function untilReady(url: string): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within 30 s`);
}
