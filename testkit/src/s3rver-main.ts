/**
 * Runs the npm `s3rver` S3-compatible server in a process of its own, for tests and the local
 * stack: `node s3rver-main.ts --directory <dir> [--port N] [--address A] [--bucket NAME]...
 * [--multipart-api]`.
 * Once it listens it prints one JSON line `{"event":"listening","address":...,"port":N}` on stdout.
 *
 * Why a process of its own: s3rver's logger hooks process-wide exception handlers, its request
 * handling is CPU-heavy JavaScript that would share the test's event loop, and a crash or
 * SIGKILL of a separate process is what a real outage looks like to the uploader.
 */
import type { Server } from "node:http";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { multipartApi } from "./s3rver-multipart.ts";

interface S3rverOptions {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
  /** Koa's middleware list, composed when the server starts listening. */
  middleware: unknown[];
}

type S3rverConstructor = new (options: S3rverOptions) => S3rverInstance;

// s3rver ships CommonJS without types; the two members used here are typed above.
const S3rver = createRequire(import.meta.url)("s3rver") as S3rverConstructor;

const { values } = parseArgs({
  options: {
    directory: { type: "string" },
    port: { type: "string", default: "0" },
    address: { type: "string", default: "127.0.0.1" },
    bucket: { type: "string", multiple: true, default: [] },
    verbose: { type: "boolean", default: false },
    // ListParts, AbortMultipartUpload, ListMultipartUploads (s3rver-multipart.ts).
    "multipart-api": { type: "boolean", default: false },
    // Set by the launcher: a parent that dies without cleaning up must not leave an orphan.
    "exit-with-stdin": { type: "boolean", default: false },
  },
});

if (!values.directory) {
  process.stderr.write("s3rver-main: --directory is required\n");
  process.exit(2);
}

const server = new S3rver({
  address: values.address,
  port: Number(values.port),
  directory: values.directory,
  silent: !values.verbose,
  configureBuckets: values.bucket.map((name) => ({ name })),
});

// First in line: these calls never reach s3rver's router, which refuses them.
if (values["multipart-api"]) server.middleware.unshift(multipartApi(values.directory));

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  // Keep-alive sockets of SDK clients would hold close() open for seconds.
  server.httpServer?.closeAllConnections();
  await server.close().catch(() => undefined);
  process.exit(0);
}

process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
if (values["exit-with-stdin"]) {
  process.stdin.on("end", () => void shutdown());
  process.stdin.resume();
}

try {
  const address = await server.run();
  process.stdout.write(`${JSON.stringify({ event: "listening", address: address.address, port: address.port })}\n`);
} catch (err) {
  process.stderr.write(`s3rver-main: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
}
