/**
 * A strict local double of the Weights & Biases API for tests, benchmarks and the dev stack: the
 * GraphQL subset and signed-URL storage of shared/reference/wandb-artifact-protocol.md, in a child
 * process (wandb-double-main.ts). It refuses what the real service would (missing auth, unknown
 * operations or fields, calls out of order, wrong digests, a malformed manifest, URLs it never
 * signed), so a test that passes against it followed the protocol. What it does not check is
 * listed on the class.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { ServerProcess } from "../server-process.ts";
import type { FaultRule, RequestRecord, StoredArtifact } from "./types.ts";

export type { FaultRule, RequestRecord, StoredArtifact, StoredFile } from "./types.ts";

export interface WandbDoubleOptions {
  /** API keys it accepts; default one random key (see `apiKey`). */
  apiKeys?: string[];
  /** Port to listen on (127.0.0.1); default: the OS chooses one. */
  port?: number;
  /** Directory for stored file bytes and state; default a temp dir removed by dispose(). A given one is kept. */
  dataDir?: string;
  /** Lifetime of signed upload URLs; default 10 minutes. */
  signedUrlTtlMs?: number;
  /** Log each protocol request (method, path, operation, status; never headers or query strings) to stderr. */
  verbose?: boolean;
}

const ENTRY = fileURLToPath(new URL("./wandb-double-main.ts", import.meta.url));

/**
 * The W&B API double in its own process. `baseUrl` is what a W&B client takes as its base URL
 * (GraphQL at `/graphql`); signed upload URLs point back at the same port.
 *
 * State lives in `dataDir` (journal.jsonl, blobs/, requests.jsonl), written before each answer:
 * `stop()`/`kill()` then `restart()` keep runs, committed and pending artifacts, stored bytes,
 * multipart uploads, the request log, and the signing key (URLs signed before still work until
 * they expire); a PUT cut by the stop is not stored. Fault rules do not survive a restart; API
 * keys do (the launcher passes the current ones). Admin calls (`artifact()`, `fault()`, ...)
 * need the double running (not paused).
 *
 * What it does not check, though the real service might: quotas and storage limits, entity and
 * project permissions (any entity works once a run exists), clientID reuse, alias names like
 * `v3`, run state, and artifact TTLs, tags and history steps beyond their shape.
 */
export class WandbDouble extends ServerProcess {
  protected readonly label = "wandb-double";
  readonly dataDir: string;
  private keys: string[];
  private readonly ownsDir: boolean;
  private readonly options: WandbDoubleOptions;

  private constructor(options: WandbDoubleOptions) {
    super();
    this.options = options;
    this.keys = options.apiKeys ?? [randomBytes(20).toString("hex")];
    if (this.keys.length === 0) throw new Error("WandbDouble: apiKeys must hold at least one key");
    this.ownsDir = options.dataDir === undefined;
    this.dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "artifact-bus-wandb-"));
  }

  /** Starts a double and waits until it listens. */
  static async start(options: WandbDoubleOptions = {}): Promise<WandbDouble> {
    const double = new WandbDouble(options);
    try {
      await double.launch(options.port ?? 0);
    } catch (err) {
      if (double.ownsDir) rmSync(double.dataDir, { recursive: true, force: true });
      throw err;
    }
    return double;
  }

  /** The W&B base URL, `http://127.0.0.1:<port>`. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A key it accepts (the first of the current keys). */
  get apiKey(): string {
    return this.keys[0]!;
  }

  /** Replaces the accepted keys at once (e.g. revoke one: its requests then answer 401). */
  async setApiKeys(keys: string[]): Promise<void> {
    await this.admin("PUT", "api-keys", keys);
    this.keys = [...keys];
  }

  /** Applies `rule` to the next `rule.times` matching requests (before auth and execution). */
  async fault(rule: FaultRule): Promise<void> {
    await this.admin("POST", "faults", rule);
  }

  async clearFaults(): Promise<void> {
    await this.admin("DELETE", "faults");
  }

  /** A committed version by "entity/project/name:alias" (`vN`, `latest` or any alias). */
  async artifact(ref: string): Promise<StoredArtifact | undefined> {
    return (await this.admin("GET", `artifact?${new URLSearchParams({ ref })}`, undefined, true)) ?? undefined;
  }

  /** The committed versions of a collection, by versionIndex. */
  async versions(entity: string, project: string, name: string): Promise<StoredArtifact[]> {
    return await this.admin("GET", `versions?${new URLSearchParams({ entity, project, name })}`);
  }

  /** Stored bytes of one file of an artifact (in memory: for big files compare `files[].sha256`). */
  async fileBytes(artifactId: string, path: string): Promise<Buffer> {
    const res = await fetch(`${this.baseUrl}/_double/file?${new URLSearchParams({ artifactId, path })}`);
    if (!res.ok) throw new Error(`wandb-double: no stored file ${path} of artifact ${artifactId} (${res.status})`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Every protocol request it finished (answered, refused or dropped), by arrival. */
  async requests(): Promise<RequestRecord[]> {
    return await this.admin("GET", "requests");
  }

  /** Every committed version of every collection. */
  async list(): Promise<StoredArtifact[]> {
    return await this.admin("GET", "list");
  }

  /** The run created by upsertBucket, if any. */
  async run(entity: string, project: string, name: string): Promise<{ name: string } | undefined> {
    return (
      (await this.admin("GET", `run?${new URLSearchParams({ entity, project, name })}`, undefined, true)) ?? undefined
    );
  }

  /** Stops the double and removes its data directory, unless the caller gave that directory. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async admin(method: string, path: string, body?: unknown, notFoundIsNull = false): Promise<any> {
    const res = await fetch(`${this.baseUrl}/_double/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    if (notFoundIsNull && res.status === 404) return null;
    if (!res.ok) {
      throw new Error(`wandb-double: ${method} /_double/${path.split("?")[0]} -> ${res.status} ${await res.text()}`);
    }
    return await res.json();
  }

  protected async spawnOn(port: number): Promise<number> {
    const args = [ENTRY, "--data-dir", this.dataDir, "--port", String(port), "--exit-with-stdin"];
    if (this.options.signedUrlTtlMs !== undefined) {
      args.push("--signed-url-ttl-ms", String(this.options.signedUrlTtlMs));
    }
    if (this.options.verbose) args.push("--verbose");
    const proc = spawn(process.execPath, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, WANDB_DOUBLE_API_KEYS: JSON.stringify(this.keys) },
    });
    this.proc = proc;
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => {
      if (this.options.verbose) process.stderr.write(chunk);
      stderr = (stderr + chunk.toString()).slice(-8192);
    });
    const lines = createInterface({ input: proc.stdout! });
    return new Promise<number>((resolve, reject) => {
      lines.on("line", (line) => {
        const port = parseReadyLine(line);
        if (port !== undefined) resolve(port);
      });
      proc.once("error", (err) => reject(new Error(`cannot start wandb-double: ${err.message}`, { cause: err })));
      proc.once("exit", (code, sig) =>
        reject(new Error(`wandb-double exited (${code ?? sig}) before it listened:\n${stderr}`)),
      );
    });
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
