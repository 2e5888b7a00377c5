/**
 * Sums up V8 CPU profiles (`node --cpu-prof`, e.g. from LOAD_PROFILE_DIR of the load bench): per
 * profile, the self time by function and by source file (node_modules packages and node
 * internals grouped), and the inclusive time of the functions named on the command line.
 * `node bench/profile-summary.ts DIR [--top N] [--incl name,name]`
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: Frame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const dir = args[0];
if (!dir) throw new Error("usage: node bench/profile-summary.ts DIR [--top N] [--incl name,name]");
const top = args.includes("--top") ? Number(args[args.indexOf("--top") + 1]) : 25;
const inclNames = args.includes("--incl") ? args[args.indexOf("--incl") + 1]!.split(",") : [];

/** Where a frame's code lives: a package, a node internal, or a file of this repo. */
function fileOf(f: Frame): string {
  if (!f.url) return f.functionName.startsWith("(") ? f.functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (pkg) return pkg[1]!;
  if (f.url.startsWith("node:")) return f.url;
  return f.url.replace(/^file:\/\/.*?\/(shared|services|bench|test)\//, "$1/");
}

function summarize(path: string): void {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (const [i, id] of p.samples.entries()) self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self]
    .filter(([id]) => byId.get(id)?.callFrame.functionName === "(idle)")
    .reduce((a, [, t]) => a + t, 0);
  const add = (m: Map<string, number>, k: string, t: number) => m.set(k, (m.get(k) ?? 0) + t);
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame;
    add(fns, `${f.functionName || "(anonymous)"} ${fileOf(f)}:${f.lineNumber + 1}`, t);
    add(files, fileOf(f), t);
    // Inclusive: count each named function once per sample stack.
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const name = byId.get(n)!.callFrame.functionName;
      if (inclNames.includes(name) && !seen.has(name)) {
        seen.add(name);
        add(incl, name, t);
      }
    }
  }
  const s = (us: number) => `${(us / 1e6).toFixed(2)} s`;
  const pct = (us: number) => `${((100 * us) / Math.max(1, total - idle)).toFixed(1)}%`;
  console.log(`\n# ${path}\nwall ${s(p.endTime - p.startTime)}, busy ${s(total - idle)} (idle ${s(idle)})`);
  const list = (title: string, m: Map<string, number>, n: number) => {
    console.log(`## ${title}`);
    for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n))
      console.log(`${s(t).padStart(9)} ${pct(t).padStart(6)}  ${k}`);
  };
  list("self time by file or package", files, top);
  list("self time by function", fns, top);
  if (inclNames.length) list("inclusive", incl, inclNames.length);
}

for (const name of readdirSync(dir)
  .filter((f) => f.endsWith(".cpuprofile"))
  .sort())
  summarize(join(dir, name));
