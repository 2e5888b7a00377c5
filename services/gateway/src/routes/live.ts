/**
 * `GET /v1/events/live`: Server-Sent Events of ledger changes of the token's projects, fed by
 * the gateway's one ledger watch (live-feed.ts), with a comment line every 15 s so proxies keep
 * the connection open. A client too slow to take what it is sent is cut (it reconnects and reads
 * the state again); a client that goes away leaves nothing behind.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { hasProject } from "../auth.ts";
import type { GatewayDeps } from "../deps.ts";
import type { LiveEntry } from "../live-feed.ts";
import { problems } from "../schemas.ts";

/** Bytes a stream may have waiting to be sent before it is cut. */
const MAX_BUFFERED = 1024 * 1024;

export async function liveRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.get(
    "/v1/events/live",
    {
      config: { role: "read" },
      schema: {
        summary: "Live ledger changes of the token's projects, as Server-Sent Events",
        description:
          "A text/event-stream: `event: ready` once the stream hears the ledger, then one `event: ledger` per change of an artifact version at a destination, its data `{eventId, project, run, name, destination, state, attempts, updatedAt, streamSeq, error?, errorClass?, bytesDone?, location?, dlqSeq?}`, only of the token's projects; `event: resync` when the gateway's ledger watch restarted, after NATS reconnected or after it ended on its own (changes may have been missed: read the state again). Comment lines (`: heartbeat`) come every 15 s. Changes made while no stream is open are not replayed: read the state (GET /v1/artifacts/{id}, run listings) after connecting.",
        tags: ["operations"],
        response: {
          200: {
            description: "The event stream; it stays open until the client goes away or the gateway stops",
            content: { "text/event-stream": { schema: Type.String() } },
          },
          ...problems(401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      const caller = request.caller!;
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      });
      // The heartbeats keep it busy: the idle timeout must not cut a quiet stream.
      request.raw.socket.setTimeout(0);
      res.write("retry: 3000\n\n");
      let beat: NodeJS.Timeout | undefined;
      let leave: (() => void) | undefined;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        clearInterval(beat);
        leave?.();
        deps.metrics.liveStreams.dec();
        if (!res.writableEnded) res.end();
      };
      deps.metrics.liveStreams.inc();
      res.once("close", end);
      const write = (chunk: string) => {
        if (ended) return;
        if (res.writableLength > MAX_BUFFERED) {
          request.log.info({ tokenId: caller.id }, "live stream cut: the client does not keep up");
          res.destroy();
          return;
        }
        res.write(chunk);
      };
      try {
        leave = await deps.live.join({
          accepts: (project) => hasProject(caller, project),
          valid: () => deps.tokens.stillValid(caller),
          send: (entry: LiveEntry) => write(`event: ledger\ndata: ${JSON.stringify(entry)}\n\n`),
          resync: () => write("event: resync\ndata: {}\n\n"),
          end,
        });
      } catch (err) {
        request.log.warn({ error: (err as Error).message }, "live stream could not watch the ledger");
        write(`event: error\ndata: ${JSON.stringify({ detail: "the ledger cannot be watched now" })}\n\n`);
        end();
        return reply;
      }
      // The client went away while the stream waited for the watch: end() already ran, so an
      // interval set now would never be cleared.
      if (ended) {
        leave();
        return reply;
      }
      write("event: ready\ndata: {}\n\n");
      beat = setInterval(() => write(`: heartbeat ${new Date().toISOString()}\n\n`), deps.config.liveHeartbeatMs);
      return reply;
    },
  );
}
