/**
 * The gateway as a fastify plugin: error handling, authentication, metrics, the OpenAPI
 * document and the routes. Process concerns (config, NATS, TLS, signals) live in server.ts, so
 * tests and the OpenAPI generator can build the app on their own.
 */

import { type Role, SUBJECT_TOKEN_PATTERN } from "@artifact-bus/shared";
import swagger from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { type Caller, requireProject, requireRole } from "./auth.ts";
import type { GatewayDeps } from "./deps.ts";
import { Problem, sendProblem } from "./problems.ts";
import { versionRoutes } from "./routes/artifact-versions.ts";
import { readRoutes } from "./routes/artifacts-read.ts";
import { writeRoutes } from "./routes/artifacts-write.ts";
import { contentRoutes } from "./routes/content.ts";
import { liveRoutes } from "./routes/live.ts";
import { nameRuleRoutes } from "./routes/name-rules.ts";
import { operationRoutes } from "./routes/operations.ts";
import { pauseRoutes } from "./routes/pause.ts";
import { serviceRoutes } from "./routes/service.ts";
import { setRoutes } from "./routes/sets.ts";
import { uiRoutes } from "./routes/ui.ts";
import { SHARED_SCHEMAS } from "./schemas.ts";
import { validateStrictBodies } from "./validation.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated token's record, on routes that need a role. */
    caller?: Caller;
  }
  interface FastifyContextConfig {
    /** The role a route needs; routes without one are open (health, metrics, the document). */
    role?: Role;
    /** The largest body the route takes, when it reads the body itself (fastify's bodyLimit otherwise). */
    maxBody?: () => number;
  }
}

const PROJECT = new RegExp(SUBJECT_TOKEN_PATTERN);

/** The API's version, also the OpenAPI document's `info.version`. */
export const API_VERSION = "1.0.0";

/** Registers the whole gateway on `app`. Not encapsulated: its handlers apply to the root. */
export async function gatewayApp(app: FastifyInstance, { deps }: { deps: GatewayDeps }): Promise<void> {
  app.setErrorHandler((err, request, reply) => sendProblem(err, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(new Problem("not-found", `no route ${request.method} ${request.url.split("?")[0]}`), request, reply),
  );
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  validateStrictBodies(app);
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "artifact-bus gateway",
        version: API_VERSION,
        description:
          "Log ML artifacts over HTTP, see where they are, wait for them and read them back. Errors are RFC 9457 problem documents.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transform: ({ schema, url, route }) =>
      documented(schema as Record<string, unknown>, url, route.method, route.config),
  });

  // Before the body is read: a 1 GiB PUT with a wrong token is refused at its headers.
  app.addHook("onRequest", async (request) => {
    const role = request.routeOptions.config.role;
    if (!role) return;
    const caller = deps.tokens.authenticate(request);
    requireRole(caller, role);
    const project = (request.params as { project?: string } | undefined)?.project;
    // An invalid project id is refused by validation next (400, naming it); no token has it.
    if (project !== undefined && PROJECT.test(project)) requireProject(caller, project);
    request.caller = caller;
  });
  // `Expect: 100-continue`: Node answers 100 at once unless 'checkContinue' is handled. Handled,
  // the request goes through the hooks above first, so a wrong token or a body announced over
  // the limit is refused before the client sends a byte of it; 100 goes out only when the body
  // is about to be read (preParsing).
  app.server.on("checkContinue", (req, res) => app.server.emit("request", req, res));
  app.addHook("preParsing", async (request, reply) => {
    const length = Number(request.headers["content-length"] ?? Number.NaN);
    const limit = request.routeOptions.config.maxBody?.() ?? request.routeOptions.bodyLimit;
    if (limit !== undefined && length > limit) {
      throw new Problem("payload-too-large", `the body is ${length} bytes; at most ${limit}`);
    }
    if (request.headers.expect?.toLowerCase() === "100-continue" && !reply.raw.headersSent) reply.raw.writeContinue();
  });
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    deps.metrics.requests.inc({ route, method: request.method, status: reply.statusCode });
    deps.metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });

  await app.register(async (v1) => {
    await writeRoutes(v1, deps);
    await readRoutes(v1, deps);
    await versionRoutes(v1, deps);
    await setRoutes(v1, deps);
    await nameRuleRoutes(v1, deps);
    await contentRoutes(v1, deps);
    await operationRoutes(v1, deps);
    await pauseRoutes(v1, deps);
    await serviceRoutes(v1, deps);
    await liveRoutes(v1, deps);
    await uiRoutes(v1);
  });
  // Live streams never end on their own: end them, or closing would wait out the grace period.
  app.addHook("preClose", async () => {
    deps.live?.endAll();
  });
}
(gatewayApp as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;

/**
 * A route as the document shows it: wildcard routes under their real shape (the name may hold
 * `/`), a HEAD route as answers without bodies, and the bearer scheme on every route that needs
 * a role.
 */
function documented(schema: Record<string, unknown>, url: string, method: string | string[], config: unknown) {
  let path = url;
  let out = schema;
  if (url.endsWith("/*")) {
    const read = method === "GET" || method === "HEAD";
    path = url.slice(0, -1) + (read && url.endsWith("/artifacts/*") ? "{name}/content" : "{name}");
    const params = schema.params as { properties: Record<string, unknown>; required?: string[] };
    const { "*": _wild, ...rest } = params.properties;
    out = {
      ...schema,
      ...(method === "PUT"
        ? {
            body: {
              content: {
                "*/*": {
                  schema: { description: "The artifact's bytes", contentMediaType: "application/octet-stream" },
                },
              },
            },
          }
        : {}),
      params: {
        ...params,
        properties: { ...rest, name: { type: "string", description: "Artifact name; may contain /" } },
        required: [...(params.required ?? []).filter((r) => r !== "*"), "name"],
      },
    };
  }
  if (method === "HEAD") out = headOf(out);
  if ((config as { role?: string } | undefined)?.role) out = { ...out, security: [{ bearer: [] }] };
  return { schema: out, url: path };
}

/**
 * A HEAD route (fastify adds one per GET; a GET route with `swagger.exposeHeadRoute` shows it):
 * the GET's answers with their statuses and headers, no body, a refusal's problem document
 * included, as Node sends none in answer to HEAD.
 */
function headOf(schema: Record<string, unknown>): Record<string, unknown> {
  const responses = (schema.response ?? {}) as Record<string, { description?: string; headers?: unknown }>;
  return {
    ...schema,
    summary: `${String(schema.summary)}, headers only (HEAD)`,
    description:
      "Answers as GET does, with the same status and headers (`Content-Length` included) and no body: a refusal comes without its problem document.",
    response: Object.fromEntries(
      Object.entries(responses).map(([status, r]) => [
        status,
        {
          type: "null",
          description: `As GET's ${status} (${r.description ?? ""}), without the body`,
          ...(r.headers ? { headers: r.headers } : {}),
        },
      ]),
    ),
  };
}
