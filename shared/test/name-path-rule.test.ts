/**
 * The path part of a destination's name rules: the topology records the template, the base
 * (S3's prefix, a file destination's root) and the limit, and a publisher renders the path as the
 * adapter does and refuses one past the limit in the adapter's words. Records without it (older
 * versions) check nothing; a record with fields this version does not know is read as before.
 */
import { describe, expect, it } from "vitest";
import { checkNameRules, nameRulesOf, parseNameRules } from "../src/contract/name-rules.ts";
import { InvalidArtifactError } from "../src/contract/names.ts";

/** A name of `bytes` bytes in segments of 200 (a file name's limit is 255). */
const nameOf = (bytes: number) => {
  const segments = `${"n".repeat(199)}/`.repeat(Math.floor(bytes / 200));
  return segments + "x".repeat(bytes - segments.length);
};
const refusal = (event: Parameters<typeof checkNameRules>[0], options: Record<string, unknown>, name = "s3:main") => {
  try {
    checkNameRules(event, [{ destination: name, rules: nameRulesOf({ name, options }) }]);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArtifactError);
    return (err as Error).message;
  }
};

describe("S3: the key, prefix included", () => {
  const options = { bucket: "b", prefix: "/team-a//", keyTemplate: "{project}/{level}/{run}-r{rank}/{name}" };

  it("records the normalised prefix, the template and S3's limit", () => {
    expect(nameRulesOf({ name: "s3:main", options })).toMatchObject({
      pathTemplate: options.keyTemplate,
      prefix: "team-a/",
      maxPathBytes: 1024,
    });
    expect(nameRulesOf({ name: "s3:main", options: { bucket: "b" } })).toMatchObject({
      pathTemplate: "{project}/{run}/{name}",
      prefix: "",
    });
  });

  it("renders the template for the event's project, run, level and rank: over by one byte is refused, the limit itself taken", () => {
    // "team-a/" 7 + "p/" 2 + "fit/" 4 + "r-r12/" 6 = 19 bytes besides the name.
    const event = (name: string) => ({ project: "p", run: "r", level: "fit" as const, name, producer: { rank: 12 } });
    expect(refusal(event(nameOf(1005)), options)).toBe(undefined);
    expect(refusal(event(nameOf(1006)), options)).toMatch(
      /is refused by s3:main: object key is 1,025 bytes \(name 1,006 \+ prefix "team-a\/" 7 \+ 12 from template "\{project\}\/\{level\}\/\{run\}-r\{rank\}\/\{name\}"\); S3 allows at most 1,024 bytes$/,
    );
    // Rank 0 when none is given: one byte shorter.
    expect(refusal({ ...event(nameOf(1006)), producer: {} }, options)).toBe(undefined);
  });
});

describe("a file destination: the path, root included, and the temporary name beside it", () => {
  const root = `/${"d".repeat(200)}`.repeat(15); // 3,015 bytes
  const options = { root, pathTemplate: "{project}/{run}/{name}" };
  const id = "0123456789abcdef0123456789abcdef0123"; // 36 bytes, as a UUID
  const event = (name: string, withId = true) => ({
    project: "p",
    run: "r",
    level: "fit" as const,
    name,
    ...(withId ? { id } : {}),
  });

  it("counts the temporary name when the event id is known", () => {
    // path = 3,015 + "/p/r/" 5 + name; its temp name adds "." + "." + id + ".partial" = 46.
    expect(nameRulesOf({ name: "dir:d", options })).toMatchObject({ root, maxPathBytes: 4095 });
    expect(nameRulesOf({ name: "dir:d", options: { root: `${root}//` } }).root).toBe(root);
    expect(refusal(event(nameOf(1024 - 5)), options, "dir:d")).toBe(undefined);
    const long = { ...options, root: `${root}/${"e".repeat(60)}` }; // 3,076 bytes: name + 3,081 + 46 ≤ 4,095
    expect(refusal(event(nameOf(968)), long, "dir:d")).toBe(undefined);
    expect(refusal(event(nameOf(969)), long, "dir:d")).toMatch(
      /is refused by dir:d: path is 4,050 bytes \(name 969 \+ root "\/d{39}…" 3,076 \+ 5 from template "\{project\}\/\{run\}\/\{name\}"\), 4,096 with the temporary name written beside it; paths are at most 4,095 bytes$/,
    );
    // Without the id (a check before there is one) only the final path counts.
    expect(refusal(event(nameOf(969), false), long, "dir:d")).toBe(undefined);
  });

  it("refuses a segment the template makes past 255 bytes", () => {
    const o = { root: "/srv", pathTemplate: "{project}/{run}-{name}" };
    expect(refusal({ ...event(`${"s".repeat(250)}/a.pt`), run: "run12" }, o, "sftp:s")).toMatch(
      /is refused by sftp:s: segment "run12-s{34}…" is 256 bytes \(made by template "\{project\}\/\{run\}-\{name\}"\); file names there are at most 255 bytes$/,
    );
  });
});

describe("records", () => {
  const over = { project: "p", run: "r", level: "fit" as const, name: nameOf(1024) };

  it("an older record (no path rule) checks no path", () => {
    const rules = parseNameRules('{"allowDotSegments":false,"setPointer":"{dir}/latest"}');
    expect(rules).toEqual({ allowDotSegments: false, setPointer: "{dir}/latest" });
    expect(() => checkNameRules(over, [{ destination: "s3:old", rules }])).not.toThrow();
  });

  it("reads this version's record back whole, and ignores fields it does not know (a newer version's)", () => {
    const recorded = nameRulesOf({ name: "s3:main", options: { bucket: "b", prefix: "team-a" } });
    expect(parseNameRules(JSON.stringify(recorded))).toEqual(recorded);
    expect(parseNameRules(JSON.stringify({ ...recorded, somethingNew: { a: 1 } }))).toEqual(recorded);
    // A part missing or of another type: no path check rather than a wrong one.
    const { prefix: _, ...noBase } = recorded;
    expect(parseNameRules(JSON.stringify(noBase))).toEqual({ allowDotSegments: false, setPointer: "{dir}/latest" });
    expect(parseNameRules(JSON.stringify({ ...recorded, maxPathBytes: "1024" }))?.maxPathBytes).toBe(undefined);
  });

  it("W&B renders no path: no path rule", () => {
    expect(nameRulesOf({ name: "wandb:main", options: { entity: "e" } })).toEqual({
      allowDotSegments: true,
      setPointer: "{dir}/latest",
    });
  });
});
