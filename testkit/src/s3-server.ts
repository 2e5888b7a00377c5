/**
 * An S3-compatible server for tests, benchmarks and the local stack: `s3rver` in a child process
 * (see s3rver-main.ts), or an external endpoint (MinIO, AWS) taken from the environment so the
 * same suites run against a store that verifies checksums and implements every call.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { ServerProcess } from "./server-process.ts";

/** Where an S3 API answers and how to sign for it. */
export interface S3Endpoint {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly forcePathStyle: boolean;
}

/** An endpoint plus a bucket that already exists there. */
export interface ExternalS3 extends S3Endpoint {
  readonly bucket: string;
}

/** s3rver's fixed key pair: any other access key answers InvalidAccessKeyId. */
export const S3RVER_ACCESS_KEY_ID = "S3RVER";
export const S3RVER_SECRET_ACCESS_KEY = "S3RVER";

export interface S3TestServerOptions {
  /** Port to listen on; default: the OS chooses one. */
  port?: number;
  /** Buckets created at start (names need 3+ characters). */
  buckets?: string[];
  /** Data directory; default a fresh temp dir, removed by dispose(). A given one is kept. */
  directory?: string;
  /** Default 127.0.0.1. */
  address?: string;
  /** Forward s3rver's request log to this process's stderr. */
  verbose?: boolean;
  /**
   * Answer ListParts, AbortMultipartUpload and ListMultipartUploads as S3 does (stock s3rver
   * refuses them; see s3rver-multipart.ts): what resumable multipart uploads need.
   */
  multipartApi?: boolean;
}

const ENTRY = fileURLToPath(new URL("./s3rver-main.ts", import.meta.url));

/** s3rver in its own process; restart() keeps port and data, as a real server restart would. */
export class S3TestServer extends ServerProcess implements S3Endpoint {
  protected readonly label = "s3rver";
  readonly dir: string;
  readonly region = "us-east-1";
  readonly accessKeyId = S3RVER_ACCESS_KEY_ID;
  readonly secretAccessKey = S3RVER_SECRET_ACCESS_KEY;
  readonly forcePathStyle = true;
  private readonly ownsDir: boolean;
  private readonly options: S3TestServerOptions;

  private constructor(options: S3TestServerOptions) {
    super();
    this.options = options;
    this.ownsDir = options.directory === undefined;
    this.dir = options.directory ?? mkdtempSync(join(tmpdir(), "artifact-bus-s3-"));
  }

  /** Starts a server and waits until it listens. */
  static async start(options: S3TestServerOptions = {}): Promise<S3TestServer> {
    const server = new S3TestServer(options);
    try {
      await server.launch(options.port ?? 0);
    } catch (err) {
      if (server.ownsDir) rmSync(server.dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  get endpoint(): string {
    return `http://${this.options.address ?? "127.0.0.1"}:${this.port}`;
  }

  protected async spawnOn(port: number): Promise<number> {
    const args = [ENTRY, "--directory", this.dir, "--port", String(port), "--exit-with-stdin"];
    args.push("--address", this.options.address ?? "127.0.0.1");
    for (const bucket of this.options.buckets ?? []) args.push("--bucket", bucket);
    if (this.options.verbose) args.push("--verbose");
    if (this.options.multipartApi) args.push("--multipart-api");
    const proc = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.proc = proc;
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => {
      if (this.options.verbose) process.stderr.write(chunk);
      stderr = (stderr + chunk.toString()).slice(-8192);
    });
    const lines = createInterface({ input: proc.stdout! });
    return new Promise<number>((resolve, reject) => {
      lines.on("line", (line) => {
        const ready = parseReadyLine(line);
        if (ready !== undefined) resolve(ready);
        else if (this.options.verbose) process.stderr.write(`${line}\n`);
      });
      proc.once("error", (err) => reject(new Error(`cannot start s3rver: ${err.message}`, { cause: err })));
      proc.once("exit", (code, sig) =>
        reject(new Error(`s3rver exited (${code ?? sig}) before it listened:\n${stderr}`)),
      );
    });
  }

  /** Stops the server and removes its data directory, unless the caller gave that directory. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function parseReadyLine(line: string): number | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const msg = JSON.parse(line) as { event?: unknown; port?: unknown };
    return msg.event === "listening" && typeof msg.port === "number" ? msg.port : undefined;
  } catch {
    return undefined;
  }
}

type Env = Record<string, string | undefined>;

/**
 * The S3 endpoint named by `ARTIFACT_BUS_TEST_S3_ENDPOINT` (with `_ACCESS_KEY`, `_SECRET_KEY`,
 * `_BUCKET`, optional `_REGION` and `_FORCE_PATH_STYLE=false`), or undefined when unset. The
 * bucket must exist; suites keep to a unique prefix inside it.
 */
export function externalS3(env: Env = process.env): ExternalS3 | undefined {
  const endpoint = env.ARTIFACT_BUS_TEST_S3_ENDPOINT;
  if (!endpoint) return undefined;
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`ARTIFACT_BUS_TEST_S3_ENDPOINT is set, so ${name} must be set too`);
    return value;
  };
  return {
    endpoint,
    accessKeyId: need("ARTIFACT_BUS_TEST_S3_ACCESS_KEY"),
    secretAccessKey: need("ARTIFACT_BUS_TEST_S3_SECRET_KEY"),
    bucket: need("ARTIFACT_BUS_TEST_S3_BUCKET"),
    region: env.ARTIFACT_BUS_TEST_S3_REGION ?? env.AWS_REGION ?? "us-east-1",
    forcePathStyle: env.ARTIFACT_BUS_TEST_S3_FORCE_PATH_STYLE !== "false",
  };
}

/**
 * Settings for an `S3Client` (from `@aws-sdk/client-s3`) that talks to `target`; spread them
 * into the constructor. The checksum settings matter for s3rver: with the SDK's default
 * (`WHEN_SUPPORTED`), a streamed body without a caller-given checksum is sent as
 * `Content-Encoding: aws-chunked` with a CRC32 trailer, and s3rver, which does not decode that
 * encoding, stores the chunk framing as part of the object. `WHEN_REQUIRED` sends plain bodies
 * and still sends any checksum the caller asks for. Responses: s3rver returns no checksums, so
 * validation would only ask for headers that never come.
 */
export function s3ClientSettings(target: S3Endpoint) {
  return {
    endpoint: target.endpoint,
    region: target.region,
    forcePathStyle: target.forcePathStyle,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED" as const,
    responseChecksumValidation: "WHEN_REQUIRED" as const,
  };
}
