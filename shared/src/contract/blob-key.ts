/** The blob key layout `<project>/<run>/<id>` that names a blob in either store. */
import { checkSubjectToken, InvalidArtifactError } from "./names.ts";
import { EVENT_ID_PATTERN } from "./schema.ts";

const ID = new RegExp(EVENT_ID_PATTERN);
// Accepts every project, run and event id the event schema accepts, and nothing with '.', '/'
// or '\', so a key can never name a path outside its store.
const KEY = /^([A-Za-z0-9][A-Za-z0-9_-]{0,127})\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})\/([A-Za-z0-9_-]{8,64})$/;

/** The parts of a blob key. */
export interface BlobKey {
  project: string;
  run: string;
  id: string;
}

/**
 * Builds the key `<project>/<run>/<id>` after checking each part against the event schema,
 * so a blob is only ever staged under a name a valid event can point to.
 */
export function blobKey(project: string, run: string, id: string): string {
  checkSubjectToken("project", project);
  checkSubjectToken("run", run);
  if (typeof id !== "string" || !ID.test(id)) {
    throw new InvalidArtifactError("id", `${JSON.stringify(id)} must match ${EVENT_ID_PATTERN}`);
  }
  return `${project}/${run}/${id}`;
}

/** Parses a blob key; throws InvalidArtifactError for anything else (`..`, absolute, extra segments). */
export function parseBlobKey(ref: string): BlobKey {
  const m = typeof ref === "string" ? KEY.exec(ref) : null;
  if (!m) {
    throw new InvalidArtifactError(
      "blob.ref",
      `${JSON.stringify(ref)} is not a blob key of the form <project>/<run>/<event id>`,
    );
  }
  return { project: m[1]!, run: m[2]!, id: m[3]! };
}
