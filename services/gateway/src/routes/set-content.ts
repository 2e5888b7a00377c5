/**
 * The files a destination writes for a checkpoint set itself, not logged by anyone: a complete
 * set's manifest (`<set>/_set-manifest.json`) and its pointer (by default `<dir of set>/latest`).
 * No event names them, so the content endpoint finds them by the run's set records, which say
 * where each landed; a resuming trainer reads the pointer, then the manifest, then the members.
 */
import {
  DEFAULT_POINTER_TEMPLATE,
  pointerName,
  type RemoteContent,
  RemoteNotFoundError,
  runSets,
  setManifestName,
} from "@artifact-bus/shared";
import type { GatewayDeps } from "../deps.ts";
import { Problem } from "../problems.ts";

/** A set's manifest or pointer as it landed at one destination. */
export interface SetFile {
  destination: string;
  location: string;
  contentType: string;
}

/**
 * Where `name` landed as a set's manifest or pointer at the first of `candidates` that has it;
 * undefined when it is neither at any of them. A pointer is found at the location the newest set
 * that moved it wrote (every set writes its pointer to the same place).
 */
export async function findSetFile(
  deps: GatewayDeps,
  project: string,
  run: string,
  name: string,
  candidates: string[],
): Promise<SetFile | undefined> {
  const sets = await runSets(deps.ledger.kv, project, run);
  for (const d of candidates) {
    // Published there (a set of one file publishes no manifest, only its pointer).
    const here = sets.filter((s) => s.destination === d && s.manifest !== undefined);
    const manifest = here.find((s) => setManifestName(s.set) === name);
    if (manifest?.manifest) return { destination: d, location: manifest.manifest, contentType: "application/json" };
    const template = deps.readBack.setPointer(d) ?? DEFAULT_POINTER_TEMPLATE;
    // Records written before `pointers` say only where their one pointer landed.
    const locationOf = (s: (typeof here)[number]) =>
      s.pointers ? s.pointers[name] : pointerName(s.set, template) === name ? s.pointer : undefined;
    const moved = here.filter((s) => s.pointerMoved && locationOf(s)).sort((a, b) => b.place - a.place)[0];
    const location = moved && locationOf(moved);
    if (location) return { destination: d, location, contentType: "text/plain" };
  }
  return undefined;
}

/** Opens a set file whole, with the sha256 of the bytes served (a pointer changes under its name). */
export async function openSetFile(deps: GatewayDeps, file: SetFile, signal: AbortSignal): Promise<RemoteContent> {
  try {
    const adapter = await deps.readBack.get(file.destination);
    return await adapter.openRead(file.location, undefined, signal, { sha256: true });
  } catch (err) {
    if (err instanceof RemoteNotFoundError) {
      throw new Problem("not-landed", `${file.location} is gone from ${file.destination}`, { field: "name" });
    }
    throw new Problem("destination-unavailable", `${file.destination} could not be read: ${(err as Error).message}`, {
      retryAfterS: 5,
    });
  }
}
