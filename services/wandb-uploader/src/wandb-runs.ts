/**
 * The W&B runs this process has created or found: `upsertBucket` once per run, not once per
 * artifact, as the official clients do (they upsert the run at `wandb.init`, and the saver never
 * calls it). Saves of one run that start together share one request; a failed one is not kept,
 * so the next save asks again.
 */
import type { WandbApi } from "./wandb-api.ts";
import { UPSERT_BUCKET } from "./wandb-queries.ts";

/** Where a run lives in W&B. */
export interface RunRef {
  entity: string;
  project: string;
  run: string;
}

/** Bounds the memory of a long-lived uploader that sees many runs; the oldest are forgotten first. */
const MAX_RUNS = 10_000;

export class WandbRuns {
  private readonly api: WandbApi;
  /** Insertion-ordered: the first key is the oldest. */
  private readonly known = new Map<string, Promise<void>>();

  constructor(api: WandbApi) {
    this.api = api;
  }

  /** Creates or finds the run, unless this process did so already. */
  ensure(r: RunRef, signal: AbortSignal): Promise<void> {
    const key = keyOf(r);
    const known = this.known.get(key);
    if (known) return known;
    const upsert = this.api
      .request("UpsertBucket", UPSERT_BUCKET, { name: r.run, project: r.project, entity: r.entity }, signal)
      .then(() => undefined);
    this.known.set(key, upsert);
    upsert.catch(() => {
      if (this.known.get(key) === upsert) this.known.delete(key);
    });
    if (this.known.size > MAX_RUNS) this.known.delete(this.known.keys().next().value!);
    return upsert;
  }

  /** Forgets the run (it may have been deleted in W&B): the next save creates it again. */
  forget(r: RunRef): void {
    this.known.delete(keyOf(r));
  }
}

function keyOf(r: RunRef): string {
  return JSON.stringify([r.entity, r.project, r.run]);
}
