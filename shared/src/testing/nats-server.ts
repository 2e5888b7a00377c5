/**
 * Runs the real `nats-server` binary for tests, benchmarks and the local stack.
 * The server picks its own port (`-p -1`) and reports it; a restart keeps port and store.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NatsServerOptions {
  /** Extra server config (nats-server config syntax), e.g. accounts and permissions. */
  config?: string;
  /** Port to listen on; default: the server chooses (-1). */
  port?: number;
  /** Forward server output to this process's stderr. */
  verbose?: boolean;
  binary?: string;
}

export class NatsServer {
  readonly storeDir: string;
  readonly dir: string;
  private proc: ChildProcess | undefined;
  private portNumber: number | undefined;
  private readonly options: NatsServerOptions;

  private constructor(options: NatsServerOptions) {
    this.options = options;
    this.dir = mkdtempSync(join(tmpdir(), "artifact-bus-nats-"));
    this.storeDir = join(this.dir, "store");
  }

  /** Starts a fresh server with JetStream on and an empty store dir. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(options);
    await server.launch(options.port ?? -1);
    return server;
  }

  get port(): number {
    if (this.portNumber === undefined) throw new Error("nats-server is not running");
    return this.portNumber;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private async launch(port: number): Promise<void> {
    const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", this.storeDir];
    if (this.options.config) {
      const file = join(this.dir, "server.conf");
      writeFileSync(file, this.options.config);
      args.push("-c", file);
    }
    const proc = spawn(this.options.binary ?? "nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    this.proc = proc;
    let log = "";
    this.portNumber = await new Promise<number>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        if (this.options.verbose) process.stderr.write(text);
        log = (log + text).slice(-8192);
        const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
        if (m && /Server is ready/.test(log)) {
          proc.stderr?.off("data", onData);
          if (this.options.verbose) proc.stderr?.on("data", (c: Buffer) => process.stderr.write(c));
          else proc.stderr?.resume();
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

  /** Stops the server gracefully (SIGTERM) and waits for it to exit. */
  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  /** Starts the server again on the same port with the same store dir. */
  async restart(): Promise<void> {
    if (this.running) await this.stop();
    await this.launch(this.port);
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(sig);
    await exited;
  }

  /** Stops the server and removes its store dir. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
