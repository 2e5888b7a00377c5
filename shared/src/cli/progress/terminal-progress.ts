/**
 * Progress bars drawn in place on a terminal: one row for staging, one per destination, redrawn
 * at most REDRAW_PER_SECOND times a second (the newest state always drawn last).
 */
import { formatBytes, percent } from "../format.ts";
import type { DestinationProgress, ProgressStream, PutProgress, PutProgressOptions } from "./progress-types.ts";
import { Throttle } from "./throttle.ts";

export const REDRAW_PER_SECOND = 4;
const BAR_WIDTH = 24;
/** Move to the start of the line above / erase the line. */
const UP = (n: number) => `\x1b[${n}F`;
const ERASE = "\x1b[2K";

interface Row {
  label: string;
  done: number | undefined;
  note: string;
}

export class TerminalProgress implements PutProgress {
  private readonly stream: ProgressStream;
  private readonly options: PutProgressOptions;
  private readonly rows: Row[];
  private readonly throttle: Throttle;
  private drawn = 0;
  private ended = false;

  constructor(stream: ProgressStream, options: PutProgressOptions) {
    this.stream = stream;
    this.options = options;
    this.rows = [{ label: "staging", done: 0, note: options.name }];
    this.throttle = new Throttle(1000 / REDRAW_PER_SECOND, () => this.draw());
    this.throttle.request();
  }

  staging(bytesDone: number): void {
    this.set(0, { done: bytesDone });
  }

  staged(): void {
    this.set(0, { done: this.options.total, note: `${this.options.name} staged` });
    // Drawn for good: lines written after it (the event on stdout) must not be drawn over.
    this.throttle.cancel();
    this.draw();
    this.rows.length = 0;
    this.drawn = 0;
  }

  waiting(destinations: readonly string[]): void {
    for (const d of destinations) this.rows.push({ label: d, done: undefined, note: "waiting" });
    this.throttle.request();
  }

  update(destination: string, e: DestinationProgress): void {
    const i = this.rows.findIndex((r) => r.label === destination);
    if (i < 0) return;
    const done = e.state === "uploaded" ? this.options.total : e.state === "uploading" ? e.bytesDone : undefined;
    const detail = e.state === "uploaded" ? e.location : e.error;
    this.set(i, { done, note: detail ? `${e.state}: ${detail}` : e.state });
  }

  end(): void {
    if (this.ended) return;
    this.throttle.cancel();
    this.draw();
    this.ended = true;
  }

  private set(i: number, change: Partial<Row>): void {
    const row = this.rows[i];
    if (!row || this.ended) return;
    Object.assign(row, change);
    this.throttle.request();
  }

  private draw(): void {
    if (this.ended || this.rows.length === 0) return;
    // A pseudo-terminal without a size says 0 columns.
    const width = Math.max(40, (this.stream.columns || 80) - 1);
    const labelWidth = Math.max(...this.rows.map((r) => r.label.length));
    let out = this.drawn > 0 ? UP(this.drawn) : "";
    for (const r of this.rows) out += `${ERASE}${this.line(r, labelWidth).slice(0, width)}\n`;
    this.drawn = this.rows.length;
    this.stream.write(out);
  }

  private line(r: Row, labelWidth: number): string {
    const total = this.options.total;
    if (r.done === undefined) return `${r.label.padEnd(labelWidth)} [${" ".repeat(BAR_WIDTH)}]       ${r.note}`;
    const p = percent(r.done, total);
    const filled = Math.round((p / 100) * BAR_WIDTH);
    const bar = `${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)}`;
    const bytes = `${formatBytes(Math.min(r.done, total))} / ${formatBytes(total)}`;
    return `${r.label.padEnd(labelWidth)} [${bar}] ${`${p}%`.padStart(4)}  ${bytes}  ${r.note}`;
  }
}
