/** The checkpoint-set rules producers and uploaders share: membership at admission, a set's state, its manifest. */
import { describe, expect, it } from "vitest";
import {
  checkPointerTemplate,
  countEvent,
  DEFAULT_POINTER_TEMPLATE,
  defaultPointerName,
  isFileSet,
  isPointerName,
  isResave,
  pointerName,
  pointerNames,
  type SetRecord,
  setManifest,
  setState,
} from "../src/contract/checkpoint-set.ts";
import { hasDotSegment, nameRuleBroken } from "../src/contract/name-rules.ts";
import { InvalidArtifactError } from "../src/contract/names.ts";
import { decodeEvent } from "../src/contract/validate.ts";

const sampleEvent = (overrides: Record<string, unknown>) => ({
  schema: 1,
  id: "0f4d6a2e-1b2c-4d5e-8f90-123456789abc",
  project: "llm",
  run: "run-7",
  name: "checkpoints/ep1-ba100-rank0.pt",
  level: "batch",
  blob: { store: "fs", ref: "llm/run-7/x", size: 10, sha256: "a".repeat(64) },
  contentType: "application/octet-stream",
  metadata: {},
  producer: { host: "node-3", pid: 42, rank: 0 },
  createdAt: "2026-11-28T08:00:00.000Z",
  ...overrides,
});
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const decode = (overrides: Record<string, unknown>) => decodeEvent(bytes(sampleEvent(overrides)));

