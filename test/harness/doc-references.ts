/**
 * What a markdown document refers to, for the doc test: the `artifact-bus` command lines it shows
 * (in code blocks and code spans, including `npm run artifact-bus -- …` and `docker compose run`
 * of a service whose entrypoint is the CLI) and its relative links, with GitHub's heading anchors.
 */

/** One command line as a reader would type it: the words after `artifact-bus`. */
export interface CommandLine {
  line: number;
  text: string;
  words: string[];
}

export interface Link {
  line: number;
  target: string;
}

/** Code of a document: fenced blocks (with `\` continuations joined) and inline code spans. */
function codeOf(markdown: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fence: string | undefined;
  let pending: { line: number; text: string } | undefined;
  // Prose between fences, kept whole: a code span may go on over a line break.
  let prose: { line: number; text: string } | undefined;
  const endProse = () => {
    if (!prose) return;
    for (const m of prose.text.matchAll(/(`+)([\s\S]+?)\1/g)) {
      const line = prose.line + prose.text.slice(0, m.index).split("\n").length - 1;
      out.push({ line, text: m[2]!.replace(/\n/g, " ") });
    }
    prose = undefined;
  };
  markdown.split("\n").forEach((raw, i) => {
    const marker = /^\s*(```+|~~~+)/.exec(raw)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      endProse();
      fence = fence === undefined ? marker : undefined;
      return;
    }
    if (fence === undefined) {
      prose = prose ? { line: prose.line, text: `${prose.text}\n${raw}` } : { line: i + 1, text: raw };
      return;
    }
    const text = pending ? `${pending.text} ${raw.trim()}` : raw;
    const start = pending?.line ?? i + 1;
    if (text.endsWith("\\")) pending = { line: start, text: text.slice(0, -1) };
    else {
      pending = undefined;
      out.push({ line: start, text });
    }
  });
  endProse();
  return out;
}

/** Where a shell line stops being the command: a comment, a pipe, a list or a `$(…)` closing. */
function commandWords(rest: string): string[] {
  const words: string[] = [];
  for (const w of rest.trim().split(/\s+/)) {
    if (w === "" || w.startsWith("#") || ["|", "||", "&&", ";", "&"].includes(w)) break;
    words.push(w.replace(/\)+$/, ""));
    if (w.endsWith(")")) break;
  }
  return words;
}

/**
 * The `artifact-bus` command lines a document shows. `cliServices` are docker compose services
 * whose entrypoint is the CLI, so `docker compose run --rm trainer put …` counts as `put …`.
 */
export function commandLines(markdown: string, cliServices: string[] = []): CommandLine[] {
  const found: CommandLine[] = [];
  const viaCompose = cliServices.length
    ? new RegExp(`docker compose run (?:-\\S+ )*(?:${cliServices.join("|")})\\s+(.*)$`)
    : undefined;
  for (const { line, text } of codeOf(markdown)) {
    // Not a package (`@artifact-bus/shared`), an image (`artifact-bus/gateway`) or a name (`"artifact-bus"`).
    for (const m of text.matchAll(/(?<![\w@/."-])artifact-bus(?: --)?(?=\s)(.*)$/g)) {
      found.push({ line, text, words: commandWords(m[1]!) });
    }
    const compose = viaCompose?.exec(text);
    if (compose) found.push({ line, text, words: commandWords(compose[1]!) });
  }
  return found.filter((c) => c.words.length > 0 && /^[a-z]/.test(c.words[0]!));
}

/** Flags of a command line's words: `--wait`, `[--seq`, `--meta=k=v` and `-q` give their names. */
export function flagsOf(words: string[]): string[] {
  return words.flatMap((w) => /^\[?(--?[A-Za-z][\w-]*)/.exec(w)?.[1] ?? []);
}

/** Relative links (`[text](target)`) outside code; absolute URLs are not ours to check. */
export function relativeLinks(markdown: string): Link[] {
  const links: Link[] = [];
  let inFence = false;
  markdown.split("\n").forEach((raw, i) => {
    if (/^\s*(```|~~~)/.test(raw)) inFence = !inFence;
    if (inFence) return;
    const prose = raw.replace(/`[^`]*`/g, "");
    for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^[a-z][a-z0-9+.-]*:/i.test(m[1]!)) links.push({ line: i + 1, target: m[1]! });
    }
  });
  return links;
}

/** GitHub's anchors of a document's headings (`## 4. Publishing` is `#4-publishing`). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let inFence = false;
  for (const raw of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(raw)) inFence = !inFence;
    const heading = inFence ? undefined : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(raw)?.[1];
    if (heading === undefined) continue;
    const slug = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    let unique = slug;
    for (let n = 1; anchors.has(unique); n++) unique = `${slug}-${n}`;
    anchors.add(unique);
  }
  return anchors;
}
