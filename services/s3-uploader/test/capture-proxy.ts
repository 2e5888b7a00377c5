/**
 * An in-process HTTP proxy in front of a real S3 server that records every request line and
 * header the uploader sends, and can answer chosen requests itself (errors, throttling, calls
 * s3rver does not implement). It forwards the Host header untouched, so SigV4 still verifies.
 */
import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface CapturedRequest {
  readonly method: string;
  /** Path and query, e.g. `/bucket/key?partNumber=2&uploadId=...`. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Status sent back to the client, once known. */
  status?: number;
}

export interface CannedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** Returns a response to answer a request without forwarding it, or undefined to forward. */
export type Interceptor = (req: CapturedRequest) => CannedResponse | undefined;

export class CaptureProxy {
  readonly requests: CapturedRequest[] = [];
  intercept: Interceptor | undefined;
  private readonly server: Server;
  private readonly target: URL;

  private constructor(target: string) {
    this.target = new URL(target);
    this.server = createServer((req, res) => {
      const captured: CapturedRequest = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
      this.requests.push(captured);
      const canned = this.intercept?.(captured);
      if (canned) {
        req.resume();
        req.once("end", () => {
          captured.status = canned.status;
          res.writeHead(canned.status, canned.headers);
          res.end(canned.body);
        });
        return;
      }
      // Expect is hop-by-hop and unsigned; the client already had its 100 Continue from us.
      const { expect: _expect, ...headers } = req.headers;
      const upstream = request(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers },
        (up) => {
          captured.status = up.statusCode;
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      // A client that gives up mid-body must not leave the server waiting for the rest.
      req.on("close", () => {
        if (!req.complete) upstream.destroy();
      });
      req.pipe(upstream);
    });
  }

  /** Starts a proxy for `target` (e.g. `http://127.0.0.1:4568`) on a free local port. */
  static async start(target: string): Promise<CaptureProxy> {
    const proxy = new CaptureProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Captured requests whose method matches and whose URL passes `test`. */
  find(method: string, test: (url: URL) => boolean = () => true): CapturedRequest[] {
    return this.requests.filter((r) => r.method === method && test(new URL(r.url, "http://x")));
  }

  reset(): void {
    this.requests.length = 0;
    this.intercept = undefined;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An S3 error document, as S3 sends it. */
export function s3ErrorResponse(status: number, code: string, headers: Record<string, string> = {}): CannedResponse {
  return {
    status,
    headers: { "content-type": "application/xml", ...headers },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} from the test proxy</Message><RequestId>proxy-1</RequestId></Error>`,
  };
}
