/**
 * A plain node:http client for gateway tests: one request on its own connection, no retries, no
 * header rewriting, so a test sees exactly what any HTTP client would (status, every header, the
 * raw body), not what our own clients make of it.
 */
import { request } from "node:http";

/** An answer as it came over the wire. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: Record<string, unknown> | undefined;
}

export interface RawRequest {
  method: string;
  /** Sent as written: no normalisation or %-encoding is applied. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** Sends one request to `base` (e.g. `http://127.0.0.1:8080`) and reads the whole answer. */
export function rawRequest(base: string, r: RawRequest): Promise<RawAnswer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: r.method, path: r.path, headers: r.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(body.toString("utf8"));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on("error", reject);
    req.end(r.body);
  });
}
