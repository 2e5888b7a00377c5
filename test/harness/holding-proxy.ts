/**
 * An HTTP proxy in front of an S3-compatible server that can hold one answer back: the request
 * reaches the server (which acts on it), but the client sees the answer only once the test
 * releases it. A fault test can thus freeze an uploader at an exact step of its protocol (the
 * part uploaded, the completion not yet sent) instead of hoping a timer lands there. Requests
 * and answers pass unchanged (the Host header included), so signed requests verify.
 */
import { once } from "node:events";
import { Agent, createServer, type IncomingMessage, request, type Server } from "node:http";

/** The request line of a request that went through. */
export interface Passed {
  method: string;
  url: string;
  status: number;
}

type Match = (method: string, url: string) => boolean;

export class HoldingProxy {
  private readonly server: Server;
  private readonly agent = new Agent({ keepAlive: true });
  /** Where requests go; set (forwardTo) before the first client connects. */
  private upstream: URL | undefined;
  private hold: { match: Match; held: (release: () => void) => void } | undefined;
  private readonly watchers: { match: Match; passed: (p: Passed) => void }[] = [];

  private constructor() {
    this.server = createServer((req, res) => {
      const upstream = this.upstream;
      if (!upstream) return void res.destroy();
      const method = req.method ?? "GET";
      const url = req.url ?? "/";
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method,
          path: url,
          headers: req.headers,
          agent: this.agent,
        },
        async (answer: IncomingMessage) => {
          const body: Buffer[] = [];
          for await (const chunk of answer) body.push(chunk as Buffer);
          const hold = this.hold?.match(method, url) ? this.hold : undefined;
          if (hold) {
            this.hold = undefined;
            await new Promise<void>((release) => hold.held(release));
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(body), () => this.passed({ method, url, status: answer.statusCode ?? 502 }));
        },
      );
      out.on("error", () => res.destroy());
      req.pipe(out);
    });
  }

  static async start(): Promise<HoldingProxy> {
    const proxy = new HoldingProxy();
    proxy.server.listen(0, "127.0.0.1");
    await once(proxy.server, "listening");
    return proxy;
  }

  /** e.g. `http://127.0.0.1:40123` */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Points the proxy at the server at `url`. */
  forwardTo(url: string): void {
    this.upstream = new URL(url);
  }

  /**
   * Holds back the answer to the next request that matches: resolves once the server has answered
   * it (so the server has acted on it), with the function that passes the answer on.
   */
  holdNext(match: Match): Promise<() => void> {
    return new Promise((held) => {
      this.hold = { match, held };
    });
  }

  /** Resolves once the answer to a request that matches (made from now on) reached the client's socket. */
  nextPassed(match: Match): Promise<Passed> {
    return new Promise((passed) => this.watchers.push({ match, passed }));
  }

  private passed(p: Passed): void {
    for (const w of [...this.watchers]) {
      if (!w.match(p.method, p.url)) continue;
      this.watchers.splice(this.watchers.indexOf(w), 1);
      w.passed(p);
    }
  }

  async dispose(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    this.agent.destroy();
  }
}
