/**
 * How requests are checked against their schemas. Fastify's default Ajv coerces types and drops
 * unknown properties everywhere: right for a query string or path (every value comes as text,
 * `?timeout=5` is a number), wrong for a JSON body, where `{"a":1}` in metadata became "1",
 * `"members":"2"` became 2 and a misspelt field vanished, all answered 202. A JSON body says its
 * types itself, so it is taken as sent or refused with 400 naming the field (problems.ts).
 */
import AjvCompiler from "@fastify/ajv-compiler";
import type { FastifyInstance } from "fastify";

type Pool = ReturnType<typeof AjvCompiler>;
type Compiler = ReturnType<Pool>;

/** Sets the validator compiler of `app`; call it once its shared schemas are added. */
export function validateStrictBodies(app: FastifyInstance): void {
  const pool = AjvCompiler();
  let compilers: { body: Compiler; other: Compiler } | undefined;
  app.setValidatorCompiler((route) => {
    // Built at the first route, so that every schema added by then can be referenced.
    const shared = () => app.getSchemas() as Parameters<Pool>[0];
    compilers ??= {
      body: pool(shared(), { customOptions: { coerceTypes: false, removeAdditional: false } }),
      // Fastify's own options, as every part of a request had them before.
      other: pool(shared(), { customOptions: {} }),
    };
    return (route.httpPart === "body" ? compilers.body : compilers.other)(route);
  });
}
