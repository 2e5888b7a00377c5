/** Connecting to NATS from config; secrets come from the environment, never from config. */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, credsAuthenticator, errors, type NatsConnection } from "@nats-io/transport-node";
import { type Config, DEFAULT_NATS_CONNECT_TIMEOUT_MS, DEFAULT_NATS_PING_INTERVAL_MS } from "../config/config.ts";
import { inboxPrefixOf } from "../config/inbox-prefix.ts";

export interface ConnectOptions {
  /** Connection name shown by the server, e.g. `s3-uploader`. */
  name: string;
  env?: Record<string, string | undefined>;
}

/**
 * The first connection failed: no server answered within `nats.connectTimeoutMs`, or one
 * refused us (e.g. credentials). The message names the servers with any credentials in their
 * URLs masked, and never a password.
 */
export class NatsConnectError extends Error {
  override name = "NatsConnectError";
  /** The servers tried, credentials masked. */
  readonly servers: string[];

  constructor(message: string, servers: string[], options?: ErrorOptions) {
    super(message, options);
    this.servers = servers;
  }
}

// A server nobody answers for may come up in a moment (compose, a rolling restart): try again
// until the deadline. Each attempt waits at most this long for a half-open server's handshake.
const ATTEMPT_TIMEOUT_MS = 20_000;
const RETRY_DELAY_MS = 250;

/**
 * Connects, giving up with a {@link NatsConnectError} when no server accepted the first
 * connection within `nats.connectTimeoutMs`; once connected, it reconnects forever, so a
 * restarting NATS server only delays work. The password (`ARTIFACT_BUS_NATS_PASSWORD`) or
 * token (`ARTIFACT_BUS_NATS_TOKEN`) is read here, at the point of use, and is never logged.
 */
export async function connectNats(config: Config["nats"], opts: ConnectOptions): Promise<NatsConnection> {
  const env = opts.env ?? process.env;
  const timeoutMs = config.connectTimeoutMs ?? DEFAULT_NATS_CONNECT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const servers = config.servers.map(maskCredentials);
  const where = servers.join(", ");
  const authenticator = config.credsFile ? credsAuthenticator(readFileSync(config.credsFile)) : undefined;
  for (;;) {
    try {
      return await connect({
        servers: config.servers,
        name: opts.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        // The client's default (2 min) would leave a trainer waiting that long behind a frozen
        // server (SIGSTOP, a hung VM): its TCP connection stays open and only pings tell.
        pingInterval: config.pingIntervalMs ?? DEFAULT_NATS_PING_INTERVAL_MS,
        maxPingOut: 2,
        // The deadline is ours: with waitOnFirstConnect the client would retry the first
        // connection forever, and a wrong URL would hang silently.
        waitOnFirstConnect: false,
        timeout: Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now())),
        // Otherwise every request (each KV write, each publish) captures a stack trace in case it
        // fails: a measurable share of the uploader's CPU per small artifact. Our errors name the
        // operation themselves.
        noAsyncTraces: true,
        // Replies come to inboxes only this user may subscribe to (config/inbox-prefix.ts).
        inboxPrefix: inboxPrefixOf(config),
        user: config.user,
        pass: config.user ? env.ARTIFACT_BUS_NATS_PASSWORD : undefined,
        token: env.ARTIFACT_BUS_NATS_TOKEN,
        authenticator,
        tls: config.tlsCaFile ? { caFile: config.tlsCaFile } : undefined,
      });
    } catch (err) {
      const reason = (err as Error).message;
      if (isRefusal(err)) {
        const as = config.user ? ` of user ${config.user}` : "";
        throw new NatsConnectError(`NATS at ${where} refused the connection${as}: ${reason}`, servers, {
          cause: err,
        });
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new NatsConnectError(
          `cannot reach NATS at ${where} within ${timeoutMs} ms (${reason}); check nats.servers (ARTIFACT_BUS_NATS_URL), or raise nats.connectTimeoutMs (ARTIFACT_BUS_NATS_CONNECT_TIMEOUT_MS)`,
          servers,
          { cause: err },
        );
      }
      await sleep(Math.min(RETRY_DELAY_MS, left));
    }
  }
}

/**
 * A server answered and said no, or the options are wrong: another try cannot help. Anything
 * else (nobody listening, a name that does not resolve yet, a timeout) may pass in a moment.
 */
function isRefusal(err: unknown): boolean {
  return (
    err instanceof errors.AuthorizationError ||
    err instanceof errors.UserAuthenticationExpiredError ||
    err instanceof errors.InvalidArgumentError
  );
}

/** `nats://user:pass@host:4222` as `nats://***@host:4222`; a URL may carry credentials. */
function maskCredentials(server: string): string {
  return server.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)?[^@/]*@/i,
    (_m, scheme: string | undefined) => `${scheme ?? ""}***@`,
  );
}
