/**
 * nats-server config text from users and their permissions: one account with JetStream enabled.
 * Every name and subject is checked before it is written, so no input can break out of its
 * string or comment and change the config's meaning.
 */
import type { NatsUser } from "./grants.ts";

/** Input of {@link renderServerConfig}. */
export interface ServerConfigOptions {
  users: NatsUser[];
  /** Account holding the users, JetStream enabled; default `ARTIFACT_BUS`. */
  account?: string;
  /** Comment lines put first (without `#`). */
  header?: string[];
}

/** nats-server config text: one account with JetStream enabled holding `users`. */
export function renderServerConfig({ users, account = "ARTIFACT_BUS", header = [] }: ServerConfigOptions): string {
  check("account", account, /^[A-Za-z][A-Za-z0-9_-]*$/);
  const names = new Set<string>();
  const out = header.map((line) => `#${line === "" ? "" : ` ${oneLine(line)}`}`);
  if (out.length > 0) out.push("");
  out.push("accounts: {", `  ${account}: {`, "    jetstream: enabled", "    users: [");
  for (const u of users) {
    check("user", u.user, /^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
    if (names.has(u.user)) throw new Error(`user ${u.user} appears twice`);
    names.add(u.user);
    out.push(`      # ${oneLine(u.role)}`, "      {", `        user: ${quote(u.user)}`);
    out.push(`        password: ${renderPassword(u.password)}`, "        permissions: {");
    for (const kind of ["publish", "subscribe"] as const) {
      // nats-server reads an empty allow list as "no restriction", the opposite of the intent.
      if (u.permissions[kind].length === 0) throw new Error(`user ${u.user}: empty ${kind} allow list`);
      out.push(`          ${kind}: {`, "            allow: [");
      for (const g of u.permissions[kind])
        out.push(`              # ${oneLine(g.why)}`, `              ${quote(g.subject)}`);
      out.push("            ]", "          }");
    }
    out.push("        }", "      }");
  }
  out.push("    ]", "  }", "}");
  return `${out.join("\n")}\n`;
}

function renderPassword(p: NatsUser["password"]): string {
  if ("env" in p) return `$${check("password env", p.env, /^[A-Za-z_][A-Za-z0-9_]*$/)}`;
  return quote(check("password", p.value, /^[\x21\x23-\x5b\x5d-\x7e]+$/));
}

function quote(s: string): string {
  // Quoted, so `$JS.API...` is a subject and not a variable reference; no escapes needed.
  return `"${check("string", s, /^[^"\\\s]+$/)}"`;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, " ");
}

function check(what: string, value: string, pattern: RegExp): string {
  if (!pattern.test(value)) throw new Error(`${what} ${JSON.stringify(value)} must match ${pattern}`);
  return value;
}
