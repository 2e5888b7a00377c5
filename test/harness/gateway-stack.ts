/**
 * The S3 stack plus the HTTP gateway in its own process (logged into NATS as its own user when
 * secured), with a tokens file the tests add to. Requests go over real HTTP.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { appendTokenRecord, type GatewayConfig, newToken, type Role } from "@artifact-bus/shared";
import { UploaderProcess } from "@artifact-bus/testkit";
import { S3Stack, type S3StackOptions } from "./s3-stack.ts";

export const GATEWAY_MAIN = resolve(import.meta.dirname, "../../services/gateway/src/main.ts");
/** As the image runs it (the Dockerfile's CMD): a small young generation bounds RSS while bodies stream. */
const GATEWAY_NODE_FLAGS = (process.env.ARTIFACT_BUS_TEST_GATEWAY_FLAGS ?? "--max-semi-space-size=2")
  .split(" ")
  .filter(Boolean);

export interface GatewayStackOptions extends S3StackOptions {
  gateway?: Partial<GatewayConfig>;
  /** Start an S3 uploader replica at once (default true). */
  uploader?: boolean;
}

export class GatewayStack {
  readonly s3: S3Stack;
  readonly tokensFile: string;
  /** Trainers' shared filesystem: one directory per project, `gateway.allowedDirs` is `<root>/{project}`. */
  readonly filesRoot: string;
  /** Project demo's directory under {@link filesRoot}. */
  readonly allowedDir: string;
  readonly configPath: string;
  gateway!: UploaderProcess;
  url!: string;

  private constructor(s3: S3Stack, gateway: Partial<GatewayConfig>) {
    this.s3 = s3;
    this.tokensFile = join(s3.bus.dir, "gateway-tokens.jsonl");
    this.filesRoot = join(s3.bus.dir, "trainer-files");
    this.allowedDir = join(this.filesRoot, "demo");
    mkdirSync(this.allowedDir, { recursive: true });
    this.configPath = join(s3.bus.dir, "gateway-config.json");
    const config = {
      ...s3.bus.config,
      gateway: {
        ...s3.bus.config.gateway,
        port: 0,
        tokensFile: this.tokensFile,
        allowedDirs: [join(this.filesRoot, "{project}")],
        ...gateway,
      },
    };
    writeFileSync(this.configPath, JSON.stringify(config));
  }

  static async start(o: GatewayStackOptions = {}): Promise<GatewayStack> {
    const s3 = await S3Stack.start(o);
    const stack = new GatewayStack(s3, o.gateway ?? {});
    try {
      if (o.uploader !== false) await s3.bus.startUploader();
      await stack.startGateway();
    } catch (err) {
      // The caller gets no stack to dispose: its servers and temp dirs go now.
      await stack.dispose().catch(() => undefined);
      throw err;
    }
    return stack;
  }

  get bus() {
    return this.s3.bus;
  }

  /** Starts a gateway process (again, after a kill) on a free port. */
  async startGateway(extraEnv: Record<string, string> = {}): Promise<UploaderProcess> {
    this.gateway = await UploaderProcess.start({
      main: GATEWAY_MAIN,
      startedMessage: "gateway started",
      nodeFlags: GATEWAY_NODE_FLAGS,
      verbose: process.env.ARTIFACT_BUS_TEST_VERBOSE === "1",
      env: {
        ARTIFACT_BUS_CONFIG: this.configPath,
        ...this.bus.login("gateway"),
        AWS_ACCESS_KEY_ID: this.s3.s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: this.s3.s3.secretAccessKey,
        AWS_REGION: this.s3.s3.region,
        ...extraEnv,
      },
    });
    const started = await this.gateway.waitForLog((l) => l.msg === "gateway started");
    this.url = String(started.url);
    return this.gateway;
  }

  /** A new token in the tokens file; a running gateway learns it on SIGHUP (`reload`). */
  token(projects: string[], roles: Role[]): string {
    const { token, record } = newToken({ projects, roles });
    appendTokenRecord(this.tokensFile, record);
    return token;
  }

  /** SIGHUP, and wait until the gateway says it reloaded. */
  async reload(): Promise<void> {
    const before = this.gateway.lines.filter((l) => l.msg === "tokens reloaded").length;
    this.gateway.proc.kill("SIGHUP");
    await this.gateway.waitForLog(
      () => this.gateway.lines.filter((l) => l.msg === "tokens reloaded").length > before,
      10_000,
    );
  }

  /** fetch against the gateway with a bearer token. */
  fetch(path: string, token: string | undefined, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
    return fetch(`${this.url}${path}`, { ...init, headers, ...(init.body ? { duplex: "half" } : {}) } as RequestInit);
  }

  async dispose(): Promise<void> {
    try {
      await this.gateway?.kill("SIGKILL");
    } finally {
      await this.s3.dispose();
    }
  }
}
