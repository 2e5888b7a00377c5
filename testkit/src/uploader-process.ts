/**
 * Runs an uploader service as a real child process, so fault tests can SIGKILL it mid-upload
 * and start another replica. Readiness and progress are read from its JSON log lines.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { UPLOADER_NODE_FLAGS } from "@artifact-bus/shared";
import { compileCacheEnv } from "./compile-cache-warm-up.ts";

export interface UploaderProcessOptions {
  /** Path of the service entry, e.g. services/s3-uploader/src/main.ts. */
  main: string;
  env: Record<string, string>;
  /** Echo the child's log lines to stderr (debugging). */
  verbose?: boolean;
  /** The log message that says the service is up; default `uploader started` (the gateway's: `gateway started`). */
  startedMessage?: string;
  /** Node flags; default the uploaders' (UPLOADER_NODE_FLAGS). */
  nodeFlags?: readonly string[];
}

export interface LogLine {
  msg?: string;
  level?: number;
  [k: string]: unknown;
}

export class UploaderProcess {
  readonly proc: ChildProcess;
  readonly lines: LogLine[] = [];
  private readonly waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(opts: UploaderProcessOptions) {
    this.proc = spawn(process.execPath, [...(opts.nodeFlags ?? UPLOADER_NODE_FLAGS), opts.main], {
      env: { ...process.env, ...compileCacheEnv(), ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => this.proc.once("exit", (code, signal) => resolve({ code, signal })));
    const rl = createInterface({ input: this.proc.stdout! });
    rl.on("line", (text) => {
      if (opts.verbose) process.stderr.write(`[uploader ${this.proc.pid}] ${text}\n`);
      let line: LogLine;
      try {
        line = JSON.parse(text);
      } catch {
        line = { msg: text };
      }
      this.lines.push(line);
      for (const w of [...this.waiters]) {
        if (w.match(line)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    this.proc.stderr?.on("data", (c: Buffer) => {
      if (opts.verbose) process.stderr.write(c);
      this.lines.push({ msg: c.toString(), level: 60 });
    });
  }

  /** Starts the process and resolves once it logged that it started (see `startedMessage`). */
  static async start(opts: UploaderProcessOptions, timeoutMs = 20_000): Promise<UploaderProcess> {
    const p = new UploaderProcess(opts);
    const started = opts.startedMessage ?? "uploader started";
    try {
      await Promise.race([
        p.waitForLog((l) => l.msg === started, timeoutMs),
        p.exited.then(({ code }) => {
          throw new Error(
            `${opts.main} exited with ${code} before it started:\n${p.lines.map((l) => JSON.stringify(l)).join("\n")}`,
          );
        }),
      ]);
    } catch (err) {
      // Nobody gets a handle to stop one that is slow to start: it must not outlive the test.
      await p.kill("SIGKILL");
      throw err;
    }
    return p;
  }

  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching uploader log line within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Sends a signal and waits for the exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }
}
