/**
 * Bearer tokens: the gateway holds only their sha256 hashes (the tokens file that `artifact-bus
 * token create` writes), reloaded on SIGHUP. A presented token is hashed and compared with every
 * known hash in constant time, so neither its value nor its position in the file shows in the
 * time an answer takes.
 */
import { timingSafeEqual } from "node:crypto";
import { hashToken, type Logger, type Role, readTokenFile, type TokenRecord } from "@artifact-bus/shared";
import type { FastifyRequest } from "fastify";
import { Problem } from "./problems.ts";

/** Who called: the token's record. */
export type Caller = TokenRecord;

/** Roles a role brings along: whoever may publish to a project may also read it back. */
const IMPLIED: Record<Role, Role[]> = { publish: ["publish", "read"], read: ["read"], admin: ["admin", "read"] };

export class TokenStore {
  private readonly path: string;
  private readonly log: Logger;
  private records: { hash: Buffer; record: TokenRecord }[] = [];

  /** Loads the file now; throws TokenFileError (naming the line) when it cannot be read. */
  constructor(path: string, log: Logger) {
    this.path = path;
    this.log = log;
    this.load();
  }

  get size(): number {
    return this.records.length;
  }

  private load(): void {
    this.records = readTokenFile(this.path).map((record) => ({ hash: Buffer.from(record.sha256, "hex"), record }));
  }

  /** Reads the file again (SIGHUP); a bad file keeps the tokens loaded before, and says why. */
  reload(): void {
    try {
      this.load();
      this.log.info({ tokens: this.records.length, file: this.path }, "tokens reloaded");
    } catch (err) {
      this.log.error({ error: (err as Error).message }, "tokens file not reloaded; keeping the previous tokens");
    }
  }

  /** Whether `caller`'s token is still in the file with the same projects and roles (after a reload). */
  stillValid(caller: Caller): boolean {
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
    return this.records.some(
      ({ record }) =>
        record.sha256 === caller.sha256 && same(record.projects, caller.projects) && same(record.roles, caller.roles),
    );
  }

  /** The caller of a request; Problem `unauthorized` when no known token is presented. */
  authenticate(request: FastifyRequest): Caller {
    const header = request.headers.authorization;
    const m = typeof header === "string" ? /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i.exec(header) : null;
    if (!m) throw new Problem("unauthorized", "send Authorization: Bearer <token>", { field: "Authorization" });
    const presented = Buffer.from(hashToken(m[1] as string), "hex");
    let found: TokenRecord | undefined;
    // Every hash is compared, with no early exit.
    for (const { hash, record } of this.records) {
      if (timingSafeEqual(hash, presented) && !found) found = record;
    }
    if (!found) throw new Problem("unauthorized", "the bearer token is not known here", { field: "Authorization" });
    return found;
  }
}

/** Problem `forbidden` unless the caller has `role` (directly or implied). */
export function requireRole(caller: Caller, role: Role): void {
  if (!caller.roles.some((r) => IMPLIED[r].includes(role))) {
    throw new Problem("forbidden", `token ${caller.id} lacks the ${role} role (it has ${caller.roles.join(", ")})`, {
      field: "Authorization",
    });
  }
}

/** Whether the caller's projects include `project`. */
export function hasProject(caller: Caller, project: string): boolean {
  return caller.projects.includes("*") || caller.projects.includes(project);
}

/** Problem `forbidden` unless the caller's projects include `project`. */
export function requireProject(caller: Caller, project: string): void {
  if (!hasProject(caller, project)) {
    throw new Problem("forbidden", `token ${caller.id} is not for project ${project}`, { field: "project" });
  }
}

/** The authenticated caller of a route that needs a role (the onRequest hook in app.ts set it). */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new Problem("internal", "no authenticated caller on a route that needs a role");
  return request.caller;
}
