/**
 * The double's HTTP front: `POST /graphql` (Basic auth `api:<key>`), PUTs and GETs to signed
 * `/storage/` URLs, and the test-only admin endpoints under `/_double/` (no auth: they exist for the launcher
 * only). Faults are applied here, before authentication, and every protocol request is recorded
 * (in memory and appended to `requests.jsonl` in the data dir, so a restart keeps the log).
 * Nothing secret is logged: no headers, no query strings (they hold signatures).
 */
import { appendFileSync, createReadStream, existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { ArtifactStore } from "./artifact-store.ts";
import { FaultRuleError, Faults, parseFaultRule } from "./faults.ts";
import { GraphqlApi, operationNameOf } from "./graphql-api.ts";
import { PartAssembly } from "./part-assembly.ts";
import { type Answer, SignedStorage } from "./signed-storage.ts";
import type { RequestRecord } from "./types.ts";
import { Uploads } from "./uploads.ts";
import { Versions } from "./versions.ts";

export interface DoubleConfig {
  dataDir: string;
  apiKeys: string[];
  signedUrlTtlMs: number;
  verbose: boolean;
}

/** GraphQL bodies are small; anything bigger is refused before it is parsed. */
const MAX_GRAPHQL_BODY = 16 << 20;

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});
const gqlError = (status: number, message: string, headers?: Record<string, string>) =>
  json(status, { errors: [{ message }] }, headers);

