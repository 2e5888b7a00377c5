/**
 * What staging into the object store can fail with, as a trainer sees it, and the one rule that
 * decides which NATS errors are waited out: staging rides through a leader election or a frozen
 * node the way the event publish does, and what remains is one of these classes, never a raw
 * client error.
 */
import { isUnavailable } from "../nats/availability.ts";

/** Base of every staging failure of the object store; `cause` holds the NATS error. */
export class StagingError extends Error {
  override name = "StagingError";
}

/**
 * The server refused a staging step (permissions, a limit): asking again would be refused again,
 * so it is not retried. Nothing is published for the artifact.
 */
export class StagingRefusedError extends StagingError {
  override name = "StagingRefusedError";
}

/**
 * The bucket did not confirm a staging step within the staging timeout (no stream leader that
 * long, or no connection). Nothing is published for the artifact; what was sent of its bytes is
 * removed if the bucket answers again, or else expires with the bucket's max age.
 */
export class StagingUnavailableError extends StagingError {
  override name = "StagingUnavailableError";
}

/**
 * The project has no blob bucket: an operator creates it (the project in `staging.projects`,
 * then `artifact-bus topology`). Trainers may not create buckets: a stream's creator picks the
 * subjects it captures, so that right would let one project capture another's.
 */
export class BlobBucketMissingError extends StagingError {
  override name = "BlobBucketMissingError";
  readonly project: string;
  readonly bucket: string;
  constructor(project: string, bucket: string, options?: ErrorOptions) {
    super(
      `project ${project} has no object store bucket (${bucket}): an operator adds ${JSON.stringify(project)} to staging.projects and runs \`artifact-bus topology\``,
      options,
    );
    this.project = project;
    this.bucket = bucket;
  }
}

/** JetStream's "stream not found": for a blob bucket, the bucket does not exist. */
export const STREAM_NOT_FOUND = 10059;

/** Options of {@link rideThrough}. */
export interface RideThroughOptions {
  /** Epoch ms after which a transient error is final. */
  deadline: number;
  /** Names the step in the error, e.g. `chunk 3 of nats:demo/r1/abc`. */
  what: string;
}

/**
 * Runs `step` (given the request timeout to use) until it succeeds, retrying transient errors
 * with backoff until the deadline. Throws StagingRefusedError or StagingUnavailableError with the
 * NATS error as cause. `step` must be safe to repeat: it may have taken effect before it failed.
 */
export async function rideThrough<T>(step: (timeoutMs: number) => Promise<T>, o: RideThroughOptions): Promise<T> {
  for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await step(Math.max(100, Math.min(5000, o.deadline - Date.now())));
    } catch (err) {
      if (err instanceof StagingError) throw err;
      const message = (err as Error)?.message ?? String(err);
      if (!isUnavailable(err)) throw new StagingRefusedError(`${o.what} refused: ${message}`, { cause: err });
      if (Date.now() + wait > o.deadline) {
        throw new StagingUnavailableError(`${o.what} not confirmed in time: ${message}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
