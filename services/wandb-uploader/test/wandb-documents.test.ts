/**
 * The uploader's GraphQL documents are the official clients' forms: each one validates against
 * the W&B double's schema (which takes the official documents verbatim), and none declares a
 * variable of an input type that no public source names. A guessed input type (e.g.
 * `$input: UpsertBucketInput!`) would be refused by the real server if the guess were wrong, and
 * every upload would fail: this test fails first.
 */
import { OFFICIAL_DOCUMENTS, wandbDoubleSchema } from "@artifact-bus/testkit";
import { type DocumentNode, Kind, parse, type TypeNode, validate } from "graphql";
import { describe, expect, it } from "vitest";
import * as queries from "../src/wandb-queries.ts";

/** Every type an official document declares a variable of (so the real server has it under that name). */
function declaredTypes(doc: DocumentNode): string[] {
  const named = (t: TypeNode): string => (t.kind === Kind.NAMED_TYPE ? t.name.value : named(t.type));
  return doc.definitions.flatMap((d) =>
    d.kind === Kind.OPERATION_DEFINITION ? (d.variableDefinitions ?? []).map((v) => named(v.type)) : [],
  );
}

const confirmed = new Set(Object.values(OFFICIAL_DOCUMENTS).flatMap((d) => declaredTypes(parse(d.query))));

describe("the uploader's GraphQL documents", () => {
  const documents = Object.entries(queries).filter(([, v]) => typeof v === "string") as [string, string][];

  it("are all checked here", () => {
    expect(documents.map(([name]) => name).sort()).toEqual([
      "ARTIFACT_BY_NAME",
      "ARTIFACT_FILE_URLS",
      "ARTIFACT_MANIFEST",
      "COMMIT_ARTIFACT",
      "COMPLETE_MULTIPART",
      "CREATE_ARTIFACT",
      "CREATE_FILES",
      "CREATE_MANIFEST",
      "UPSERT_BUCKET",
      "VIEWER",
    ]);
  });

  it.each(documents)("%s declares only variable types an official document declares", (_name, query) => {
    const doc = parse(query);
    for (const type of declaredTypes(doc)) expect(confirmed, `${type} is not in any official document`).toContain(type);
    expect(validate(wandbDoubleSchema, doc).map((e) => e.message)).toEqual([]);
  });

  it("the confirmed input types are the official ones, and none of the guessed names", () => {
    const inputs = [...confirmed].filter((t) => t.endsWith("Input")).sort();
    expect(inputs).toEqual([
      "ArtifactManifestEntryInput",
      "CreateArtifactFileSpecInput",
      "CreateArtifactInput",
      "UploadPartsInput",
    ]);
  });
});
