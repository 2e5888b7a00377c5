/**
 * Uploads that resume (issue 23, part 2), on real processes: an S3 uploader SIGKILLed mid
 * multipart upload leaves its upload id and completed parts in the ledger, and the replica that
 * takes the key over sends only what is missing. Bytes are counted where the S3 server receives
 * them, through a proxy in front of it.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { LEDGER_BUCKET, RESUME_KEY_PREFIX } from "@artifact-bus/shared";
import { ThrottledProxy, writeLargeFile } from "@artifact-bus/testkit";
import { AbortMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
let stack: S3Stack;
let proxy: ThrottledProxy;
let n = 0;
const unique = (p: string) => `${p}-${process.pid}-${++n}`;

beforeAll(async () => {
  // Fast enough to finish in about half a minute, slow enough that a ledger poll sees the upload at ~60 %.
  proxy = await ThrottledProxy.start({ bytesPerSecond: 96 * MiB });
  stack = await S3Stack.start({
    multipartApi: true,
    destination: { uploadTimeoutMs: 600_000 },
    s3Options: { partSizeBytes: 8 * MiB, queueSize: 4, endpoint: proxy.url },
  });
  proxy.forwardTo(stack.s3.endpoint);
});
afterAll(async () => {
  await stack?.dispose();
  await proxy?.close();
});

/** sha256 of an object, streamed (a GiB is not held in memory). */
async function objectSha256(key: string): Promise<string> {
  const client = stack.s3Client();
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
    const hash = createHash("sha256");
    for await (const chunk of out.Body as Readable) hash.update(chunk as Buffer);
    return hash.digest("hex");
  } finally {
    client.destroy();
  }
}

async function multipartUploads(): Promise<string[]> {
  const client = stack.s3Client();
  try {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket }));
    return (out.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`);
  } finally {
    client.destroy();
  }
}

/** The resume records of the stack's destination, as stored. */
async function resumeRecords(): Promise<{ key: string; record: { state: { uploadId?: string } } }[]> {
  const kv = await new Kvm(stack.bus.nc).open(LEDGER_BUCKET);
  const out: { key: string; record: { state: { uploadId?: string } } }[] = [];
  for await (const key of await kv.keys(`${RESUME_KEY_PREFIX}.${stack.bus.token}.>`)) {
    const e = await kv.get(key);
    if (e?.operation === "PUT") out.push({ key, record: e.json() });
  }
  return out;
}

describe("s3 uploads that resume", () => {
  // The size, 3 GiB: far past what a replica could hold in memory, so the resume must
  // stream from the staged file on both sides of the kill. It is the slowest test of its file
  // (4-5 minutes on 2 loaded cores: writing and hashing 3 GiB, the throttled upload,
  // the S3 server joining the parts, the object read back for its sha256) and kept at this size on purpose: it is the acceptance test.
  it("an uploader SIGKILLed at ~60 % of 3 GiB: the next replica resumes, sends at most half the file again, and the object is the file", async () => {
    const size = 3 * GiB;
    const first = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "resume-big.pt");
    const hash = await writeLargeFile(path, size);
    const run = unique("resume");
    const logged = await (
      await t.publisher.logFile({ project: "resume", run, name: "ckpt/big.pt", path, mode: "move" })
    ).durable;

    const doneAtKill = await stack.bus.uploadPasses(logged, size, 0.6);
    await first.kill("SIGKILL");
    const sentBeforeTakeover = proxy.bytesPassed;

    const second = await stack.bus.startUploader();
    await t.publisher.flush({ timeoutMs: 600_000 });
    const sentAfterKill = proxy.bytesPassed - sentBeforeTakeover;
    console.info(`resume: killed at ${doneAtKill} of ${size} bytes done; ${sentAfterKill} bytes sent after the kill`);
    const entry = await stack.bus.ledger(logged);
    expect(entry).toMatchObject({ state: "uploaded", attempts: 2 });
    expect(second.lines.some((l) => l.msg === "resuming multipart upload")).toBe(true);
    expect(doneAtKill).toBeGreaterThanOrEqual(size * 0.6);
    expect(sentAfterKill).toBeLessThanOrEqual(size / 2);
    expect(await objectSha256(`resume/${run}/ckpt/big.pt`)).toBe(hash);
    // The resumed upload was completed: nothing is left behind on the server, nor in the ledger.
    expect(await multipartUploads()).toEqual([]);
    expect(await resumeRecords()).toEqual([]);
    await t.close();
    await second.kill("SIGTERM");
  }, 900_000);

  it("a recorded upload aborted meanwhile (a lifecycle rule, an operator): the takeover starts over and lands the file", async () => {
    const size = 192 * MiB;
    const first = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "resume-aborted.pt");
    const hash = await writeLargeFile(path, size);
    const run = unique("aborted");
    const logged = await (
      await t.publisher.logFile({ project: "resume", run, name: "ckpt/aborted.pt", path, mode: "move" })
    ).durable;
    await stack.bus.uploadPasses(logged, size, 0.3);
    await first.kill("SIGKILL");

    const [saved] = await resumeRecords();
    const uploadId = saved?.record.state.uploadId;
    expect(uploadId).toBeTruthy();
    const client = stack.s3Client();
    await client.send(
      new AbortMultipartUploadCommand({
        Bucket: stack.bucket,
        Key: `resume/${run}/ckpt/aborted.pt`,
        UploadId: uploadId,
      }),
    );
    client.destroy();

    const second = await stack.bus.startUploader();
    await t.publisher.flush({ timeoutMs: 120_000 });
    expect(await stack.bus.ledger(logged)).toMatchObject({ state: "uploaded", attempts: 2 });
    const why = second.lines.find((l) => l.msg === "cannot resume; starting over");
    expect(why?.why).toBe("the server no longer knows the upload id");
    expect(await objectSha256(`resume/${run}/ckpt/aborted.pt`)).toBe(hash);
    expect(await multipartUploads()).toEqual([]);
    await t.close();
    await second.kill("SIGTERM");
  }, 300_000);
});
