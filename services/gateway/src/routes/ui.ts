/**
 * The operations page (`/ui/`): a few static files shipped with the gateway (services/gateway/ui),
 * read once at start. The page holds no secret and needs none to load: it asks the operator for
 * a token and calls only the documented JSON API with it. Not in the OpenAPI document (it is no
 * API); a Content-Security-Policy allows nothing but this origin.
 */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";

const DIR = new URL("../../ui/", import.meta.url);
const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "api.js": "text/javascript; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "artifacts.js": "text/javascript; charset=utf-8",
  "destinations.js": "text/javascript; charset=utf-8",
  "dom.js": "text/javascript; charset=utf-8",
  "download.js": "text/javascript; charset=utf-8",
  "format.js": "text/javascript; charset=utf-8",
  "letters.js": "text/javascript; charset=utf-8",
  "live.js": "text/javascript; charset=utf-8",
  "sets.js": "text/javascript; charset=utf-8",
  "state.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export async function uiRoutes(app: FastifyInstance): Promise<void> {
  const bodies = new Map(Object.keys(FILES).map((f) => [f, readFileSync(new URL(f, DIR))]));
  const send = (file: string) => (_request: unknown, reply: import("fastify").FastifyReply) =>
    reply
      .type(FILES[file] as string)
      .header("cache-control", "no-cache")
      .header("content-security-policy", CSP)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .send(bodies.get(file));
  app.get("/ui", { schema: { hide: true } }, (_request, reply) => reply.redirect("/ui/", 301));
  app.get("/ui/", { schema: { hide: true } }, send("index.html"));
  for (const file of Object.keys(FILES)) app.get(`/ui/${file}`, { schema: { hide: true } }, send(file));
}
