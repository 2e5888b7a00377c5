/**
 * The manifest of a complete checkpoint set (checkpoint-set.ts says what a set is): what the
 * runtime publishes as `<set>/_set-manifest.json` once every member landed at a destination,
 * built from the set's record there (set-record.ts).
 */
import type { Producer } from "./schema.ts";
import type { SetRecord } from "./set-record.ts";

/** The manifest of a complete set, as published next to its members (deterministic: replicas write the same bytes). */
export interface SetManifest {
  schema: 1;
  set: string;
  project: string;
  run: string;
  step?: number;
  /** The set's place in order (see SetRecord.place). */
  place: number;
  /**
   * `location`: where the member landed at this destination (its receipt's location, e.g.
   * `wandb://team/vision/checkpoints.ep3.rank0.pt-1a2b3c4d:v0`, the W&B artifact version holding
   * it); absent when the record does not know it.
   */
  members: { name: string; size: number; sha256: string; producer: Producer; location?: string }[];
}

/** The manifest of the set `r` records, members sorted by name so every replica writes the same bytes. */
export function setManifest(r: SetRecord): SetManifest {
  const members = Object.values(r.members)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((m) => ({
      name: m.name,
      size: m.size,
      sha256: m.sha256,
      producer: m.producer,
      ...(m.location ? { location: m.location } : {}),
    }));
  return {
    schema: 1,
    set: r.set,
    project: r.project,
    run: r.run,
    ...(r.step === undefined ? {} : { step: r.step }),
    place: r.place,
    members,
  };
}
