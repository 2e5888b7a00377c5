/**
 * Accepting one artifact, whichever way its bytes come (a PUT body, a file by path): refuse
 * early what would never land, stage the bytes under the event id, publish, record, answer 202.
 * With an Idempotency-Key the event id is fixed by the key, so a retry finds the recorded answer
 * (or, if the gateway died between publish and record, the publish dedupe says so) and the
 * artifact is published once.
 */
import type { BlobRef, Level } from "@artifact-bus/shared";
import type { GatewayDeps } from "./deps.ts";
import { Problem } from "./problems.ts";
import { eventIdFor } from "./request-parts.ts";
import type { AcceptedBody } from "./schemas.ts";

export interface AcceptRequest {
  project: string;
  run: string;
  name: string;
  level: Level;
  metadata: Record<string, string>;
  contentType?: string;
  idempotencyKey?: string;
  /** Stages the bytes as blob `<project>/<run>/<id>`. */
  stage(id: string): Promise<BlobRef>;
}

/** The answer, and whether it is the one recorded for an earlier request with the same key. */
export interface Acceptance {
  answer: AcceptedBody;
  replayed: boolean;
}

/** Event ids being accepted by this process now: a concurrent retry of one is refused, not staged twice. */
const inFlight = new Set<string>();

export async function accept(deps: GatewayDeps, req: AcceptRequest): Promise<Acceptance> {
  const reasons = deps.notReady();
  if (reasons.length > 0) throw new Problem("nats-unavailable", reasons.join("; "), { retryAfterS: 2 });
  const id = eventIdFor(req.project, req.run, req.idempotencyKey);
  if (req.idempotencyKey !== undefined) {
    const record = await deps.index.record(id);
    if (record) return { answer: record.answer, replayed: true };
    if (inFlight.has(id)) {
      throw new Problem("idempotency-conflict", "a request with this Idempotency-Key is in progress; retry later", {
        field: "Idempotency-Key",
        retryAfterS: 1,
      });
    }
  }
  inFlight.add(id);
  try {
    return await acceptOnce(deps, req, id);
  } finally {
    inFlight.delete(id);
  }
}

async function acceptOnce(deps: GatewayDeps, req: AcceptRequest, id: string): Promise<Acceptance> {
  const target = await deps.publisher.target(req);
  const staging = deps.metrics.stagingSeconds.startTimer();
  const blob = await req.stage(id);
  staging();
  deps.metrics.bytesIn.inc(blob.size);
  const logged = await deps.publisher.publishStaged(target, {
    id,
    blob,
    metadata: req.metadata,
    ...(req.contentType ? { contentType: req.contentType } : {}),
  });
  let { level, name } = target;
  let { sha256, size } = blob;
  if (logged.duplicate) {
    // Published before under this key (by a gateway that died before recording it): answer
    // with that event, which must be of the same bytes.
    const original = await deps.index.at(logged.streamSeq);
    if (!original || original.event.id !== id) throw new Problem("internal", `event ${id} not found after a dedupe`);
    if (original.event.blob.sha256 !== blob.sha256 || original.event.name !== name) {
      throw new Problem("idempotency-conflict", "this Idempotency-Key was used for other content", {
        field: "Idempotency-Key",
      });
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
  const record = { project: target.project, run: target.run, streamSeq: logged.streamSeq, answer };
  if (req.idempotencyKey !== undefined) await deps.index.putRecord(id, record);
  else deps.index.sendRecord(id, record);
  return { answer, replayed: logged.duplicate };
}
