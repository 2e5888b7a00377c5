/**
 * Host key pinning: a server is trusted only if its key matches a pinned SHA256 fingerprint or a
 * known_hosts entry for `[host]:port` (or `host` on port 22). There is no trust on first use.
 */
import { createHash, createHmac } from "node:crypto";
import type { ServerHostKeyAlgorithm } from "ssh2";

/** `SHA256:<base64 without padding>` of a key blob, as OpenSSH prints it. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The algorithm name a key blob starts with (an SSH string), e.g. `ssh-ed25519`. */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "unknown";
  const len = keyBlob.readUInt32BE(0);
  return len > 0 && len < 64 && keyBlob.length >= 4 + len ? keyBlob.toString("latin1", 4, 4 + len) : "unknown";
}

/** One usable known_hosts line. */
export interface KnownHostEntry {
  line: number;
  patterns: string;
  type: string;
  key: Buffer;
  revoked: boolean;
}

/** Parses known_hosts text; comments, `@cert-authority` lines and malformed lines are skipped. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith("#")) return;
    let revoked = false;
    if (fields[0].startsWith("@")) {
      if (fields[0] !== "@revoked") return; // CA-signed host certificates are not supported
      revoked = true;
      fields.shift();
    }
    const [patterns, type, base64] = fields;
    if (!patterns || !type || !base64) return;
    entries.push({ line: i + 1, patterns, type, key: Buffer.from(base64, "base64"), revoked });
  });
  return entries;
}

/** The name known_hosts files use for a host: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replaceAll("*", ".*")
    .replaceAll("?", ".");
  return new RegExp(`^${re}$`, "i").test(name);
}

/** Whether an entry's host field names `name`: hashed `|1|salt|hash`, or patterns with `!` and globs. */
export function patternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith("|1|")) {
    const [, , salt, hash] = patterns.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  let matched = false;
  for (const p of patterns.split(",")) {
    if (p.startsWith("!")) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** Where the trusted key comes from. */
export type HostKeyTrust =
  | { kind: "fingerprint"; fingerprint: string }
  | { kind: "knownHosts"; file: string; text: string }
  | { kind: "any" };

export interface HostKeyVerdict {
  ok: boolean;
  /** Fingerprint of the key the server presented. */
  seen: string;
  /** Why the key was refused, naming the seen fingerprint and what was expected; never secret. */
  reason?: string;
}

/**
 * Judges the key a server presents for `host:port`. Messages name the fingerprint seen and the
 * pin or file it was checked against, so an operator can tell a rotated key from an attack.
 */
export function verifyHostKey(trust: HostKeyTrust, host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const seen = sha256Fingerprint(keyBlob);
  const type = keyType(keyBlob);
  const who = knownHostsName(host, port);
  if (trust.kind === "any") return { ok: true, seen };
  if (trust.kind === "fingerprint") {
    if (seen === trust.fingerprint) return { ok: true, seen };
    return {
      ok: false,
      seen,
      reason: `host key of ${who} is ${type} ${seen}, but option hostKeyFingerprint pins ${trust.fingerprint}`,
    };
  }
  const entries = parseKnownHosts(trust.text).filter((e) => patternsMatch(e.patterns, who));
  const revoked = entries.find((e) => e.revoked && e.key.equals(keyBlob));
  if (revoked) {
    return {
      ok: false,
      seen,
      reason: `host key ${seen} of ${who} is marked @revoked in ${trust.file}:${revoked.line}`,
    };
  }
  const known = entries.filter((e) => !e.revoked);
  if (known.some((e) => e.key.equals(keyBlob))) return { ok: true, seen };
  if (known.length === 0) {
    return {
      ok: false,
      seen,
      reason: `host ${who} presented ${type} ${seen}, and ${trust.file} has no entry for ${who} (add one, e.g. with ssh-keyscan, after checking the fingerprint)`,
    };
  }
  const listed = known.map((e) => `${e.type} ${sha256Fingerprint(e.key)} (line ${e.line})`).join(", ");
  return {
    ok: false,
    seen,
    reason: `HOST KEY CHANGED for ${who}: server presented ${type} ${seen}, but ${trust.file} expects ${listed}; the key was rotated or someone is intercepting the connection`,
  };
}

// What ssh2 can verify; naming anything else in its algorithm list makes it throw.
const SUPPORTED_HOST_KEY_ALGORITHMS = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
]);

/**
 * Host key algorithms worth negotiating: the types known_hosts lists for the host, so a server
 * with several keys presents the one we can check (as OpenSSH does). Undefined: no preference.
 */
export function preferredHostKeyAlgorithms(
  trust: HostKeyTrust,
  host: string,
  port: number,
): ServerHostKeyAlgorithm[] | undefined {
  if (trust.kind !== "knownHosts") return undefined;
  const who = knownHostsName(host, port);
  const types = new Set(
    parseKnownHosts(trust.text)
      .filter((e) => !e.revoked && patternsMatch(e.patterns, who))
      .map((e) => e.type),
  );
  const algorithms = [...types]
    .flatMap((t) => (t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [t]))
    .filter((a): a is ServerHostKeyAlgorithm => SUPPORTED_HOST_KEY_ALGORITHMS.has(a));
  return algorithms.length ? algorithms : undefined;
}
