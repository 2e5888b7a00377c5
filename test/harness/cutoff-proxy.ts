/**
 * A TCP proxy that can cut one client off from its server without closing anything: while cut,
 * bytes wait in the proxy and the kernel buffers in both directions, as over a partitioned
 * network link, so neither side notices; healing passes them on in order. A fault test routes one
 * uploader's NATS connection through it to cut that replica alone off from NATS.
 */
import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";

export class CutoffProxy {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly target: { host: string; port: number };
  private isCut = false;

  private constructor(target: string) {
    const u = new URL(target);
    this.target = { host: u.hostname, port: Number(u.port) };
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      for (const s of pair) {
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
        s.once("close", () => this.pairs.delete(pair));
      }
      if (!this.isCut) this.join(pair);
    });
  }

  /** Listens on a free port, forwarding to `target` (e.g. `nats://127.0.0.1:4222`). */
  static async start(target: string): Promise<CutoffProxy> {
    const proxy = new CutoffProxy(target);
    proxy.server.listen(0, "127.0.0.1");
    await once(proxy.server, "listening");
    return proxy;
  }

  /** e.g. `nats://127.0.0.1:40123` */
  get url(): string {
    return `nats://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Stops passing bytes either way; connections stay open. */
  cut(): void {
    this.isCut = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Passes bytes again, those that waited first. */
  heal(): void {
    this.isCut = false;
    for (const pair of this.pairs) this.join(pair);
  }

  private join([client, upstream]: [Socket, Socket]): void {
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async dispose(): Promise<void> {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.server.close();
  }
}
