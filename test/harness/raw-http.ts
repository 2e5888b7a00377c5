/**
 * A plain node:http client for gateway tests: one request on its own connection, no retries, no
 * header rewriting, so a test sees exactly what any HTTP client would (status, every header, the
 * raw body), not what our own clients make of it.
 */
import { existsSync, readdirSync } from "node:fs";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { eventually } from "@artifact-bus/testkit";

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

/**
 * A connection on which a test writes request bytes by hand (a request line no client library
 * would send, `Expect: 100-continue` and then nothing) and reads answer heads as they come.
 */
export class RawConnection {
  private readonly socket: Socket;
  private received = "";
  private closed = false;
  private readonly waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (c: Buffer) => {
      this.received += c.toString("latin1");
      this.wake();
    });
    // The gateway cutting the connection is what some tests wait for.
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static async open(base: string): Promise<RawConnection> {
    const url = new URL(base);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return new RawConnection(socket);
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /**
   * The next answer's head (status line and headers) and whatever body bytes followed it so far;
   * undefined if the connection closed before a whole head came.
   */
  async nextHead(): Promise<{ status: number; head: string; rest: string } | undefined> {
    for (;;) {
      const end = this.received.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.received.slice(0, end);
        this.received = this.received.slice(end + 4);
        return { status: Number(head.split(" ")[1]), head, rest: this.received };
      }
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves once the gateway closed the connection, with everything it sent that was not read. */
  async closedByPeer(): Promise<string> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.received;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** A PUT whose body is held half sent: in flight at the gateway until `finish()`. */
export interface HeldPut {
  /** Sends the rest of the body; resolves with the status of the answer. */
  finish(): Promise<number>;
}

/**
 * Starts `PUT path` with `headers`, sends the first `sentBytes` of `body`, and resolves once the
 * gateway is staging it (a temp file in `runDir`, the run's staging directory), so the request is
 * observably in flight.
 */
export async function heldPut(
  base: string,
  o: { path: string; headers: Record<string, string>; body: Buffer; sentBytes: number; runDir: string },
): Promise<HeldPut> {
  const url = new URL(base);
  const req = request({
    host: url.hostname,
    port: url.port,
    method: "PUT",
    path: o.path,
    agent: false,
    headers: { ...o.headers, "content-length": String(o.body.length) },
  });
  const answer = new Promise<number>((resolve, reject) => {
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
  });
  req.write(o.body.subarray(0, o.sentBytes));
  const receiving = () => existsSync(o.runDir) && readdirSync(o.runDir).some((n) => n.startsWith(".tmp-"));
  await eventually(() => (receiving() ? true : undefined), 10_000, "the held request receiving its body");
  return {
    finish() {
      req.end(o.body.subarray(o.sentBytes));
      return answer;
    },
  };
}
