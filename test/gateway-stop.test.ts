/**
 * A gateway stopping (SIGTERM) lets running requests finish, then exits: a request that
 * finishes during the grace period must not leave its keep-alive connection open to hold the
 * stop until the grace period ends. Node closes only the connections idle when the server
 * starts closing; one that turns idle later (a PUT whose body arrives after SIGTERM, a live
 * stream ended as the gateway stops, whose client, a browser or undici, keeps the connection
 * for reuse) stayed open until the grace period cut it. Real processes: nats-server, the S3
 * double, an uploader and the gateway.
 */
import { Agent, request } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

let stack: GatewayStack;
let token: string;

beforeAll(async () => {
  stack = await GatewayStack.start();
  token = stack.token(["demo"], ["publish"]);
  await stack.reload();
}, 120_000);
afterAll(async () => stack?.dispose());

it("a PUT whose body arrives after SIGTERM is answered, and its kept-alive connection does not hold the stop", async () => {
  const agent = new Agent({ keepAlive: true });
  const url = new URL(stack.url);
  const body = Buffer.from("finished during the grace period");
  const req = request({
    host: url.hostname,
    port: Number(url.port),
    method: "PUT",
    path: "/v1/projects/demo/runs/stop/artifacts/late.txt",
    agent,
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/octet-stream",
      "content-length": String(body.length),
      // The gateway answers 100 once its handler is about to read the body: the request is running.
      expect: "100-continue",
    },
  });
  const answered = new Promise<number>((resolve, reject) => {
    req.once("response", (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode ?? 0));
    });
    req.once("error", reject);
  });
  await new Promise((resolve) => req.once("continue", resolve));
  const started = Date.now();
  const exited = stack.gateway.kill("SIGTERM");
  await stack.gateway.waitForLog((l) => l.msg === "stopping", 5_000);
  req.end(body);
  expect(await answered).toBe(202);
  await exited;
  // shutdownGraceMs is 10 s here: the idle connection kept by the agent would hold the stop that long.
  expect(Date.now() - started).toBeLessThan(5_000);
  agent.destroy();
});
