/**
 * The life of a server that tests run as a child process: start on a port, stop, kill as a crash
 * would, restart on the same port with the same data. Subclasses only say how to launch.
 */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export abstract class ServerProcess {
  protected proc: ChildProcess | undefined;
  private portNumber: number | undefined;
  /** Name used in errors, e.g. `nats-server`. */
  protected abstract readonly label: string;

  /** Spawns the server (setting `this.proc`) and resolves with the port it listens on. */
  protected abstract spawnOn(port: number): Promise<number>;

  protected async launch(port: number): Promise<void> {
    this.portNumber = await this.spawnOn(port);
  }

  get port(): number {
    if (this.portNumber === undefined) throw new Error(`${this.label} is not running`);
    return this.portNumber;
  }

  /** The server's process id while it runs, for CPU and memory readings. */
  get pid(): number {
    if (!this.running || this.proc?.pid === undefined) throw new Error(`${this.label} is not running`);
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Stops the server gracefully (SIGTERM) and waits for it to exit. */
  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  /**
   * Freezes the server (SIGSTOP): connections stay open and requests hang, as on a host that
   * stopped answering. `resume()` lets it go on where it stopped.
   */
  async pause(): Promise<void> {
    const pid = this.pid;
    this.proc?.kill("SIGSTOP");
    // kill() returns before every thread has stopped: on a busy machine a thread may still
    // answer a request sent right after. Resolve once the kernel reports all of them stopped.
    const stopped = () =>
      readdirSync(`/proc/${pid}/task`).every((t) => {
        const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
        return /^[Tt]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
      });
    for (let i = 0; !stopped(); i++) {
      if (i > 1000) throw new Error(`${this.label} did not stop within 10 s of SIGSTOP`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Undoes `pause()` (SIGCONT). */
  resume(): void {
    this.proc?.kill("SIGCONT");
  }

  /** Starts the server again on the same port with the same data. */
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
}
