/** Structured logging (pino). Paths that could carry secrets are redacted at the source. */
import { type Logger, pino } from "pino";

export type { Logger } from "pino";

const REDACT = [
  "password",
  "passphrase",
  "secretAccessKey",
  "privateKey",
  "token",
  "authorization",
  "*.password",
  "*.passphrase",
  "*.secretAccessKey",
  "*.privateKey",
  "*.token",
  "*.authorization",
  "credentials",
  "*.credentials",
];

export function createLogger(name: string, level = process.env.ARTIFACT_BUS_LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: "[redacted]" } });
}

/** A logger that drops everything, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: "silent" });
