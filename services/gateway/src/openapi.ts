/**
 * The committed OpenAPI document (services/gateway/openapi.json) is generated from the route
 * schemas: `npm run openapi` rewrites it, and services/gateway/test/openapi.test.ts fails while
 * it is stale. Building the app needs no NATS: the routes touch their dependencies per request.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Fastify from "fastify";
import { gatewayApp } from "./app.ts";
import type { GatewayDeps } from "./deps.ts";

export const OPENAPI_PATH = fileURLToPath(new URL("../openapi.json", import.meta.url));

/** The OpenAPI 3.1 document of the gateway's routes, as /v1/openapi.json serves it. */
export async function openapiDocument(): Promise<Record<string, unknown>> {
  const app = Fastify({ logger: false, routerOptions: { maxParamLength: 2048 } });
  await app.register(gatewayApp, { deps: {} as GatewayDeps });
  await app.ready();
  const doc = app.swagger() as unknown as Record<string, unknown>;
  await app.close();
  return JSON.parse(JSON.stringify(doc));
}

if (import.meta.main) writeFileSync(OPENAPI_PATH, `${JSON.stringify(await openapiDocument(), null, 2)}\n`);
