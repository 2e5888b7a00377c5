/**
 * The gateway's one error registry: every failure a client can see is an RFC 9457 problem
 * (`application/problem+json`) whose `type` is stable per kind of problem and whose `field`
 * names the part of the request at fault, so a client branches on `type`, never on text.
 */
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import {
  BlobDigestMismatchError,
  BlobSourceChangedError,
  InvalidArtifactError,
  NoDestinationError,
  PublishRefusedError,
  PublishUnconfirmedError,
} from "@artifact-bus/shared";
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from "fastify";

/** Prefix of every problem type; the part after it is the problem's kind. */
export const PROBLEM_BASE = "https://artifact-bus.dev/problems/";

/** Every kind of problem, with its HTTP status and fixed title. */
export const PROBLEMS = {
  unauthorized: { status: 401, title: "Missing or unknown bearer token" },
  forbidden: { status: 403, title: "The token may not do this" },
  "path-not-allowed": { status: 403, title: "The path is outside the project's allowed directories" },
  "mode-not-allowed": { status: 403, title: "The staging mode would change or take a file the gateway does not own" },
  "invalid-request": { status: 400, title: "The request is invalid" },
  "invalid-artifact": { status: 400, title: "The artifact's name, project, run, level or metadata is invalid" },
  "digest-mismatch": { status: 400, title: "The body does not match its Content-Digest" },
  "not-found": { status: 404, title: "No such resource" },
  "not-landed": { status: 404, title: "No version of the artifact has landed where it could be read back" },
  "request-timeout": { status: 408, title: "The request did not come in time" },
  "idempotency-conflict": { status: 409, title: "A request with this Idempotency-Key is still in progress" },
  "idempotency-key-reused": { status: 422, title: "The Idempotency-Key was used for a different request" },
  "payload-too-large": { status: 413, title: "The body is larger than the gateway accepts" },
  "range-not-satisfiable": { status: 416, title: "The Range lies outside the artifact" },
  "headers-too-large": { status: 431, title: "The request's headers are larger than the gateway reads" },
  "no-destination": { status: 422, title: "No destination takes this artifact" },
  "destination-unavailable": { status: 502, title: "The destination could not be read from" },
  "nats-unavailable": { status: 503, title: "The bus is not reachable; retry later" },
  "publish-unconfirmed": { status: 503, title: "The publish was not confirmed; retry with the same Idempotency-Key" },
  internal: { status: 500, title: "Internal error" },
} as const;

export type ProblemKind = keyof typeof PROBLEMS;

