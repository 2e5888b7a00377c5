/**
 * The committed OpenAPI document is what the routes generate (run `npm run openapi` when this
 * fails), and it is a valid OpenAPI 3.1 document. That every route in it is exercised is checked
 * at the end of test/gateway-api.test.ts, against the requests the gateway counted.
 */
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { OPENAPI_PATH, openapiDocument } from "../src/openapi.ts";

describe("services/gateway/openapi.json", () => {
  it("is the document the route schemas generate (run `npm run openapi` when this fails)", async () => {
    expect(JSON.parse(readFileSync(OPENAPI_PATH, "utf8"))).toEqual(await openapiDocument());
  });

  it("is valid OpenAPI 3.1", async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(readFileSync(OPENAPI_PATH, "utf8")));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("documents every route with its problems, and the bearer scheme where a token is needed", async () => {
    const doc = (await openapiDocument()) as {
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    };
    const open = new Set(["/healthz", "/readyz", "/metrics", "/v1/openapi.json"]);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (open.has(path)) continue;
        expect(op.security, `${method} ${path}`).toEqual([{ bearer: [] }]);
        expect(Object.keys(op.responses), `${method} ${path}`).toContain("401");
      }
    }
    const content = doc.paths["/v1/projects/{project}/runs/{run}/artifacts/{name}/content"];
    // HEAD, which fastify answers for every GET, is documented where clients use it: the content.
    expect(Object.keys(content ?? {})).toEqual(["get", "head"]);
  });

  it("marks no parameter with a default as required (a client may leave it out)", async () => {
    type Parameter = { in: string; name: string; required?: boolean; schema: { default?: unknown } };
    const doc = (await openapiDocument()) as {
      paths: Record<string, Record<string, { parameters?: Parameter[] }>>;
    };
    const required: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const p of op.parameters ?? []) {
          if (p.required && p.schema.default !== undefined) required.push(`${method} ${path} ${p.in} ${p.name}`);
        }
      }
    }
    expect(required).toEqual([]);
  });

  it("describes every field of the items GET .../sets lists", async () => {
    type Schema = { description?: string; properties?: Record<string, Schema>; items?: Schema };
    const doc = (await openapiDocument()) as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, { content: Record<string, { schema: Schema }> }> }>
      >;
    };
    const list =
      doc.paths["/v1/projects/{project}/runs/{run}/sets"]?.get?.responses["200"]?.content["application/json"];
    const item = list?.schema.properties?.items?.items;
    const undescribed = (s: Schema | undefined, at: string): string[] =>
      Object.entries(s?.properties ?? {}).flatMap(([k, v]) => [
        ...(v.description ? [] : [`${at}${k}`]),
        ...undescribed(v.items ?? v, `${at}${k}.`),
      ]);
    expect(Object.keys(item?.properties ?? {})).toContain("updatedAt");
    expect(undescribed(item, "")).toEqual([]);
  });

  it("says application/problem+json for every error body, and when 409 and 422 come back to a write", async () => {
    type Response = { description?: string; content?: Record<string, unknown> };
    const doc = (await openapiDocument()) as {
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, response] of Object.entries(op.responses)) {
          // A readiness probe's 503 is its answer (not ready, and why), not a refused request.
          if (Number(status) < 400 || path === "/readyz") continue;
          // An answer to HEAD has no body, a refusal's neither.
          if (method === "head") {
            expect(response.content, `${method} ${path} ${status}`).toBeUndefined();
            continue;
          }
          expect(Object.keys(response.content ?? {}), `${method} ${path} ${status}`).toEqual([
            "application/problem+json",
          ]);
        }
      }
    }
    for (const [path, method] of [
      ["/v1/projects/{project}/runs/{run}/artifacts/{name}", "put"],
      ["/v1/projects/{project}/runs/{run}/artifacts", "post"],
    ] as const) {
      const { responses } = doc.paths[path]?.[method] ?? { responses: {} };
      expect(responses["409"]?.description, `${method} ${path} 409`).toMatch(/idempotency-conflict.*Retry-After/s);
      expect(responses["422"]?.description, `${method} ${path} 422`).toMatch(/idempotency-key-reused/);
    }
  });
});
