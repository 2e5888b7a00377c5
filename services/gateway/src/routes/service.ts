/** Process endpoints, open to anyone who reaches the port: liveness, readiness, metrics and the API document. */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { GatewayDeps } from "../deps.ts";

export async function serviceRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "Liveness: the process answers",
        tags: ["service"],
        response: { 200: Type.Object({ live: Type.Boolean() }) },
      },
    },
    async () => ({ live: true }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        summary: "Readiness: connected to NATS and not shutting down",
        tags: ["service"],
        response: {
          200: Type.Object({ ready: Type.Boolean() }),
          503: Type.Object({ ready: Type.Boolean(), reasons: Type.Array(Type.String()) }),
        },
      },
    },
    async (_request, reply) => {
      const reasons = deps.notReady();
      return reasons.length ? reply.code(503).send({ ready: false, reasons }) : { ready: true };
    },
  );

  app.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus metrics: requests by route and status, bytes in, staging and publish times, waiters",
        tags: ["service"],
        produces: ["text/plain"],
        response: { 200: Type.String({ description: "Prometheus text exposition format" }) },
      },
    },
    async (_request, reply) =>
      reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );

  app.get(
    "/v1/openapi.json",
    {
      schema: {
        summary: "This API as an OpenAPI 3.1 document",
        tags: ["service"],
        response: { 200: Type.Object({}, { additionalProperties: true }) },
      },
    },
    async () => app.swagger(),
  );
}
