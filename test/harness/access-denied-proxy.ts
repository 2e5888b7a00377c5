/**
 * An HTTP proxy in front of a real S3 server that answers 403 AccessDenied (S3's XML error) to
 * writes of the keys a test names, and forwards everything else unchanged, Host header included,
 * so SigV4 signatures still verify. It stands in for a bucket policy or a KMS key that denies one
 * object while the bucket (HeadBucket, the destination's probe) and every other key work: S3's
 * policy engine cannot run here, and s3rver has none.
 */
import { once } from "node:events";
import { createServer, request, type Server } from "node:http";

export class AccessDeniedProxy {
  /** Where requests go (the real server's origin); set before the first request. */
  target: URL | undefined;
  /** Writes (anything but GET and HEAD) to a path containing one of these are denied. */
  readonly denied = new Set<string>();
  /** Writes denied so far. */
  deniedCount = 0;
  private readonly server: Server;

  private constructor() {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
      const write = req.method !== "GET" && req.method !== "HEAD";
      if (write && [...this.denied].some((key) => path.includes(key))) {
        this.deniedCount++;
        req.resume();
        req.once("end", () => {
          res.writeHead(403, { "content-type": "application/xml" });
          res.end(
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
          );
        });
        return;
      }
      const target = this.target!;
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.once("error", () => res.destroy());
      req.pipe(upstream);
    });
  }

  static async start(): Promise<AccessDeniedProxy> {
    const proxy = new AccessDeniedProxy();
    proxy.server.listen(0, "127.0.0.1");
    await once(proxy.server, "listening");
    return proxy;
  }

  /** e.g. `http://127.0.0.1:40123` */
  get url(): string {
    const address = this.server.address();
    if (!address || typeof address === "string") throw new Error("the proxy is not listening");
    return `http://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, "close");
  }
}
