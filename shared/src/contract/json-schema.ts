/** The JSON Schema document derived from {@link ArtifactEventV1Schema}. */
import { fileURLToPath } from "node:url";
import { ArtifactEventV1Schema } from "./schema.ts";

export const JSON_SCHEMA_PATH = fileURLToPath(new URL("../../schema/artifact-event.v1.json", import.meta.url));

export function jsonSchemaText(): string {
  // JSON.stringify drops TypeBox's symbol-keyed bookkeeping, leaving plain JSON Schema.
  const doc = { $schema: "https://json-schema.org/draft/2020-12/schema", ...ArtifactEventV1Schema };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
