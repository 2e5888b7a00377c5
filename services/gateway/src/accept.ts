/**
 * Accepting one artifact, whichever way its bytes come (a PUT body, a file by path): refuse
 * early what would never land, stage the bytes under the event id, publish, record, answer 202.
 * With an Idempotency-Key the event id is fixed by the key (and the caller's token), so a retry
 * finds the recorded answer, or, if a gateway died between publish and record or another replica
 * is on the same key, finds the blob staged already: blobs are never replaced, so the published
 * event's bytes stay what it says, and the retry is answered from that event. A key reused for a
 * different request (see idempotency.ts) is refused with 422, wherever the first answer is found.
 */
import { stat } from "node:fs/promises";
import {
  BlobExistsError,
  type BlobRef,
  checkSetMembership,
  destinationFromToken,
  destinationsOf,
  type Level,
  type SetRef,
  type StoredEvent,
} from "@artifact-bus/shared";
import type { FastifyReply } from "fastify";
import type { GatewayDeps } from "./deps.ts";
import type { IndexRecord } from "./event-index.ts";
import { fingerprintOf, headOf, keyReused } from "./idempotency.ts";
import { Problem } from "./problems.ts";
import { eventIdFor } from "./request-parts.ts";
import type { AcceptedBody } from "./schemas.ts";

export interface AcceptRequest {
  /** `PUT` (the body is the bytes) or `POST` (the body names a file): part of the key's fingerprint. */
  method: "PUT" | "POST";
  project: string;
  run: string;
  name: string;
  level: Level;
  metadata: Record<string, string>;
  /** The checkpoint set the artifact is a member of (part of the key's fingerprint). */
  set?: SetRef;
  /** The global rank of the trainer logging it: the event's producer.rank. */
  rank?: number;
  contentType?: string;
  idempotencyKey?: string;
  /** sha256 of the caller's token: derived event ids are bound to it (see eventIdFor). */
  tokenSha256: string;
  /** Stages the bytes as blob `<project>/<run>/<id>`; BlobExistsError if that blob exists. */
  stage(id: string): Promise<BlobRef>;
  /**
   * sha256 standing for the body in the key's fingerprint: for a PUT, that of its bytes (`bytes`
   * when they were staged or are known; else its Content-Digest's; else the body is read and
   * hashed, not staged); for a POST, that of its JSON.
   */
  bodySha256(bytes?: string): Promise<string>;
}

/** The answer, and whether it is the one recorded for an earlier request with the same key. */
export interface Acceptance {
  answer: AcceptedBody;
  replayed: boolean;
}

/** Sends the 202 of an acceptance; a replayed one says so (`Idempotent-Replayed: true`). */
export function sendAcceptance(reply: FastifyReply, { answer, replayed }: Acceptance): FastifyReply {
  if (replayed) reply.header("idempotent-replayed", "true");
  return reply.code(202).header("location", answer.status).send(answer);
}

/**
 * Event ids being accepted by this process now, with the head of their request (headOf): a
 * concurrent retry of one is refused with 409, not staged twice; another request under its key, 422.
 */
const inFlight = new Map<string, string>();

export async function accept(deps: GatewayDeps, req: AcceptRequest): Promise<Acceptance> {
  const reasons = deps.notReady();
  if (reasons.length > 0) throw new Problem("nats-unavailable", reasons.join("; "), { retryAfterS: 2 });
  // A set the event would be refused for is refused before any byte is staged.
  checkSetMembership({ name: req.name, ...(req.set ? { set: req.set } : {}) });
  const id = eventIdFor(req.project, req.run, req.idempotencyKey, req.tokenSha256);
  const head = headOf(req);
  if (req.idempotencyKey !== undefined) {
    const record = await deps.index.record(id);
    if (record) return { answer: await replay(req, record), replayed: true };
    const running = inFlight.get(id);
    if (running !== undefined && running !== head) throw keyReused("another method, name or level");
    if (running !== undefined) {
      throw new Problem("idempotency-conflict", "a request with this Idempotency-Key is in progress; retry later", {
        field: "Idempotency-Key",
        retryAfterS: 1,
      });
    }
  }
  inFlight.set(id, head);
  try {
    return await acceptOnce(deps, req, id);
  } finally {
    inFlight.delete(id);
  }
}

/** The recorded answer, if this request is the one it answered; 422 otherwise. */
async function replay(req: AcceptRequest, record: IndexRecord): Promise<AcceptedBody> {
  const { answer } = record;
  if (record.fingerprint === undefined) {
    // Recorded before fingerprints were kept: the answer still names what was logged.
    if (answer.name !== req.name || answer.level !== req.level) throw keyReused("another name or level");
    if (req.method === "PUT" && (await req.bodySha256()) !== answer.sha256) throw keyReused("other bytes");
    return answer;
  }
  if (fingerprintOf({ ...req, bodySha256: await req.bodySha256() }) !== record.fingerprint) {
    throw keyReused("another method, name, level or body");
  }
  return answer;
}

