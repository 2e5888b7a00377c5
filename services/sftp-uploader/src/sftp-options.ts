/**
 * Options of an SFTP destination (the `options` object of its config entry) and its secrets.
 * Secrets never sit in options: the key passphrase and the password come from the environment
 * (or the caller), the private key from a file named by `privateKeyPath`.
 */
import {
  ConfigError,
  checkPathTemplate,
  DEFAULT_PATH_TEMPLATE,
  normalizeRoot,
  SHARED_NAMESPACE_OPTION,
} from "@artifact-bus/shared";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/** `SHA256:` and 43 base64 characters without padding, as `ssh-keygen -lf` prints. */
export const FINGERPRINT_PATTERN = "^SHA256:[A-Za-z0-9+/]{43}$";

export const SftpOptionsSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, description: "SFTP server host name or address" }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 22 }),
    username: Type.String({ minLength: 1 }),
    root: Type.String({ pattern: "^/", description: "absolute remote directory every upload goes under" }),
    pathTemplate: Type.String({ default: DEFAULT_PATH_TEMPLATE, description: "remote path below root" }),
    sharedNamespace: SHARED_NAMESPACE_OPTION,
    allowDotSegments: Type.Boolean({
      default: false,
      description: "accept names with a segment starting with '.' (off: no .ssh/authorized_keys under a home)",
    }),
    knownHostsFile: Type.Optional(Type.String({ minLength: 1, description: "OpenSSH known_hosts file" })),
    hostKeyFingerprint: Type.Optional(
      Type.String({ pattern: FINGERPRINT_PATTERN, description: "pinned host key, SHA256:... as ssh-keygen -lf" }),
    ),
    insecureAcceptAnyHostKey: Type.Boolean({ default: false, description: "local development only" }),
    privateKeyPath: Type.Optional(Type.String({ minLength: 1, description: "OpenSSH or PEM private key file" })),
    transport: Type.Union([Type.Literal("auto"), Type.Literal("openssh"), Type.Literal("ssh2")], {
      default: "auto",
      description:
        'how bytes move: "openssh" (the ssh client as a child process), "ssh2" (in process), "auto" (openssh when ssh is on PATH and the key needs no passphrase)',
    }),
    maxChannels: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 4,
      description: "concurrent sftp channels on the one connection; OpenSSH allows 10 (MaxSessions)",
    }),
    connectTimeoutMs: Type.Integer({ minimum: 1, default: 20_000 }),
    keepaliveIntervalMs: Type.Integer({ minimum: 0, default: 15_000, description: "0 turns keepalives off" }),
    keepaliveCountMax: Type.Integer({ minimum: 1, default: 3 }),
    stallTimeoutMs: Type.Integer({
      minimum: 1,
      default: 120_000,
      description: "an upload with no progress for this long fails as transient",
    }),
    staleTempMaxAgeMs: Type.Integer({
      minimum: 0,
      default: 3_600_000,
      description: "leftover temp files of the same artifact older than this are removed",
    }),
    verifyByReadback: Type.Boolean({ default: false, description: "re-read and hash each upload" }),
  },
  { additionalProperties: false },
);

export type SftpOptions = Static<typeof SftpOptionsSchema>;

/** Credentials kept out of options and logs. */
export interface SftpSecrets {
  /** Passphrase of the private key. */
  passphrase?: string | undefined;
  password?: string | undefined;
  /** Key material; overrides `privateKeyPath` (tests, or a secret mounted elsewhere). */
  privateKey?: Buffer | string | undefined;
}

/** The variables {@link secretsFromEnv} reads (the compose test checks docker-compose.yml against them). */
export const SFTP_ENV_VARIABLES: readonly string[] = ["ARTIFACT_BUS_SFTP_PASSPHRASE", "ARTIFACT_BUS_SFTP_PASSWORD"];

/** Reads secrets from `ARTIFACT_BUS_SFTP_PASSPHRASE` and `ARTIFACT_BUS_SFTP_PASSWORD`. */
export function secretsFromEnv(env: Record<string, string | undefined> = process.env): SftpSecrets {
  return {
    passphrase: env.ARTIFACT_BUS_SFTP_PASSPHRASE || undefined,
    password: env.ARTIFACT_BUS_SFTP_PASSWORD || undefined,
  };
}

function fail(field: string, message: string): never {
  throw new ConfigError(`sftp option ${field}: ${message}`);
}

/**
 * Validates options and fills in defaults; throws ConfigError naming the first bad field.
 * `secrets` only decides whether some way to log in exists.
 */
export function parseSftpOptions(input: unknown, secrets: SftpSecrets = {}): SftpOptions {
  if (typeof input !== "object" || input === null || Array.isArray(input)) fail("options", "must be an object");
  const value = Value.Default(SftpOptionsSchema, structuredClone(input));
  const first = Value.Errors(SftpOptionsSchema, value).First();
  if (first) {
    const field = first.path.replace(/^\//, "").replaceAll("/", ".") || "options";
    const hint = typeof first.schema.description === "string" ? ` (${first.schema.description})` : "";
    const unknownField = first.message.includes("additional properties") || first.message.includes("Unexpected");
    fail(field, unknownField ? "is not a known option" : `${first.message}${hint}, got ${JSON.stringify(first.value)}`);
  }
  const options = value as SftpOptions;
  if (options.root.split("/").includes("..")) fail("root", `${JSON.stringify(options.root)} must not contain '..'`);
  options.root = normalizeRoot(options.root);
  try {
    checkPathTemplate(options.pathTemplate, options.sharedNamespace);
  } catch (err) {
    fail("pathTemplate", (err as Error).message);
  }
  if (!options.knownHostsFile && !options.hostKeyFingerprint && !options.insecureAcceptAnyHostKey) {
    fail(
      "knownHostsFile",
      "set knownHostsFile or hostKeyFingerprint to pin the server's host key (there is no trust on first use)",
    );
  }
  if (!options.privateKeyPath && !secrets.privateKey && !secrets.password) {
    fail("privateKeyPath", "set privateKeyPath, or ARTIFACT_BUS_SFTP_PASSWORD for password login");
  }
  if (options.transport === "openssh") {
    // ssh runs in BatchMode: it can neither ask for a passphrase nor a password, and it never
    // skips the host key check.
    if (options.insecureAcceptAnyHostKey && !options.knownHostsFile && !options.hostKeyFingerprint) {
      fail(
        "transport",
        '"openssh" checks host keys strictly: pin one (knownHostsFile, hostKeyFingerprint) or use "ssh2"',
      );
    }
    if (!options.privateKeyPath && !secrets.privateKey)
      fail("transport", '"openssh" needs privateKeyPath; use "ssh2" for password login');
    if (secrets.passphrase) fail("transport", '"openssh" cannot use a passphrase-protected key; use "ssh2" or "auto"');
  }
  return options;
}
