/**
 * `npm install` on a fresh machine: npm 11 warns about, and will block, every dependency install
 * script that package.json's `allowScripts` does not cover. The ones this project needs (the Node
 * 24 binary, ssh2's crypto binding) must be declared, or a newcomer's install is noisy at best and
 * runs on the wrong Node at worst.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");
const json = (file: string) => JSON.parse(readFileSync(resolve(ROOT, file), "utf8"));

describe("npm install", () => {
  it("declares in allowScripts every locked package that has an install script, and nothing else", () => {
    const lock = json("package-lock.json") as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages)
      .filter(([path, entry]) => entry.hasInstallScript && path.includes("node_modules/"))
      .map(([path]) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length));
    const allowed = json("package.json").allowScripts as Record<string, boolean>;
    expect(withScripts).toContain("node");
    expect(Object.keys(allowed).sort()).toEqual([...new Set(withScripts)].sort());
  });
});
