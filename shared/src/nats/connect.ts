/** Connecting to NATS from config; secrets come from the environment, never from config. */
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../config.ts";

export interface ConnectOptions {
  /** Connection name shown by the server, e.g. `s3-uploader`. */
  name: string;
  env?: Record<string, string | undefined>;
}

/**
 * Connects with reconnects forever: a restarting NATS server only delays work. The password
 * (`ARTIFACT_BUS_NATS_PASSWORD`) or token (`ARTIFACT_BUS_NATS_TOKEN`) is read here, at the
 * point of use, and is never logged.
 */
export async function connectNats(config: Config["nats"], opts: ConnectOptions): Promise<NatsConnection> {
  const env = opts.env ?? process.env;
  return connect({
    servers: config.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    // Otherwise every request (each KV write, each publish) captures a stack trace in case it
    // fails: a measurable share of the uploader's CPU per small artifact. Our errors name the
    // operation themselves.
    noAsyncTraces: true,
    user: config.user,
    pass: config.user ? env.ARTIFACT_BUS_NATS_PASSWORD : undefined,
    token: env.ARTIFACT_BUS_NATS_TOKEN,
    authenticator: config.credsFile ? credsAuthenticator(readFileSync(config.credsFile)) : undefined,
    tls: config.tlsCaFile ? { caFile: config.tlsCaFile } : undefined,
  });
}
