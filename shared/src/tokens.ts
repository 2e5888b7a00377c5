/**
 * The gateway's bearer tokens, as the operator's `artifact-bus token create` writes them and the
 * gateway reads them: a JSON Lines file with one record per token holding the token's sha256,
 * never the token itself, and what it may do (projects and roles). A stolen file lets nobody in.
 */
import { hash, randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { checkSubjectToken } from "./contract/names.ts";

/**
 * What a token may do. `read`: status, listings, waits and content of its projects. `publish`:
 * log artifacts into its projects, and read them. `admin`: destinations and dead letters (of
 * every project), replays. Roles add up; a token may have several.
 */
export const ROLES = ["publish", "read", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** One line of the tokens file. */
export interface TokenRecord {
  /** Lowercase hex sha256 of the token's UTF-8 bytes. */
  sha256: string;
  /** Projects the token may touch; `*` is every project. */
  projects: string[];
  roles: Role[];
  /** Short public id for logs and revocation: the first 12 hex digits of the hash. */
  id: string;
  createdAt: string;
  /** Free text saying whose token it is. */
  label?: string;
}

/** A bad tokens file, naming the line. */
export class TokenFileError extends Error {
  override name = "TokenFileError";
}

/** Token prefix: makes a leaked token easy to recognise (secret scanners, logs). */
export const TOKEN_PREFIX = "abt_";

/** sha256 of a token, as the file keeps it. */
export function hashToken(token: string): string {
  return hash("sha256", token, "hex");
}

/** A new random token (256 bits) and its record; the token is shown once and stored nowhere. */
export function newToken(o: { projects: string[]; roles: string[]; label?: string }): {
  token: string;
  record: TokenRecord;
} {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  const sha256 = hashToken(token);
  const record = checkRecord({
    sha256,
    projects: o.projects,
    roles: o.roles,
    id: sha256.slice(0, 12),
    createdAt: new Date().toISOString(),
    ...(o.label ? { label: o.label } : {}),
  });
  return { token, record };
}

/** Appends a record to the tokens file (created 0600 with its directory if missing). */
export function appendTokenRecord(path: string, record: TokenRecord): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(checkRecord(record))}\n`, { mode: 0o600 });
}

/** Reads the tokens file; a missing file has no tokens. Throws TokenFileError naming the line. */
export function readTokenFile(path: string): TokenRecord[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return text.split("\n").flatMap((line, i) => {
    if (line.trim() === "" || line.trimStart().startsWith("#")) return [];
    try {
      return [checkRecord(JSON.parse(line))];
    } catch (err) {
      throw new TokenFileError(`${path} line ${i + 1}: ${(err as Error).message}`);
    }
  });
}

function checkRecord(r: Partial<Omit<TokenRecord, "roles">> & { roles?: unknown }): TokenRecord {
  if (typeof r.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(r.sha256)) {
    throw new TokenFileError("sha256 must be 64 lowercase hex digits");
  }
  if (!Array.isArray(r.projects) || r.projects.length === 0) throw new TokenFileError("projects must not be empty");
  for (const p of r.projects) if (p !== "*") checkSubjectToken("project", p);
  if (!Array.isArray(r.roles) || r.roles.length === 0) throw new TokenFileError("roles must not be empty");
  for (const role of r.roles) {
    if (!ROLES.includes(role))
      throw new TokenFileError(`role ${JSON.stringify(role)} is not one of ${ROLES.join(", ")}`);
  }
  return {
    sha256: r.sha256,
    projects: [...new Set(r.projects)],
    roles: [...new Set(r.roles as Role[])],
    id: typeof r.id === "string" ? r.id : r.sha256.slice(0, 12),
    createdAt: typeof r.createdAt === "string" ? r.createdAt : "",
    ...(typeof r.label === "string" ? { label: r.label } : {}),
  };
}