/** The HTTP server of the double (not yet listening); `port()` gives the origin of signed URLs. */
export function createDoubleServer(config: DoubleConfig, port: () => number): Server {
  const store = new ArtifactStore(config.dataDir);
  const assembly = new PartAssembly(store);
  const storage = new SignedStorage(store, assembly, config.signedUrlTtlMs, () => `http://127.0.0.1:${port()}`);
  const api = new GraphqlApi(store, new Versions(store), new Uploads(store, assembly), storage);
  const faults = new Faults();
  let apiKeys = [...config.apiKeys];
  const logPath = join(config.dataDir, "requests.jsonl");
  const records: RequestRecord[] = existsSync(logPath)
    ? readFileSync(logPath, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as RequestRecord)
    : [];

  const authorized = (req: IncomingMessage): boolean => {
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? "");
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon >= 0 && decoded.slice(0, colon) === "api" && apiKeys.includes(decoded.slice(colon + 1));
  };

  async function graphql(req: IncomingMessage, record: RequestRecord): Promise<Answer & { delayMs?: number }> {
    const raw = await readBody(req, MAX_GRAPHQL_BODY);
    if (raw === undefined) return gqlError(413, `the body exceeds ${MAX_GRAPHQL_BODY} bytes`);
    record.bytes = raw.length;
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      body = undefined;
    }
    record.operation = operationNameOf(body);
    const fault = faults.take("graphql", record.operation, raw.toString("utf8"));
    if (fault && "status" in fault) {
      const headers: Record<string, string> = fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter };
      if (fault.body !== undefined) return { status: fault.status, headers, body: fault.body };
      return gqlError(fault.status, `fault injected by the test: ${fault.status}`, headers);
    }
    if (fault && "dropAfterBytes" in fault) return { status: 0 };
    const delayMs = fault && "delayMs" in fault ? fault.delayMs : undefined;
    const answer = await executeGraphql(req, body);
    return { ...answer, delayMs };
  }

  async function executeGraphql(req: IncomingMessage, body: unknown): Promise<Answer> {
    if (req.method !== "POST") return gqlError(405, "/graphql takes POST", { allow: "POST" });
    if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
      return gqlError(415, "Content-Type must be application/json");
    }
    if (!authorized(req)) {
      const message = "missing or wrong API key: send Authorization: Basic base64(api:<key>)";
      return gqlError(401, message, { "www-authenticate": 'Basic realm="wandb"' });
    }
    if (body === undefined) return gqlError(400, "the body is not JSON");
    const answer = await api.run(body);
    return json(answer.status, answer.body);
  }

  async function storageRequest(req: IncomingMessage, url: URL): Promise<Answer & { delayMs?: number }> {
    const fault = faults.take("storage", undefined);
    if (fault && "status" in fault) {
      const headers: Record<string, string> = fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter };
      return { status: fault.status, headers, body: fault.body ?? `fault injected by the test: ${fault.status}` };
    }
    const drop = fault && "dropAfterBytes" in fault ? fault.dropAfterBytes : undefined;
    const answer = await storage.handle(req, url, drop);
    return { ...answer, delayMs: fault && "delayMs" in fault ? fault.delayMs : undefined };
  }

  function remember(record: RequestRecord, pathname: string): void {
    records.push(record);
    appendFileSync(logPath, `${JSON.stringify(record)}\n`);
    if (config.verbose) {
      const op = record.operation ? ` ${record.operation}` : "";
      process.stderr.write(`wandb-double: ${record.method} ${pathname}${op} -> ${record.status}\n`);
    }
  }

  async function admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<Answer | undefined> {
    const q = (name: string) => url.searchParams.get(name) ?? "";
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "GET /_double/artifact": {
        const a = store.resolve(q("ref"));
        return a ? json(200, store.view(a)) : json(404, null);
      }
      case "GET /_double/versions":
        return json(
          200,
          store.versions(q("entity"), q("project"), q("name")).map((a) => store.view(a)),
        );
      case "GET /_double/list":
        return json(
          200,
          store.allVersions().map((a) => store.view(a)),
        );
      case "GET /_double/run": {
        const run = store.run(q("entity"), q("project"), q("name"));
        return run ? json(200, { name: run.name }) : json(404, null);
      }
      case "GET /_double/requests":
        return json(
          200,
          [...records].sort((a, b) => a.at - b.at),
        );
      case "GET /_double/file": {
        const file = store.artifactById(q("artifactId"))?.files[q("path")]?.stored;
        if (!file) return json(404, { error: `no stored file ${q("path")} in artifact ${q("artifactId")}` });
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(file.size) });
        await pipeline(createReadStream(store.blobPath(file.blob)), res);
        return undefined;
      }
      case "PUT /_double/api-keys": {
        const keys = JSON.parse((await readBody(req, 1 << 20))?.toString() ?? "null") as unknown;
        if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string" && k !== "")) {
          return json(400, { error: "api keys must be a JSON array of non-empty strings" });
        }
        apiKeys = keys;
        return json(200, {});
      }
      case "POST /_double/faults": {
        try {
          faults.add(parseFaultRule(JSON.parse((await readBody(req, 1 << 20))?.toString() ?? "null")));
        } catch (err) {
          if (err instanceof FaultRuleError || err instanceof SyntaxError) return json(400, { error: err.message });
          throw err;
        }
        return json(200, {});
      }
      case "DELETE /_double/faults":
        faults.clear();
        return json(200, {});
      default:
        return json(404, { error: `no admin endpoint ${route}` });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://double.invalid");
    if (url.pathname.startsWith("/_double/")) {
      const answer = await admin(req, res, url);
      if (answer) await send(res, answer);
      return;
    }
    const kind = url.pathname === "/graphql" ? "graphql" : url.pathname.startsWith("/storage/") ? "storage" : undefined;
    if (!kind) {
      await send(res, json(404, { error: `no such endpoint: ${req.method} ${url.pathname}` }));
      return;
    }
    // Captured now: a destroyed request lets go of its socket.
    const socket = req.socket;
    const record: RequestRecord = { at: Date.now(), kind, method: req.method ?? "", status: 0 };
    const answer = kind === "graphql" ? await graphql(req, record) : await storageRequest(req, url);
    if (answer.bytes !== undefined) record.bytes = answer.bytes;
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (answer.status === 0 || res.destroyed || socket.destroyed) {
      socket.destroy();
    } else {
      record.status = answer.status;
      await send(res, answer);
    }
    remember(record, url.pathname);
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      process.stderr.write(`wandb-double: internal error on ${req.method} ${req.url?.split("?")[0]}: ${err.stack}\n`);
      if (!res.headersSent) {
        void send(res, json(500, { errors: [{ message: `internal error of the double: ${err.message}` }] }));
      } else res.destroy();
    });
  });
}

async function send(res: ServerResponse, answer: Answer): Promise<void> {
  res.writeHead(answer.status, answer.headers ?? {});
  if (answer.stream) await pipeline(createReadStream(answer.stream.path), res);
  else res.end(answer.body ?? "");
}

/** The whole body, or undefined when it exceeds `limit` (the rest is discarded). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return size <= limit ? Buffer.concat(chunks) : undefined;
}