async function acceptOnce(deps: GatewayDeps, req: AcceptRequest, id: string): Promise<Acceptance> {
  const target = await deps.publisher.target({ ...req, id });
  const staging = deps.metrics.stagingSeconds.startTimer();
  let blob: BlobRef;
  try {
    blob = await req.stage(id);
  } catch (err) {
    if (!(err instanceof BlobExistsError) || req.idempotencyKey === undefined) throw err;
    return await stagedBefore(deps, req, id, err.sha256);
  }
  staging();
  deps.metrics.bytesIn.inc(blob.size);
  const logged = await deps.publisher.publishStaged(target, {
    id,
    blob,
    metadata: req.metadata,
    ...(req.contentType ? { contentType: req.contentType } : {}),
    ...(req.set ? { set: req.set } : {}),
    ...(req.rank === undefined ? {} : { rank: req.rank }),
  });
  let { level, name } = target;
  let { sha256, size } = blob;
  if (logged.duplicate) {
    // Published before under this key (by a gateway that died before recording it): answer
    // with that event, which must be of the same bytes.
    const original = await deps.index.at(logged.streamSeq);
    if (!original || original.event.id !== id) throw new Problem("internal", `event ${id} not found after a dedupe`);
    // The blob just staged is this request's own (staging is exclusive), and no event needs it:
    // the original's blob had been released, or this one could not have been staged.
    if (deps.blobStore.kind === "fs") await deps.blobStore.remove(blob).catch(() => {});
    if (original.event.blob.sha256 !== blob.sha256 || original.event.name !== name || original.event.level !== level) {
      throw keyReused("other bytes, name or level");
    }
    ({ level, name } = original.event);
    ({ sha256, size } = original.event.blob);
  }
  const answer: AcceptedBody = {
    id,
    project: target.project,
    run: target.run,
    name,
    level,
    sha256,
    size,
    destinations: logged.destinations,
    streamSeq: logged.streamSeq,
    status: `/v1/artifacts/${id}`,
  };
  // Status and retries find the event by this record from now on. A retry needs it written
  // before the answer; without a key it is sent unconfirmed (half the round trips of a small
  // artifact), and a status lookup that misses it finds the event by its ledger entries.
  const fingerprint = fingerprintOf({ ...req, bodySha256: await req.bodySha256(sha256) });
  const record = { project: target.project, run: target.run, streamSeq: logged.streamSeq, answer, fingerprint };
  if (req.idempotencyKey !== undefined) await deps.index.putRecord(id, record);
  else deps.index.sendRecord(id, record);
  return { answer, replayed: logged.duplicate };
}

/** A blob staged longer ago than this with no event published for it was left by a gateway that stopped. */
const ABANDONED_AFTER_MS = 10 * 60_000;

/**
 * The blob of `id` is staged already: by an earlier request with this key whose answer was not
 * recorded (a gateway killed between publish and record), or by one still in progress on another
 * replica. The published event answers the retry; the blob is never replaced.
 */
async function stagedBefore(deps: GatewayDeps, req: AcceptRequest, id: string, sha256?: string): Promise<Acceptance> {
  const published =
    (await deps.index.byId(id)) ?? (await deps.index.findInRun(req.project, req.run, id).catch(() => undefined));
  if (published) {
    const { event } = published;
    if (
      (sha256 !== undefined && sha256 !== event.blob.sha256) ||
      event.name !== req.name ||
      event.level !== req.level
    ) {
      throw keyReused("other bytes, name or level");
    }
    const answer = await answerOf(deps, published);
    const fingerprint = fingerprintOf({ ...req, bodySha256: await req.bodySha256(event.blob.sha256) });
    const { project, run } = event;
    await deps.index.putRecord(id, { project, run, streamSeq: published.streamSeq, answer, fingerprint });
    return { answer, replayed: true };
  }
  // Staged, not published: another replica is between the two, or one stopped there. Only a blob
  // that old is taken for abandoned and staged anew (the window is the hash of the file).
  const path = deps.blobStore.localPath({ store: deps.blobStore.kind, ref: `${req.project}/${req.run}/${id}` });
  const st = path === undefined ? undefined : await stat(path).catch(() => undefined);
  if (st && Date.now() - st.ctimeMs > ABANDONED_AFTER_MS) {
    await deps.blobStore.remove({ store: deps.blobStore.kind, ref: `${req.project}/${req.run}/${id}` });
    return acceptOnce(deps, req, id);
  }
  throw new Problem(
    "idempotency-conflict",
    "a request with this Idempotency-Key staged its bytes and has not published them yet (on another gateway replica?); retry later",
    { field: "Idempotency-Key", retryAfterS: 5 },
  );
}

/** The 202 answer for an event published before. */
async function answerOf(deps: GatewayDeps, { event, streamSeq }: StoredEvent): Promise<AcceptedBody> {
  const { id, project, run, name, level } = event;
  const { sha256, size } = event.blob;
  const destinations = (await destinationsOf(deps.directory, { event, streamSeq })).map(destinationFromToken);
  return { id, project, run, name, level, sha256, size, destinations, streamSeq, status: `/v1/artifacts/${id}` };
}
