/**
 * A 1 GiB artifact PUT with curl through the gateway, its body generated on the fly (so curl
 * sends it chunked): it arrives intact at S3, checked by an independent GET and hash, while the
 * gateway's peak RSS during the upload stays under 150 MB (the body is streamed, never held).
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import type { Readable } from "node:stream";
import { peakRssMb, resetPeakRss, rssMb } from "@artifact-bus/testkit";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";

const SIZE = Number(process.env.ARTIFACT_BUS_TEST_LARGE_BYTES ?? 1024 ** 3);
let stack: GatewayStack;

beforeAll(async () => {
  stack = await GatewayStack.start({ destination: { ackWaitMs: 30_000 } });
});
afterAll(async () => stack?.dispose());

it(`a ${SIZE} byte PUT with curl lands intact in S3, the gateway under 150 MB RSS`, async () => {
  const token = stack.token(["demo"], ["publish"]);
  await stack.reload();
  const start = peakRssMb(stack.gateway.pid);
  const idle = rssMb(stack.gateway.pid);
  // What the upload costs, not the start-up peak of compiling modules (reported beside it).
  resetPeakRss(stack.gateway.pid);
  const curl = spawn(
    "curl",
    [
      "-sS",
      "--fail-with-body",
      "-T",
      "-",
      "-H",
      `Authorization: Bearer ${token}`,
      `${stack.url}/v1/projects/demo/runs/big/artifacts/model/large.bin`,
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const answer: Buffer[] = [];
  curl.stdout.on("data", (c: Buffer) => answer.push(c));
  const sent = createHash("sha256");
  const chunk = 8 << 20;
  for (let done = 0; done < SIZE; done += chunk) {
    const part = randomBytes(Math.min(chunk, SIZE - done));
    sent.update(part);
    if (!curl.stdin.write(part)) await once(curl.stdin, "drain");
  }
  curl.stdin.end();
  const [code] = await once(curl, "exit");
  const body = JSON.parse(Buffer.concat(answer).toString()) as { sha256: string; size: number; id: string };
  expect(code, JSON.stringify(body)).toBe(0);
  const sha256 = sent.digest("hex");
  expect(body).toMatchObject({ sha256, size: SIZE });
  const rss = peakRssMb(stack.gateway.pid);
  console.log(
    `gateway RSS: start-up peak ${start.toFixed(0)} MB, idle ${idle.toFixed(0)} MB, peak during a ${SIZE} byte PUT ${rss.toFixed(0)} MB`,
  );
  expect(rss).toBeLessThan(150);

  const wait = await stack.fetch("/v1/projects/demo/runs/big/wait?timeout=600", token, { method: "POST" });
  expect(await wait.json()).toMatchObject({ done: true, counts: { uploaded: 1 } });
  const s3 = stack.s3.s3Client();
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: stack.s3.bucket, Key: "demo/big/model/large.bin" }));
    const got = createHash("sha256");
    for await (const c of out.Body as Readable) got.update(c as Buffer);
    expect(got.digest("hex")).toBe(sha256);
  } finally {
    s3.destroy();
  }
}, 900_000);
