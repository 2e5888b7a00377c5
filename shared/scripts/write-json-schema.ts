/** Writes the committed JSON Schema for non-TS producers from the one TypeBox source. */
import { writeFileSync } from "node:fs";
import { JSON_SCHEMA_PATH, jsonSchemaText } from "../src/contract/json-schema.ts";

writeFileSync(JSON_SCHEMA_PATH, jsonSchemaText());
console.log(`wrote ${JSON_SCHEMA_PATH}`);
