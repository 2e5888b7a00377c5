import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { JSON_SCHEMA_PATH, jsonSchemaText } from "../src/contract/json-schema.ts";
import { checkArtifactName, checkSubjectToken, InvalidArtifactError } from "../src/contract/names.ts";
import { MAX_METADATA_KEY_CHARS } from "../src/contract/schema.ts";
import { artifactKey, eventFilter, eventSubject } from "../src/contract/subjects.ts";
import { decodeEvent } from "../src/contract/validate.ts";

const sha = "a".repeat(64);
export function sampleEvent(overrides: Record<string, unknown> = {}) {
  return {
    schema: 1,
    id: "0f4d6a2e-1b2c-4d5e-8f90-123456789abc",
    project: "llm",
    run: "run-7",
    name: "checkpoints/ep1-ba100-rank0.pt",
    level: "batch",
    blob: { store: "fs", ref: "llm/run-7/x", size: 10, sha256: sha },
    contentType: "application/octet-stream",
    metadata: { epoch: "1" },
    producer: { host: "node-3", pid: 42, rank: 0 },
    createdAt: "2026-11-28T08:00:00.000Z",
    ...overrides,
  };
}
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe("event v1 contract", () => {
  it("the committed JSON Schema matches the TypeBox source (run `npm run schema` when this fails)", () => {
    expect(readFileSync(JSON_SCHEMA_PATH, "utf8")).toBe(jsonSchemaText());
  });

  it("accepts a valid event and ignores unknown fields", () => {
    const e = decodeEvent(bytes(sampleEvent({ futureField: { x: 1 } })));
    expect(e.name).toBe("checkpoints/ep1-ba100-rank0.pt");
  });

  it.each([
    [{ level: "step" }, /level/],
    [{ project: "a.b" }, /project/],
    [{ run: "" }, /run/],
    [{ blob: { store: "fs", ref: "x", size: -1, sha256: sha } }, /blob.size/],
    [{ blob: { store: "s3", ref: "x", size: 1, sha256: sha } }, /blob.store/],
    [{ createdAt: "yesterday" }, /createdAt/],
    [{ schema: 2 }, /schema/],
    [{ name: "../etc/passwd" }, /name: .*'\.\.'/],
  ])("rejects %j naming the field", (override, field) => {
    expect(() => decodeEvent(bytes(sampleEvent(override)))).toThrow(field);
  });

  it("bounds metadata keys alike in TypeScript and in the committed JSON Schema", () => {
    const schema = JSON.parse(readFileSync(JSON_SCHEMA_PATH, "utf8"));
    expect(schema.properties.metadata.propertyNames).toEqual({ minLength: 1, maxLength: MAX_METADATA_KEY_CHARS });
    const ok = "k".repeat(MAX_METADATA_KEY_CHARS);
    expect(decodeEvent(bytes(sampleEvent({ metadata: { [ok]: "v" } }))).metadata[ok]).toBe("v");
    for (const key of ["k".repeat(MAX_METADATA_KEY_CHARS + 1), ""]) {
      expect(() => decodeEvent(bytes(sampleEvent({ metadata: { [key]: "v" } })))).toThrow(/^metadata: key/);
    }
  });

  it("rejects a missing field and a payload that is not JSON", () => {
    const { metadata: _m, ...missing } = sampleEvent();
    expect(() => decodeEvent(bytes(missing))).toThrow(/metadata/);
    expect(() => decodeEvent(new TextEncoder().encode("{nope"))).toThrow(/not UTF-8 JSON/);
    expect(() => decodeEvent(new TextEncoder().encode("[1]"))).toThrow(/JSON object/);
  });
});

describe("artifact names", () => {
  it.each([
    ["a/../b", /'\.\.'/],
    ["/abs/path", /relative/],
    ["dir\\file", /backslash/],
    ["bad\nname", /control/],
    ["a//b", /empty/],
    ["./a", /'\.'/],
    ["C:/x", /drive/],
    ["", /empty/],
    ["é".repeat(513), /1026 bytes.*1024/],
  ])("rejects %j", (name, msg) => {
    expect(() => checkArtifactName(name)).toThrow(InvalidArtifactError);
    expect(() => checkArtifactName(name)).toThrow(msg);
  });

  it("accepts nested paths, spaces, dots in names and unicode", () => {
    for (const n of ["ckpt.pt", "a/b c/ép..och.pt", "x".repeat(1024), ".hidden/file"])
      expect(checkArtifactName(n)).toBe(n);
  });

  it("project and run must be subject tokens", () => {
    expect(() => checkSubjectToken("project", "my.project")).toThrow(/project/);
    expect(() => checkSubjectToken("run", "-leading")).toThrow(/run/);
    expect(() => checkSubjectToken("run", "r".repeat(129))).toThrow(/at most 128/);
    expect(checkSubjectToken("run", "Run_01-a")).toBe("Run_01-a");
  });
});

describe("subjects", () => {
  it("derives a stable 26-character base32 key per name", () => {
    const k = artifactKey("checkpoints/ep1.pt");
    expect(k).toMatch(/^[a-z2-7]{26}$/);
    expect(artifactKey("checkpoints/ep1.pt")).toBe(k);
    expect(artifactKey("checkpoints/ep2.pt")).not.toBe(k);
  });

  it("builds event subjects and filters", () => {
    const s = eventSubject({ project: "p", run: "r", level: "epoch", name: "x.pt" });
    expect(s).toBe(`artifacts.v1.events.p.r.epoch.${artifactKey("x.pt")}`);
    expect(eventFilter("p")).toBe("artifacts.v1.events.p.*.*.*");
  });
});