describe("set membership at admission", () => {
  it("accepts a member under its set's name, and an event without a set as before", () => {
    expect(decode({ name: "ck/ep1/rank0.pt", set: { name: "ck/ep1", members: 2 } }).set).toEqual({
      name: "ck/ep1",
      members: 2,
    });
    expect(decode({ name: "ck/ep1/rank0.pt" }).set).toBeUndefined();
  });

  it.each([
    [{ name: "ck/ep2/rank0.pt", set: { name: "ck/ep1" } }, /name: .* must lie under its set's name "ck\/ep1"/],
    [{ name: "ck/ep10/rank0.pt", set: { name: "ck/ep1" } }, /must lie under its set's name/],
    [{ name: "ck/ep1/_set-manifest.json", set: { name: "ck/ep1" } }, /are a checkpoint set.s own/],
    [{ name: "ck/ep1/x", set: { name: "../ck" } }, /^set\.name: .*'\.\.'/],
    [{ name: "ck/ep1/x", set: { name: "ck/ep1", members: 0 } }, /set\.members/],
    [
      { name: "ck/ep1/x", set: { name: "ck/ep1", close: true, members: 2 } },
      /must be named "ck\/ep1\/_set-close.json"/,
    ],
    [{ name: "ck/ep1/_set-close.json", set: { name: "ck/ep1", close: true } }, /set\.members: closing set/],
    [{ name: "ck/ep1.pt", set: { name: "ck/ep1.pt" } }, /named as its set: only a set of one file/],
    [{ name: "ck/ep1.pt", set: { name: "ck/ep1.pt", members: 2 } }, /named as its set: only a set of one file/],
    // Without a set, a set's own names too: a plain "manifest" would replace a complete set's.
    [{ name: "ck/ep1/_set-manifest.json" }, /name: .*"_set-" are a checkpoint set's own/],
    [{ name: "ck/ep1/_set-close.json" }, /are a checkpoint set's own/],
    [{ name: "_set-x" }, /are a checkpoint set's own/],
    // Deeper in a set, where it would be another set's (ck/ep1/sub's) manifest.
    [{ name: "ck/ep1/sub/_set-manifest.json", set: { name: "ck/ep1" } }, /are a checkpoint set's own/],
  ])("refuses %j, naming the rule", (overrides, message) => {
    expect(() => decode(overrides)).toThrow(InvalidArtifactError);
    expect(() => decode(overrides)).toThrow(message);
  });

  it("accepts a set of one file named as the file, which says members: 1", () => {
    const e = decode({ name: "ck/ep1-ba100-rank0.pt", set: { name: "ck/ep1-ba100-rank0.pt", members: 1 } });
    expect(e.set).toEqual({ name: "ck/ep1-ba100-rank0.pt", members: 1 });
  });

  it("accepts the close of a set, which names the count", () => {
    const e = decode({ name: "ck/ep1/_set-close.json", set: { name: "ck/ep1", close: true, members: 8 } });
    expect(e.set).toMatchObject({ close: true, members: 8 });
  });
});

describe("a set's state", () => {
  const member = (name: string, seq: number) => ({
    name,
    size: 1,
    sha256: "b".repeat(64),
    eventId: `id-${name}`,
    seq,
    producer: { host: "h", pid: 1 },
  });
  const empty: SetRecord = {
    destination: "s3:main",
    project: "p",
    run: "r",
    set: "ck/ep1",
    members: {},
    dead: {},
    place: 0,
    updatedAt: "",
  };

  it("is open until the count is known and every member landed, then complete; its place is the highest sequence", () => {
    let r = countEvent({ ...empty, members: { "ck/ep1/a": member("ck/ep1/a", 7) } }, { name: "ck/ep1" }, 7);
    expect(setState(r)).toBe("open");
    r = countEvent(
      { ...r, members: { ...r.members, "ck/ep1/b": member("ck/ep1/b", 5) } },
      { name: "ck/ep1", members: 2 },
      5,
    );
    expect(setState(r)).toBe("complete");
    expect(r.place).toBe(7);
  });

  it("fails on a dead member, on events disagreeing on the count, and on more members than the count", () => {
    expect(setState({ ...empty, dead: { x: { name: "x", eventId: "i", seq: 1, reason: "gone" } } })).toBe("failed");
    const two = countEvent(empty, { name: "ck/ep1", members: 2 }, 1);
    expect(countEvent(two, { name: "ck/ep1", members: 3 }, 2).conflict).toMatch(/disagree/);
    const three = { ...two, members: { a: member("a", 1), b: member("b", 2), c: member("c", 3) } };
    expect(setState(countEvent(three, { name: "ck/ep1" }, 3))).toBe("failed");
  });

  it("is a set of one file when its one member is named as the set", () => {
    const one = { ...empty, set: "ck/ep1.pt", members: { "ck/ep1.pt": member("ck/ep1.pt", 2) } };
    expect(isFileSet(one)).toBe(true);
    expect(setState(countEvent(one, { name: "ck/ep1.pt", members: 1 }, 2))).toBe("complete");
    expect(isFileSet({ ...empty, members: { "ck/ep1/a": member("ck/ep1/a", 1) } })).toBe(false);
  });

  it("takes a newer version of a set of one file's file as a newer version of the set, of a sharded set's member never", () => {
    const one = { ...empty, set: "ck/ep1.pt", members: { "ck/ep1.pt": member("ck/ep1.pt", 2) } };
    expect(isResave(one, "ck/ep1.pt")).toBe(true);
    expect(isResave({ ...empty, set: "ck/ep1", members: { "ck/ep1/a": member("ck/ep1/a", 1) } }, "ck/ep1/a")).toBe(
      false,
    );
  });

  it("has a manifest that lists members by name, the same bytes whichever replica writes it", () => {
    const r = { ...empty, expected: 2, place: 9, members: { b: member("b", 9), a: member("a", 3) } };
    const m = setManifest(r);
    expect(m.members.map((x) => x.name)).toEqual(["a", "b"]);
    expect(JSON.stringify(setManifest({ ...r, members: { a: member("a", 3), b: member("b", 9) } }))).toBe(
      JSON.stringify(m),
    );
  });

  it("points at it from `latest` in the set's parent directory, or where a destination's setPointer says", () => {
    expect(defaultPointerName("checkpoints/ep3-ba3000")).toBe("checkpoints/latest");
    expect(defaultPointerName("ep3")).toBe("latest");
    expect(pointerName("checkpoints/ep3", "pointers/{dir}/{base}.latest")).toBe("pointers/checkpoints/ep3.latest");
    expect(pointerName("ep3", "{dir}/LATEST-{base}")).toBe("LATEST-ep3");
  });

  it("moves one pointer per rank that logged a member with {rank} (Composer's latest-rank{rank}.pt.symlink)", () => {
    const template = "{dir}/latest-rank{rank}.pt.symlink";
    expect(() => checkPointerTemplate(template)).not.toThrow();
    const ranked = (name: string, rank?: number) => ({
      ...member(name, 1),
      producer: { host: "h", pid: 1, ...(rank === undefined ? {} : { rank }) },
    });
    const members = {
      "ck/ep1/__1_0.distcp": ranked("ck/ep1/__1_0.distcp", 1),
      "ck/ep1/__0_0.distcp": ranked("ck/ep1/__0_0.distcp", 0),
      "ck/ep1/.metadata": ranked("ck/ep1/.metadata", 0),
    };
    expect(pointerNames({ set: "ck/ep1", members }, template)).toEqual([
      "ck/latest-rank0.pt.symlink",
      "ck/latest-rank1.pt.symlink",
    ]);
    // A producer without a rank is rank 0; without {rank}, one pointer whatever the ranks.
    expect(pointerNames({ set: "ck/ep1", members: { "ck/ep1/a": ranked("ck/ep1/a") } }, template)).toEqual([
      "ck/latest-rank0.pt.symlink",
    ]);
    expect(pointerNames({ set: "ck/ep1", members }, "{dir}/latest")).toEqual(["ck/latest"]);
  });

  it("reserves every name a pointer may be written under, and only those", () => {
    const reserved = (name: string, template = DEFAULT_POINTER_TEMPLATE) => isPointerName(name, template);
    for (const name of ["latest", "ck/latest", "a/b/c/latest"]) expect(reserved(name), name).toBe(true);
    for (const name of ["latest.pt", "ck/latest/x.pt", "ck/mylatest", "ck/latest-rank0.pt"]) {
      expect(reserved(name), name).toBe(false);
    }
    const custom = "pointers/{dir}/{base}.latest";
    expect(reserved(pointerName("checkpoints/ep3", custom), custom)).toBe(true);
    expect(reserved(pointerName("ep3", custom), custom)).toBe(true);
    expect(reserved("pointers/ep3.latest.txt", custom)).toBe(false);
    expect(reserved("checkpoints/ep3.latest", custom)).toBe(false);
    // Characters of the template are literal, not a pattern.
    expect(reserved("ckXlatest", "{dir}.latest")).toBe(false);
    expect(reserved("ck.latest", "{dir}.latest")).toBe(true);
    // Composer's per-rank symlinks: every rank's name is reserved.
    const composer = "{dir}/latest-rank{rank}.pt.symlink";
    expect(reserved("ck/latest-rank3.pt.symlink", composer)).toBe(true);
    expect(reserved("latest-rank0.pt.symlink", composer)).toBe(true);
    expect(reserved("ck/latest-rankX.pt.symlink", composer)).toBe(false);
  });

  it.each([
    ["{dir}/{ranks}", /unknown placeholder \{ranks\}/],
    ["{set}/latest", /inside the set/],
    ["../latest", /'\.\.'/],
    ["/latest", /relative/],
  ])("refuses the setPointer %j, saying why", (template, message) => {
    expect(() => checkPointerTemplate(template)).toThrow(message);
  });
});

describe("hidden names in a set", () => {
  const strict = { allowDotSegments: false };
  const set = { name: "ck/ep3-ba3000" };

  it("lets Composer's `.metadata` land right under its set where hidden names are refused", () => {
    expect(hasDotSegment("ck/ep3-ba3000/.metadata", set)).toBe(false);
    expect(nameRuleBroken("ck/ep3-ba3000/.metadata", strict, set)).toBeUndefined();
  });

  it.each([
    ["ck/ep3-ba3000/.metadata", undefined, "no set"],
    ["ck/ep3-ba3000/.env", set, "another hidden name"],
    ["ck/ep3-ba3000/sub/.metadata", set, "not right under the set"],
    ["ck/ep3-ba3000/.ssh/authorized_keys", set, "a hidden directory"],
    [".ck/.metadata", { name: ".ck" }, "a hidden set"],
    ["ck/ep3-ba3000/.metadata", { ...set, close: true as const }, "the set's close, no member"],
  ])("still refuses %s (set %j: %s), naming the option", (name, ref, _why) => {
    expect(nameRuleBroken(name, strict, ref)).toMatch(/allowDotSegments/);
  });
});
