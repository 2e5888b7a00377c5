/**
 * The parent's side of a set trainer process (set-trainer-main.ts): starts it against a stack
 * and sends it commands, one at a time, each answered by one line.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import type { BusStack } from "./bus-stack.ts";

const MAIN = resolve(import.meta.dirname, "set-trainer-main.ts");

/** A command of set-trainer-main.ts (see there). */
export type SetTrainerCommand =
  | { set: string; shards: number; size: number }
  | { close: string; members: number }
  | { flush: number };

export class SetTrainerProcess {
  private readonly proc: ChildProcess;
  /** Answers not yet taken, and the callers waiting for one. */
  private readonly answers: Record<string, unknown>[] = [];
  private readonly waiting: ((a: Record<string, unknown>) => void)[] = [];
  private stderr = "";

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    proc.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      // Only the answers are JSON objects on stdout; anything else (a stray print) is not one.
      if (!line.startsWith("{")) return;
      const a = JSON.parse(line) as Record<string, unknown>;
      const waiter = this.waiting.shift();
      if (waiter) waiter(a);
      else this.answers.push(a);
    });
    proc.once("exit", (code) => {
      const gone = { error: `the trainer exited (${code}): ${this.stderr.slice(-2000)}` };
      for (const waiter of this.waiting.splice(0)) waiter(gone);
    });
  }

  /** Starts the trainer of global rank `rank`, logging into `project`/`run` of `bus`. */
  static start(bus: BusStack, o: { project: string; run: string; rank: number }): SetTrainerProcess {
    const proc = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        ...bus.login("trainer-demo"),
        ARTIFACT_BUS_CONFIG: bus.configPath,
        ARTIFACT_BUS_LOG_LEVEL: "warn",
        TRAINER_PROJECT: o.project,
        TRAINER_RUN: o.run,
        TRAINER_DIR: bus.dir,
        TRAINER_RANK: String(o.rank),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new SetTrainerProcess(proc);
  }

  /** Sends `cmd` and returns its answer; throws the trainer's error. */
  async send(cmd: SetTrainerCommand): Promise<Record<string, unknown>> {
    const answer = new Promise<Record<string, unknown>>((res) => {
      const ready = this.answers.shift();
      if (ready) res(ready);
      else this.waiting.push(res);
    });
    this.proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const a = await answer;
    if (a.error) throw new Error(`trainer: ${a.error}`);
    return a;
  }

  /** Closes its stdin (it drains and exits) and waits for its end; killed if it does not end in time. */
  async close(timeoutMs = 30_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = once(this.proc, "exit");
    this.proc.stdin!.end();
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
