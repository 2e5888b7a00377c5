/**
 * Runs a redraw at most once per interval: at once if the last one is old enough, otherwise once
 * when the interval has passed (so the newest state is always drawn, however calls bunch up).
 */
export class Throttle {
  private readonly intervalMs: number;
  private readonly run: () => void;
  private last = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(intervalMs: number, run: () => void) {
    this.intervalMs = intervalMs;
    this.run = run;
  }

  /** Asks for a run. */
  request(): void {
    if (this.timer) return;
    const wait = this.last + this.intervalMs - Date.now();
    if (wait <= 0) this.fire();
    else this.timer = setTimeout(() => this.fire(), wait);
  }

  /** Runs now if a run is due or waiting, and stops waiting. */
  flush(): void {
    if (this.timer) this.fire();
  }

  /** Counts a run done now by other means: the next one waits a whole interval. */
  mark(): void {
    this.cancel();
    this.last = Date.now();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.cancel();
    this.last = Date.now();
    this.run();
  }
}
