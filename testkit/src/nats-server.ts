/**
 * Runs the real `nats-server` binary for tests, benchmarks and the local stack.
 * The server picks its own port (`-p -1`) and reports it; a restart keeps port and store.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClusterNode, clusterNodeConfig } from "@artifact-bus/shared";
import { ServerProcess } from "./server-process.ts";

export interface NatsServerOptions {
  /** Extra server config (nats-server config syntax), e.g. accounts and permissions. */
  config?: string;
  /** Port to listen on; default: the server chooses (-1). */
  port?: number;
  /** Forward server output to this process's stderr. */
  verbose?: boolean;
  /** Added to the server's environment, e.g. the passwords a config reads (`password: $NAME`). */
  env?: Record<string, string>;
  /** A node of a cluster: its name, its peers, and the ports (chosen by the cluster launcher). */
  cluster?: { name: string; node: ClusterNode; nodes: ClusterNode[] };
  binary?: string;
}

export class NatsServer extends ServerProcess {
  protected readonly label = "nats-server";
  readonly storeDir: string;
  readonly dir: string;
  private readonly options: NatsServerOptions;
  /** The server's last warnings and errors, across restarts: what a fault test reports when it fails. */
  readonly warnings: string[] = [];

  private constructor(options: NatsServerOptions) {
    super();
    this.options = options;
    this.dir = mkdtempSync(join(tmpdir(), "artifact-bus-nats-"));
    this.storeDir = join(this.dir, "store");
  }

  /** Starts a fresh server with JetStream on and an empty store dir. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(options);
    try {
      await server.launch(options.cluster?.node.clientPort ?? options.port ?? -1);
    } catch (err) {
      // Nobody gets a server to dispose of: its dir goes now.
      await server.dispose();
      throw err;
    }
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  protected async spawnOn(port: number): Promise<number> {
    let args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", this.storeDir];
    const file = join(this.dir, "server.conf");
    if (this.options.cluster) {
      const { name, node, nodes } = this.options.cluster;
      const config = clusterNodeConfig(node, nodes, {
        clusterName: name,
        storeDir: this.storeDir,
        listenHost: "127.0.0.1",
        ...(this.options.config ? { extra: this.options.config } : {}),
      });
      writeFileSync(file, config);
      args = ["-c", file];
    } else if (this.options.config) {
      writeFileSync(file, this.options.config);
      args.push("-c", file);
    }
    const proc = spawn(this.options.binary ?? "nats-server", args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...this.options.env },
    });
    this.proc = proc;
    let log = "";
    return new Promise<number>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        if (this.options.verbose) process.stderr.write(text);
        log = (log + text).slice(-8192);
        const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
        if (m && /Server is ready/.test(log)) {
          proc.stderr?.off("data", onData);
          this.keepWarnings(log);
          proc.stderr?.on("data", (c: Buffer) => {
            if (this.options.verbose) process.stderr.write(c);
            this.keepWarnings(c.toString());
          });
          resolve(Number(m[1]));
        }
      };
      proc.stderr?.on("data", onData);
      proc.once("error", (err) =>
        reject(
          new Error(`cannot start nats-server (${err.message}); install it: apt-get install nats-server`, {
            cause: err,
          }),
        ),
      );
      proc.once("exit", (code) => reject(new Error(`nats-server exited with ${code} before it was ready:\n${log}`)));
    });
  }

  private keepWarnings(text: string): void {
    for (const line of text.split("\n")) if (/\[(WRN|ERR)\]/.test(line)) this.warnings.push(line);
    this.warnings.splice(0, this.warnings.length - 200);
  }

  /** Stops the server and removes its store dir. */
  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
