/**
 * How an answer of the content endpoint goes out: its headers, as the OpenAPI document shows
 * them, and its body, streamed from the destination, or none to HEAD, which reads nothing of it.
 */
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyReply, FastifyRequest } from "fastify";

/** The headers of a 200 or 206 answer, GET's and HEAD's alike, as the OpenAPI document shows them. */
export const ANSWER_HEADERS = {
  etag: {
    type: "string",
    description: '`"<sha256>"` of the version served (of the bytes served, for a set\'s manifest or pointer)',
  },
  "content-length": {
    type: "integer",
    description: "Bytes of the body: the whole version (200) or the range (206)",
  },
  "content-type": { type: "string", description: "The event's content type (a set's manifest: application/json)" },
  "accept-ranges": { type: "string", description: "`bytes`; absent on a set's manifest or pointer, served whole" },
  "artifact-id": {
    type: "string",
    description: "The event id of the version served; absent on a set's manifest or pointer",
  },
  "artifact-destination": { type: "string", description: "The destination it was read from, e.g. s3:main" },
  "artifact-set": {
    type: "string",
    description: "URI-encoded: the checkpoint set the version was logged in; absent when none",
  },
};

/**
 * Writes the answer's status and headers (set on `reply`), then streams `body` into it. To HEAD
 * the body is dropped unread: Node would discard what it wrote, after the gateway had fetched it
 * all from the destination (a whole checkpoint for a HEAD).
 */
export async function sendContent(request: FastifyRequest, reply: FastifyReply, body: Readable): Promise<FastifyReply> {
  reply.hijack();
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
  if (request.method === "HEAD") {
    body.destroy();
    reply.raw.end();
    return reply;
  }
  await pipeline(body, reply.raw).catch((err: unknown) => {
    request.log.info({ error: (err as Error).message }, "content stream ended early");
    reply.raw.destroy();
  });
  return reply;
}
