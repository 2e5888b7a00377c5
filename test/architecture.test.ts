/**
 * The library's floor plan (shared/src), as a test, so a newcomer can trust the folders: each
 * folder stands on a floor, and a file may import its own floor or lower, never higher; and no
 * two files import each other, even through others. A new folder fails here until it is given a
 * floor, which is where its place in the house gets decided.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../shared/src");

/**
 * Bottom up. A folder is named with a trailing slash, a file at the root of shared/src by its
 * name. Lower floors know nothing of higher ones: the contract is spoken by publisher and
 * uploader alike, so it may not lean on either; the uploader's process shell and the CLI sit on
 * top of everything they wire together.
 */
const FLOORS: readonly (readonly string[])[] = [
  ["contract/", "log.ts", "tokens.ts"],
  ["config/"],
  ["nats/", "blob/"],
  ["ledger/", "destination/"],
  ["publisher/", "status/", "dead-letters/"],
  ["delivery/"],
  ["service/"],
  ["cli/"],
  ["mod.ts"],
];

/** A file's place: the first folder of its path under shared/src, or its own name at the root. */
function placeOf(file: string): string {
  const [first, ...rest] = file.split("/");
  return rest.length > 0 ? `${first}/` : (first as string);
}

/** The floor (1 = bottom) a file stands on, or undefined when its folder has none. */
function floorOf(file: string): number | undefined {
  const i = FLOORS.findIndex((floor) => floor.includes(placeOf(file)));
  return i < 0 ? undefined : i + 1;
}

/** Relative module specifiers of a source: imports and re-exports, `import "x"`, `import("x")`. */
function relativeSpecifiers(source: string): string[] {
  const patterns = [
    /\b(?:import|export)\b[^"'`;]*?\bfrom\s*["'](\.[^"']+)["']/g,
    /\bimport\s*["'](\.[^"']+)["']/g,
    /\bimport\s*\(\s*["'`](\.[^"'`]+)["'`]/g,
  ];
  return patterns.flatMap((p) => [...source.matchAll(p)].map((m) => m[1] as string));
}

/** File (relative to shared/src) -> the files of shared/src it imports. */
type Graph = Map<string, string[]>;

function libraryGraph(): Graph {
  const files = readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(SRC, join(e.parentPath, e.name)).split("\\").join("/"))
    .sort();
  const graph: Graph = new Map();
  for (const file of files) {
    const source = readFileSync(join(SRC, file), "utf8");
    const targets = relativeSpecifiers(source).map((spec) =>
      relative(SRC, resolve(SRC, dirname(file), spec))
        .split("\\")
        .join("/"),
    );
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Every import cycle, each as the files around it (first file repeated at the end). */
function cyclesOf(graph: Graph): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (file: string): void => {
    if (onPath.has(file)) {
      cycles.push([...path.slice(path.indexOf(file)), file]);
      return;
    }
    if (done.has(file)) return;
    path.push(file);
    onPath.add(file);
    for (const target of graph.get(file) ?? []) visit(target);
    onPath.delete(file);
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  return cycles;
}

/** Imports from a lower floor up to a higher one, as "from (floor) -> to (floor)". */
function upwardImports(graph: Graph): string[] {
  const found: string[] = [];
  for (const [file, targets] of graph) {
    const from = floorOf(file);
    for (const target of targets) {
      const to = floorOf(target);
      if (from !== undefined && to !== undefined && to > from) found.push(`${file} (${from}) -> ${target} (${to})`);
    }
  }
  return found;
}

describe("the library's floor plan (shared/src)", () => {
  const graph = libraryGraph();

  it("finds a cycle and an upward import when there is one", () => {
    const bad: Graph = new Map([
      ["contract/a.ts", ["delivery/b.ts"]],
      ["delivery/b.ts", ["delivery/c.ts"]],
      ["delivery/c.ts", ["contract/a.ts"]],
    ]);
    expect(cyclesOf(bad)).toEqual([["contract/a.ts", "delivery/b.ts", "delivery/c.ts", "contract/a.ts"]]);
    expect(upwardImports(bad)).toEqual(["contract/a.ts (1) -> delivery/b.ts (6)"]);
  });

  it("reads the imports of every file", () => {
    expect(graph.get("mod.ts")?.length).toBeGreaterThan(10);
    for (const [file, targets] of graph) {
      for (const target of targets) expect(graph.has(target), `${file} imports ${target}, not a file`).toBe(true);
    }
  });

  it("places every file on a floor (a new folder must be given one)", () => {
    const unplaced = [...graph.keys()].filter((file) => floorOf(file) === undefined);
    expect(unplaced).toEqual([]);
  });

  it("has no import cycle", () => {
    expect(cyclesOf(graph).map((cycle) => cycle.join(" -> "))).toEqual([]);
  });

  it("never imports from a lower floor up to a higher one", () => {
    expect(upwardImports(graph)).toEqual([]);
  });
});
