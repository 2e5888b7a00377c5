/**
 * Progress as plain lines, for a log or a pipe: one line per phase and per state change, and
 * while bytes move, a progress line per row at most every PLAIN_PROGRESS_MS (the newest one
 * written when the interval ends).
 */
import { formatBytes, percent } from "../format.ts";
import type { DestinationProgress, ProgressStream, PutProgress, PutProgressOptions } from "./progress-types.ts";
import { Throttle } from "./throttle.ts";

export const PLAIN_PROGRESS_MS = 2_000;

/** One row's last state, and its progress line waiting its turn. */
interface RowLine {
  state: string;
  text: string;
  throttle: Throttle;
}

export class PlainProgress implements PutProgress {
  private readonly stream: ProgressStream;
  private readonly options: PutProgressOptions;
  private readonly started = Date.now();
  private readonly rows = new Map<string, RowLine>();
  private ended = false;

  constructor(stream: ProgressStream, options: PutProgressOptions) {
    this.stream = stream;
    this.options = options;
    this.show("staging", "staging", `staging ${options.name} (${formatBytes(options.total)})`);
  }

  staging(bytesDone: number): void {
    this.show("staging", "staging", `staging ${this.of(bytesDone)}`);
  }

  staged(): void {
    const s = ((Date.now() - this.started) / 1000).toFixed(1);
    this.show("staging", "staged", `staged ${formatBytes(this.options.total)} in ${s} s`);
  }

  waiting(destinations: readonly string[]): void {
    if (destinations.length > 0) this.line(`waiting for ${destinations.join(", ")}`);
  }

  update(destination: string, e: DestinationProgress): void {
    const bytes = e.state === "uploading" && e.bytesDone !== undefined ? ` ${this.of(e.bytesDone)}` : "";
    const detail = e.state === "uploaded" ? e.location : e.error;
    this.show(destination, e.state, `${destination}: ${e.state}${bytes}${detail ? ` (${detail})` : ""}`);
  }

  end(): void {
    for (const r of this.rows.values()) r.throttle.cancel();
    this.ended = true;
  }

  /** A new state is written at once; a new text within a state waits for its row's throttle. */
  private show(key: string, state: string, text: string): void {
    if (this.ended) return;
    let row = this.rows.get(key);
    if (!row) {
      const created: RowLine = {
        state: "",
        text: "",
        throttle: new Throttle(PLAIN_PROGRESS_MS, () => this.line(created.text)),
      };
      row = created;
      this.rows.set(key, row);
    }
    if (row.state === state && row.text === text) return;
    const changed = row.state !== state;
    row.state = state;
    row.text = text;
    if (changed) {
      this.line(text);
      row.throttle.mark();
    } else row.throttle.request();
  }

  private of(done: number): string {
    return `${formatBytes(done)} / ${formatBytes(this.options.total)} (${percent(done, this.options.total)}%)`;
  }

  private line(text: string): void {
    if (!this.ended) this.stream.write(`${text}\n`);
  }
}
