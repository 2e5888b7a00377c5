/**
 * Runs `artifact-bus` as a user would: a child process on this Node, its output on pipes, or on
 * a pseudo-terminal (`script` from util-linux) when the test needs a terminal. Output can be
 * watched while it runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { compileCacheEnv } from "@artifact-bus/testkit";

export const CLI = resolve(import.meta.dirname, "../../shared/src/cli/main.ts");

export class CliRun {
  readonly proc: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly watchers: (() => boolean)[] = [];

  /** `tty`: stdout and stderr are one pseudo-terminal, whose output lands in `stdout`. */
  constructor(args: string[], env: Record<string, string>, o: { tty?: boolean } = {}) {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ARTIFACT_BUS_")));
    const argv = [process.execPath, CLI, ...args];
    // -q quiet, -f flush at once, -e the command's exit code, -c the command; the log goes nowhere.
    const [cmd, ...rest] = o.tty ? ["script", "-qfec", argv.map(shellQuote).join(" "), "/dev/null"] : argv;
    this.proc = spawn(cmd as string, rest, {
      env: { ...clean, ...compileCacheEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc.stdout?.on("data", (c: Buffer) => {
      this.stdout += c;
      this.notify();
    });
    this.proc.stderr?.on("data", (c: Buffer) => {
      this.stderr += c;
      this.notify();
    });
    // "close": after the last output, which may come after "exit".
    this.exited = new Promise((res) => this.proc.once("close", (code) => res(code)));
  }

  /** Resolves once `test` holds for the output so far; rejects after `timeoutMs` or when the process exits first. */
  until(test: (r: CliRun) => boolean, timeoutMs: number, what: string): Promise<void> {
    if (test(this)) return Promise.resolve();
    return new Promise((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`timed out waiting for ${what}; output:\n${this.output()}`)),
        timeoutMs,
      );
      const check = () => {
        if (!test(this)) return false;
        clearTimeout(timer);
        res();
        return true;
      };
      this.watchers.push(check);
      void this.exited.then(() => {
        if (!check()) {
          clearTimeout(timer);
          rej(new Error(`the command exited before ${what}; output:\n${this.output()}`));
        }
      });
    });
  }

  output(): string {
    return `stdout:\n${this.stdout}\nstderr:\n${this.stderr}`;
  }

  private notify(): void {
    for (const w of [...this.watchers]) if (w()) this.watchers.splice(this.watchers.indexOf(w), 1);
  }
}

/** Runs the CLI to its end (killed after `timeoutMs`, a safety net that fails the test). */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  o: { tty?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = new CliRun(args, env, o);
  const killer = setTimeout(() => r.proc.kill("SIGKILL"), o.timeoutMs ?? 60_000);
  const code = await r.exited;
  clearTimeout(killer);
  return { code, stdout: r.stdout, stderr: r.stderr };
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
