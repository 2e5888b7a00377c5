/**
 * A TCP proxy that passes what clients send at a fixed rate (what servers answer goes through
 * at full speed): an upload through it lasts size / rate on any machine, so a test can watch
 * one in progress without pausing anything. Bytes pass unchanged, so signed requests verify.
 */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Transform, type TransformCallback } from "node:stream";

export interface ThrottledProxyOptions {
  /** Client-to-server bytes per second, shared by every connection. */
  bytesPerSecond: number;
}

/** Pieces a chunk is cut into, so the rate holds within a large chunk too. */
const PIECE_BYTES = 16 * 1024;

export class ThrottledProxy {
  /** Where connections go; set before the first client connects. */
  target: { host: string; port: number } | undefined;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly rate: number;
  /** When the next byte may pass, shared by all connections (ms since epoch). */
  private nextAt = 0;
  /** Client-to-server bytes passed so far, over every connection: what the server was sent. */
  bytesPassed = 0;

  private constructor(o: ThrottledProxyOptions) {
    this.rate = o.bytesPerSecond;
    this.server = createServer((client) => this.relay(client));
  }

  static async start(o: ThrottledProxyOptions): Promise<ThrottledProxy> {
    const proxy = new ThrottledProxy(o);
    proxy.server.listen(0, "127.0.0.1");
    await once(proxy.server, "listening");
    return proxy;
  }

  /** e.g. `http://127.0.0.1:40123` */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Points the proxy at `url`'s host and port. */
  forwardTo(url: string): void {
    const u = new URL(url);
    this.target = { host: u.hostname, port: Number(u.port) };
  }

  private relay(client: Socket): void {
    if (!this.target) return void client.destroy();
    const upstream = connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(this.throttle()).pipe(upstream);
    upstream.pipe(client);
  }

  private throttle(): Transform {
    const pass = async (chunk: Buffer, push: (b: Buffer) => void) => {
      for (let at = 0; at < chunk.length; at += PIECE_BYTES) {
        const piece = chunk.subarray(at, at + PIECE_BYTES);
        const now = Date.now();
        this.nextAt = Math.max(this.nextAt, now) + (piece.length / this.rate) * 1000;
        const wait = this.nextAt - now;
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        this.bytesPassed += piece.length;
        push(piece);
      }
    };
    return new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        pass(chunk, (b) => this.push(b)).then(() => done(), done);
      },
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
