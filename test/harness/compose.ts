/**
 * docker-compose.yml as compose reads it, for the tests that hold it to the code: anchors and
 * merge keys resolved, `${VAR:-default}` interpolated with the defaults (the values a laptop
 * without a `.env` file gets), and bind mounts mapped back to files of this repository.
 */
import { readFileSync } from "node:fs";
import { posix, resolve } from "node:path";
import { parse } from "yaml";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");

export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; args?: Record<string, string> };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  volumes?: (string | { type: string; source?: string; target: string })[];
  ports?: (string | number | { published?: string | number; host_ip?: string })[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }> | string[];
  profiles?: string[];
  restart?: string;
  user?: string;
}

export interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Compose's interpolation with no variables set: `${X:-d}` and `${X-d}` give d, `$$` is `$`. */
export function interpolateDefaults(text: string): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (m, _name, def: string | undefined) =>
    m === "$$" ? "$" : (def ?? ""),
  );
}

/** Parses the repository's docker-compose.yml; values are interpolated, the raw text is kept. */
export function loadCompose(file = resolve(REPO_ROOT, "docker-compose.yml")): { compose: Compose; raw: Compose } {
  const text = readFileSync(file, "utf8");
  const raw = parse(text, { merge: true }) as Compose;
  const compose = parse(interpolateDefaults(text), { merge: true }) as Compose;
  return { compose, raw };
}

/** The service's environment as strings (compose passes numbers and booleans as text). */
export function environmentOf(service: ComposeService): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([k, v]) => [k, v === null ? "" : String(v)]),
  );
}

export interface Mount {
  /** A named volume, or undefined for a bind mount. */
  volume?: string;
  /** A bind mount's host path, absolute. */
  hostPath?: string;
  target: string;
  readOnly: boolean;
}

/** The service's mounts, short and long syntax. */
export function mountsOf(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== "string") {
      const bind = v.type === "bind";
      return {
        ...(bind ? { hostPath: resolve(REPO_ROOT, v.source ?? "") } : { volume: v.source }),
        target: v.target,
        readOnly: Boolean((v as { read_only?: boolean }).read_only),
      };
    }
    const [source = "", target = "", mode = ""] = v.split(":");
    const bind = source.startsWith(".") || source.startsWith("/");
    return {
      ...(bind ? { hostPath: resolve(REPO_ROOT, source) } : { volume: source }),
      target,
      readOnly: mode.split(",").includes("ro"),
    };
  });
}

/** Where a path inside the container comes from: a bind-mounted repository file, or a volume. */
export function resolveInContainer(service: ComposeService, path: string): Mount & { relative: string } {
  const mount = mountsOf(service)
    .filter((m) => path === m.target || path.startsWith(`${m.target.replace(/\/$/, "")}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
  if (!mount) throw new Error(`${path} is not on any mount of the service`);
  const relative = posix.relative(mount.target, path);
  return { ...mount, relative, ...(mount.hostPath ? { hostPath: resolve(mount.hostPath, relative) } : {}) };
}

/** A service that runs until stopped: not a one-shot (`restart: "no"`) and not a tool profile. */
export function isLongRunning(service: ComposeService): boolean {
  return service.restart !== "no" && !(service.profiles?.length ?? 0);
}

/** The `SERVICE` build argument of a service built from the root Dockerfile, if it is one. */
export function builtService(service: ComposeService): string | undefined {
  if (typeof service.build !== "object") return undefined;
  if ((service.build.dockerfile ?? "Dockerfile") !== "Dockerfile" || (service.build.context ?? ".") !== ".") {
    return undefined;
  }
  return service.build.args?.SERVICE;
}
