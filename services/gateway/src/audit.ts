/**
 * The gateway's log of what tokens did: every action that changes something for others (a
 * replay, a pause, a resume) is one line with `audit: true`, the token's id (never the token or
 * its hash) and what was asked, so a log pipeline can keep every action by one filter.
 */
import type { FastifyRequest } from "fastify";

/** Logs `action` by the request's token, with `fields` saying what it concerned. */
export function audit(request: FastifyRequest, action: string, fields: Record<string, unknown>): void {
  const tokenId = request.caller?.id ?? "none";
  request.log.info({ audit: true, tokenId, ...fields }, action);
}
