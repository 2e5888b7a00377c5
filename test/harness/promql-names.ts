/**
 * The metric names a Grafana dashboard reads: from each PromQL expression of its panels, and from
 * its template variables' `label_values(metric, label)` queries. A small reader of the PromQL the
 * dashboard uses (selectors, functions, aggregations with `by`/`without`, ranges, numbers), not
 * a parser of all of PromQL.
 */

/** Words that are PromQL syntax, not metrics, where no parenthesis follows them. */
const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
]);

/** Names of the metrics `expr` selects. */
export function promqlMetricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values and strings
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // range and subquery windows, $__rate_interval
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " "); // label lists
  const names = new Set<string>();
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = bare[m.index - 1] ?? " ";
    const after = bare.slice(m.index + m[0].length).trimStart();
    if (/[0-9.$]/.test(before)) continue; // the exponent of a number, a Grafana variable
    if (after.startsWith("(") || KEYWORDS.has(m[0])) continue; // a function or an aggregation
    names.add(m[0]);
  }
  return [...names];
}

/** Every expression a dashboard JSON queries: panel targets (rows included) and template queries. */
export function dashboardQueries(dashboard: unknown): string[] {
  const out: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!node || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    if (typeof o.expr === "string") out.push(o.expr);
    for (const value of Object.values(o)) visit(value);
  };
  const d = dashboard as { panels?: unknown; templating?: { list?: { type?: string; query?: unknown }[] } };
  visit(d.panels);
  for (const v of d.templating?.list ?? []) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : (v.query as { query?: string } | undefined)?.query;
    const m = q && /^label_values\(\s*([^,)]+)/.exec(q);
    if (m?.[1]) out.push(m[1].trim());
  }
  return out;
}

/** Sample names in a Prometheus text exposition, e.g. `artifact_bus_publish_seconds_bucket`. */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (m?.[1]) names.add(m[1]);
  }
  return names;
}
