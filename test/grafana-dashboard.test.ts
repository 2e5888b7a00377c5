/**
 * The sample Grafana dashboard (deploy/grafana/artifact-bus.json) cannot go stale: the real
 * services run (an S3 uploader with /metrics, the HTTP gateway, nats-server with the committed
 * users, s3rver), an artifact goes through them, and every metric name any of its queries reads
 * must be one some service exports. Every artifact_bus_* metric exported is named in the README.
 * The consumer gauges follow a destination's backlog.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { eventually, freePort } from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { dashboardQueries, exposedNames, promqlMetricNames } from "./harness/promql-names.ts";

const root = resolve(import.meta.dirname, "..");
const dashboard = JSON.parse(readFileSync(resolve(root, "deploy/grafana/artifact-bus.json"), "utf8"));
let stack: GatewayStack;
let uploaderMetrics: string;

beforeAll(async () => {
  stack = await GatewayStack.start({ secured: true, uploader: false });
  const port = await freePort();
  await stack.bus.startUploader({ ARTIFACT_BUS_METRICS_PORT: String(port) });
  uploaderMetrics = `http://127.0.0.1:${port}/metrics`;
});
afterAll(async () => stack?.dispose());

const scrape = async (url: string) => (await fetch(url)).text();

describe("deploy/grafana/artifact-bus.json", () => {
  it("reads the metric names PromQL selects, and nothing else", () => {
    const expr =
      'histogram_quantile(0.99, sum by (destination, le) (rate(artifact_bus_x_bucket{destination=~"$d"}[$__rate_interval]))) / on (destination) group_left max without (replica) (b_total offset 5m) > bool 1e3';
    expect(promqlMetricNames(expr).sort()).toEqual(["artifact_bus_x_bucket", "b_total"]);
  });

  it("queries only metrics the services export once an artifact went through them", async () => {
    const publisher = stack.token(["demo"], ["publish"]);
    await stack.reload();
    const put = await stack.fetch("/v1/projects/demo/runs/dash/artifacts/ckpt.pt", publisher, {
      method: "PUT",
      body: "weights".repeat(1000),
    });
    expect(put.status).toBe(202);
    const { status } = (await put.json()) as { status: string };
    await eventually(
      async () => ((await (await stack.fetch(status, publisher)).json()) as { done: boolean }).done || undefined,
      30_000,
      "the artifact landed",
    );

    // The landing is recorded in the uploader's latency histogram, the publish in the gateway's.
    const fromUploader = await eventually(
      async () => {
        const text = await scrape(uploaderMetrics);
        return /artifact_bus_logged_to_uploaded_seconds_count\{destination="s3:minio"\} [1-9]/.test(text)
          ? text
          : undefined;
      },
      10_000,
      "the logged-to-uploaded histogram to count the upload",
    );
    expect(fromUploader).toMatch(/artifact_bus_consumer_pending\{destination="s3:minio"\} 0/);
    const fromGateway = await scrape(`${stack.url}/metrics`);
    expect(fromGateway).toMatch(/artifact_bus_publish_seconds_count [1-9]/);

    const exported = new Set([...exposedNames(fromUploader), ...exposedNames(fromGateway)]);
    const queried = [...new Set(dashboardQueries(dashboard).flatMap(promqlMetricNames))];
    // The three the dashboard is for, and the rest of what it shows.
    expect(queried).toEqual(
      expect.arrayContaining([
        "artifact_bus_logged_to_uploaded_seconds_bucket",
        "artifact_bus_consumer_pending",
        "artifact_bus_publish_seconds_bucket",
      ]),
    );
    expect(queried.length).toBeGreaterThanOrEqual(15);
    expect(queried.filter((name) => !exported.has(name))).toEqual([]);

    // Every metric family we export is documented.
    const readme = readFileSync(resolve(root, "README.md"), "utf8");
    const families = [...exported]
      .filter((n) => n.startsWith("artifact_bus_"))
      .map((n) => n.replace(/_(bucket|sum|count)$/, ""));
    expect([...new Set(families)].filter((f) => !readme.includes(f))).toEqual([]);
  });
});

describe("artifact_bus_consumer_pending and _ack_pending", () => {
  const gauges = async () => {
    const text = await scrape(uploaderMetrics);
    const value = (name: string) =>
      Number(new RegExp(`^${name}\\{destination="s3:minio"\\} (\\d+)$`, "m").exec(text)?.[1]);
    return { pending: value("artifact_bus_consumer_pending"), ackPending: value("artifact_bus_consumer_ack_pending") };
  };

  it("show the events waiting while S3 stands still, and drop to zero once they landed", async () => {
    await stack.s3.s3.pause(); // uploads hold still: the rest of the events wait in the stream
    const t = await stack.bus.trainer();
    try {
      const path = resolve(stack.bus.dir, "backlog.txt");
      for (let i = 0; i < 10; i++) {
        writeFileSync(path, `version ${i}`);
        await t.publisher.logFile({ project: "demo", run: "backlog", name: `a${i}.txt`, path });
      }
      const waiting = await eventually(
        async () => {
          const g = await gauges();
          return g.pending + g.ackPending === 10 ? g : undefined;
        },
        40_000,
        "the gauges to count the 10 events",
      );
      expect(waiting.pending).toBeGreaterThan(0);
      expect(waiting.ackPending).toBeGreaterThan(0);
    } finally {
      stack.s3.s3.resume();
    }
    await t.publisher.flush({ timeoutMs: 60_000 });
    await t.close();
    await eventually(
      async () => {
        const g = await gauges();
        return g.pending === 0 && g.ackPending === 0 ? g : undefined;
      },
      40_000,
      "the gauges back at zero",
    );
  });
});
