/**
 * Runs the W&B API double in a process of its own:
 * `node wandb-double-main.ts --data-dir <dir> [--port N] [--signed-url-ttl-ms MS] [--verbose]`,
 * with the accepted API keys as a JSON array in the environment variable WANDB_DOUBLE_API_KEYS
 * (not on the command line, where `ps` would show them). Once it listens it prints one JSON line
 * `{"event":"listening","port":N}` on stdout.
 *
 * Why a process of its own: a stop, SIGKILL or SIGSTOP of it is what an outage of the real
 * service looks like to the uploader, and hashing GiBs of uploads stays off the test's event loop.
 */
import { parseArgs } from "node:util";
import { createDoubleServer } from "./double-server.ts";

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string" },
    port: { type: "string", default: "0" },
    "signed-url-ttl-ms": { type: "string", default: String(10 * 60_000) },
    verbose: { type: "boolean", default: false },
    // Set by the launcher: a parent that dies without cleaning up must not leave an orphan.
    "exit-with-stdin": { type: "boolean", default: false },
  },
});

const apiKeys = JSON.parse(process.env.WANDB_DOUBLE_API_KEYS ?? "[]") as unknown;
if (!values["data-dir"] || !Array.isArray(apiKeys) || !apiKeys.every((k) => typeof k === "string")) {
  process.stderr.write("wandb-double-main: --data-dir and WANDB_DOUBLE_API_KEYS (a JSON array) are required\n");
  process.exit(2);
}

let port = 0;
const server = createDoubleServer(
  {
    dataDir: values["data-dir"],
    apiKeys: apiKeys as string[],
    signedUrlTtlMs: Number(values["signed-url-ttl-ms"]),
    verbose: values.verbose,
  },
  () => port,
);

let closing = false;
function shutdown(): void {
  if (closing) return;
  closing = true;
  // Keep-alive sockets of clients would hold close() open.
  server.closeAllConnections();
  server.close(() => process.exit(0));
}

process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
if (values["exit-with-stdin"]) {
  process.stdin.on("end", shutdown);
  process.stdin.resume();
}

server.once("error", (err) => {
  process.stderr.write(`wandb-double-main: cannot listen: ${err.message}\n`);
  process.exit(1);
});
server.listen(Number(values.port), "127.0.0.1", () => {
  const address = server.address();
  port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ event: "listening", port })}\n`);
});