/** A problem raised by a handler; the error handler renders it. */
export class Problem extends Error {
  override name = "Problem";
  readonly kind: ProblemKind;
  readonly field: string | undefined;
  readonly retryAfterS: number | undefined;
  readonly extra: Record<string, unknown>;
  /** Headers the answer carries besides the problem, e.g. a 416's `Content-Range: bytes *\/<size>`. */
  readonly headers: Record<string, string>;
  constructor(
    kind: ProblemKind,
    detail: string,
    o: {
      field?: string;
      retryAfterS?: number;
      extra?: Record<string, unknown>;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(detail);
    this.kind = kind;
    this.field = o.field;
    this.retryAfterS = o.retryAfterS;
    this.extra = o.extra ?? {};
    this.headers = o.headers ?? {};
  }

  get status(): number {
    return PROBLEMS[this.kind].status;
  }
}

/** What any error means to a client. Errors without a meaning of their own are `internal`. */
export function toProblem(err: unknown): Problem {
  if (err instanceof Problem) return err;
  if (err instanceof InvalidArtifactError) return new Problem("invalid-artifact", err.message, { field: err.field });
  if (err instanceof BlobDigestMismatchError) {
    return new Problem("digest-mismatch", `${err.message}; nothing was published`, { field: "Content-Digest" });
  }
  if (err instanceof BlobSourceChangedError) return new Problem("path-not-allowed", err.message, { field: "path" });
  if (err instanceof NoDestinationError) return new Problem("no-destination", err.message);
  if (err instanceof PublishUnconfirmedError) {
    return new Problem("publish-unconfirmed", err.message, { retryAfterS: 2, extra: { id: err.eventId } });
  }
  if (err instanceof PublishRefusedError) return new Problem("internal", "the bus refused the gateway's publish");
  const fe = err as Partial<FastifyError> & {
    validation?: { instancePath?: string; params?: Record<string, unknown> }[];
  };
  if (fe.validation) {
    const v = fe.validation[0];
    // A missing or unknown property is reported at its object: the field at fault is the property.
    const property = v?.params?.missingProperty ?? v?.params?.additionalProperty;
    const path = `${v?.instancePath ?? ""}${typeof property === "string" ? `/${property}` : ""}`;
    const field = path.replace(/^\//, "").replaceAll("/", ".") || fe.validationContext || "request";
    return new Problem("invalid-request", fe.message ?? "invalid request", { field });
  }
  // The framework's own refusals of a URL, before any route runs (frameworkErrors in server.ts).
  if (fe.code === "FST_ERR_BAD_URL" || fe.code === "FST_ERR_MAX_PARAM_LENGTH") {
    return new Problem("invalid-request", fe.message ?? "invalid URL", { field: "path" });
  }
  if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new Problem("payload-too-large", fe.message ?? "too large");
  if (fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" || fe.code === "FST_ERR_CTP_EMPTY_JSON_BODY") {
    return new Problem("invalid-request", fe.message ?? "bad body", { field: "body" });
  }
  if (fe.code === "FST_ERR_CTP_INVALID_JSON_BODY" || fe.statusCode === 400) {
    return new Problem("invalid-request", fe.message ?? "bad request", { field: "body" });
  }
  if (isNatsAway(err)) return new Problem("nats-unavailable", "the bus did not answer in time", { retryAfterS: 2 });
  return new Problem("internal", "internal error; the gateway log has the details");
}

/** NATS errors that mean the bus is away, not that the request was wrong. */
function isNatsAway(err: unknown): boolean {
  const text = `${(err as Error)?.name ?? ""} ${(err as Error)?.message ?? ""}`;
  if (/permissions? violation|authorization/i.test(text)) return false;
  return /timeout|connection closed|disconnect|no responders|CONNECTION_CLOSED|RequestError/i.test(text);
}

/** Whether the client closed its connection before its request was complete. */
function clientGone(request: FastifyRequest): boolean {
  const socket = request.raw.socket as Duplex | null;
  return !request.raw.complete && (socket === null || socket.destroyed);
}

/** The problem document for `p`, as sent. */
export function problemBody(p: Problem, instance: string): Record<string, unknown> {
  const { status, title } = PROBLEMS[p.kind];
  return {
    type: `${PROBLEM_BASE}${p.kind}`,
    title,
    status,
    detail: p.message,
    instance,
    ...(p.field === undefined ? {} : { field: p.field }),
    ...p.extra,
  };
}

/** Fastify error handler: renders any error as its problem, logging the unexpected ones. */
export function sendProblem(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const p = toProblem(err);
  // A client that went away mid-request is no failure of the gateway, whatever error its body
  // stream ended with: one line at info, without the stack.
  if (clientGone(request)) {
    request.log.info({ error: (err as Error)?.message }, "client went away before the request was complete");
  } else if (p.kind === "internal") request.log.error({ err }, "request failed");
  else if (p.kind === "nats-unavailable" && !(err instanceof Problem)) request.log.warn({ err }, "NATS did not answer");
  else request.log.info({ problem: p.kind, field: p.field, detail: p.message }, "request refused");
  if (p.retryAfterS !== undefined) reply.header("retry-after", String(p.retryAfterS));
  for (const [k, v] of Object.entries(p.headers)) reply.header(k, v);
  // A body the handler never read would otherwise be read to its end to keep the connection.
  if (!request.raw.complete) reply.header("connection", "close");
  return reply
    .code(p.status)
    .type("application/problem+json")
    .serializer((body: unknown) => JSON.stringify(body))
    .send(problemBody(p, request.url.split("?")[0] ?? request.url));
}

/**
 * Node's HTTP parser refused a request before any route could see it (a malformed head, headers
 * too large, a client too slow to send them): the answer is a problem too, written on the socket
 * by hand as nothing else is left to write it, and the connection is closed. A client gone
 * (ECONNRESET) is answered with nothing; none of this is the gateway's failure, so it is logged
 * at info, without a stack.
 */
export function clientErrorAnswer(log: FastifyBaseLogger, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === "ECONNRESET" || socket.destroyed) {
    log.info({ code: err.code }, "client went away");
    return;
  }
  const p =
    err.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? new Problem("request-timeout", "the request's headers (or body) did not come within the gateway's timeout")
      : err.code === "HPE_HEADER_OVERFLOW"
        ? new Problem("headers-too-large", "the request's headers are larger than the gateway reads")
        : new Problem("invalid-request", `the request could not be parsed as HTTP/1.1 (${err.code ?? "error"})`);
  log.info({ problem: p.kind, code: err.code }, "request refused before routing");
  if (socket.writable) {
    const body = JSON.stringify(problemBody(p, "about:blank"));
    socket.write(
      `HTTP/1.1 ${p.status} ${STATUS_CODES[p.status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
