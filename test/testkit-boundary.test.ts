/**
 * The test kit (`testkit/`, `@artifact-bus/testkit`: server launchers, the W&B API double,
 * fixtures, the destination contract suite) is for tests, `bench/` and the dev stack
 * (scripts/dev-stack.ts). Production code, the library under shared/src and each service's
 * src/, never imports it, neither by its package name nor by a relative path into testkit/, and
 * no production package depends on it: the images do not contain it (.dockerignore;
 * test/dockerfile.test.ts checks the built tree).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");
const KIT_DIR = join(ROOT, "testkit");
const KIT_NAME = "@artifact-bus/testkit";

/** The production source folders: shared/src and every services/<name>/src. */
function productionDirs(): string[] {
  const services = readdirSync(join(ROOT, "services"), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(ROOT, "services", e.name, "src"));
  return [join(ROOT, "shared/src"), ...services];
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

/** Every module specifier of a file: static imports and re-exports, `import "x"`, `import("x")`, `require("x")`. */
function specifiers(source: string): string[] {
  const patterns = [
    /\b(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["'`]([^"'`]+)["'`]/g,
    /\brequire\s*\(\s*["'`]([^"'`]+)["'`]/g,
  ];
  return patterns.flatMap((p) => [...source.matchAll(p)].map((m) => m[1] as string));
}

/** Whether `spec`, imported from `file`, names the kit: its package (or a subpath) or a path into testkit/. */
function importsKit(file: string, spec: string): boolean {
  if (spec === KIT_NAME || spec.startsWith(`${KIT_NAME}/`)) return true;
  if (!spec.startsWith(".") && !spec.startsWith("/")) return false;
  const target = resolve(dirname(file), spec);
  return target === KIT_DIR || target.startsWith(KIT_DIR + sep);
}

describe("the test kit's boundary", () => {
  it("recognises an import of the kit, by name or by path, and nothing else", () => {
    const file = join(ROOT, "services/s3-uploader/src/main.ts");
    const source = [
      'import { NatsServer } from "@artifact-bus/testkit";',
      'export { sha256 } from "../../../testkit/src/files.ts";',
      'const kit = await import("@artifact-bus/testkit");',
      'import "../../../testkit/src/mod.ts";',
      'import { loadConfig } from "@artifact-bus/shared";',
      'import { x } from "./testkit.ts";',
    ].join("\n");
    const found = specifiers(source).filter((s) => importsKit(file, s));
    expect(found.sort()).toEqual([
      "../../../testkit/src/files.ts",
      "../../../testkit/src/mod.ts",
      "@artifact-bus/testkit",
      "@artifact-bus/testkit",
    ]);
  });

  it("no .ts file under shared/src or services/*/src imports @artifact-bus/testkit or a path into testkit/", () => {
    const offenders = productionDirs()
      .flatMap(tsFiles)
      .flatMap((file) =>
        specifiers(readFileSync(file, "utf8"))
          .filter((spec) => importsKit(file, spec))
          .map((spec) => `${relative(ROOT, file)} imports ${spec}`),
      );
    expect(offenders, "production code must not import the test kit (move what it needs into shared)").toEqual([]);
  });

  it("no production package (shared, services/*) declares a dependency on the kit", () => {
    const manifests = [
      "shared/package.json",
      ...readdirSync(join(ROOT, "services")).map((s) => `services/${s}/package.json`),
    ];
    for (const manifest of manifests) {
      const pkg = JSON.parse(readFileSync(join(ROOT, manifest), "utf8"));
      const deps = { ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies };
      expect(Object.keys(deps), manifest).not.toContain(KIT_NAME);
      expect(JSON.stringify(pkg.exports ?? {}), `${manifest} exports`).not.toMatch(/testing|testkit/);
    }
  });
});
