/**
 * The S3 adapter resuming a multipart upload from saved state (ctx.resume, held in memory here
 * as the runtime holds it in the ledger), against s3rver with the multipart calls S3 has.
 */
import { randomBytes } from "node:crypto";
import { Transform } from "node:stream";
import { PermanentError, type ResumeState, type UploadResume } from "@artifact-bus/shared";
import { fileArtifact, testContext, uniqueRun } from "@artifact-bus/testkit";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { S3ResumeState } from "../src/s3-resume.ts";
import { MiB, S3Fixture } from "./s3-fixture.ts";

let f: S3Fixture;
beforeAll(async () => {
  f = await S3Fixture.start("resume-bucket", { multipartApi: true });
});
afterAll(async () => {
  await f?.dispose();
});
beforeEach(() => f.proxy.reset());

/** Saved state kept in memory; `onSave` sees each state as it is saved. */
function memoryResume(onSave: (s: ResumeState) => void = () => {}): UploadResume & { saved?: ResumeState } {
  const r: UploadResume & { saved?: ResumeState } = {
    load: async () => r.saved,
    abandoned: () => undefined,
    save: async (s) => {
      r.saved = s;
      onSave(s);
    },
  };
  return r;
}

const partsSent = () => f.proxy.find("PUT", (u) => u.searchParams.has("partNumber")).map((r) => partNumber(r.url));
const partNumber = (url: string) => Number(new URL(url, "http://x").searchParams.get("partNumber"));

/** Uploads `bytes` until `stopAt` parts are saved, then aborts as a shutdown would: kept for resuming. */
async function interruptedUpload(bytes: Buffer, prefix: string, stopAt: number) {
  const artifact = await fileArtifact(f.dir, "ckpt.pt", bytes);
  const dest = f.destination({ prefix, queueSize: 1 });
  const ctx = testContext();
  const resume = memoryResume((s) => {
    if ((s as S3ResumeState).parts?.length >= stopAt) ctx.controller.abort(new Error("shutdown"));
  });
  await expect(dest.upload(artifact, { ...ctx, resume })).rejects.toThrow(/aborted/);
  return { artifact, dest, resume };
}

describe("s3 multipart resume", () => {
  it("a resumed upload sends only the parts the server lacks, completes the same upload, and the object is the file", async () => {
    const bytes = randomBytes(5 * 5 * MiB + 123);
    const { artifact, dest, resume } = await interruptedUpload(bytes, uniqueRun(), 2);
    const saved = resume.saved as S3ResumeState;
    expect(saved.parts.map((p) => p[0])).toEqual([1, 2]);
    f.proxy.reset();

    await dest.upload(artifact, { ...testContext(), resume });
    expect(partsSent().sort()).toEqual([3, 4, 5, 6]);
    expect((resume.saved as S3ResumeState).uploadId).toBe(saved.uploadId);
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
    const left = await f.reader.send(new ListMultipartUploadsCommand({ Bucket: f.bucket }));
    expect(left.Uploads ?? []).toEqual([]);
  });

  it("a recorded part whose checksum does not match the staged bytes is sent again", async () => {
    const bytes = randomBytes(3 * 5 * MiB + 7);
    const { artifact, dest, resume } = await interruptedUpload(bytes, uniqueRun(), 2);
    const saved = resume.saved as S3ResumeState;
    resume.saved = { ...saved, parts: saved.parts.map((p) => (p[0] === 1 ? [1, p[1], p[2], "AAAA"] : p)) };
    f.proxy.reset();

    await dest.upload(artifact, { ...testContext(), resume });
    expect(partsSent().sort()).toEqual([1, 3, 4]);
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
  });

  it("a part the record names but the server lacks is sent again", async () => {
    const bytes = randomBytes(3 * 5 * MiB + 7);
    const { artifact, dest, resume } = await interruptedUpload(bytes, uniqueRun(), 1);
    const saved = resume.saved as S3ResumeState;
    // Recorded as done, never stored: only ListParts can tell.
    resume.saved = { ...saved, parts: [...saved.parts, [2, 5 * MiB, "0".repeat(32), "BBBB"]] };
    f.proxy.reset();

    await dest.upload(artifact, { ...testContext(), resume });
    expect(partsSent().sort()).toEqual([2, 3, 4]);
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
  });

  it("an upload that fails for good (the staged blob vanished) is aborted even with somewhere to resume, and its state cleared", async () => {
    const artifact = await fileArtifact(f.dir, "gone.pt", randomBytes(4 * 5 * MiB), {
      wrap: (src) => {
        let seen = 0;
        const t = new Transform({
          transform(chunk: Buffer, _e, cb) {
            seen += chunk.length;
            cb(seen > 12 * MiB ? new PermanentError("blob missing: removed mid-read") : null, chunk);
          },
        });
        return src.pipe(t);
      },
    });
    const prefix = uniqueRun();
    const dest = f.destination({ prefix, queueSize: 1 });
    const resume = memoryResume();
    await expect(dest.upload(artifact, { ...testContext(), resume })).rejects.toBeInstanceOf(PermanentError);
    expect(resume.saved).toEqual({});
    const left = await f.reader.send(new ListMultipartUploadsCommand({ Bucket: f.bucket, Prefix: prefix }));
    expect(left.Uploads ?? []).toEqual([]);
  });

  it("a saved upload this one cannot continue (the part size changed) is aborted, and a new one lands the file", async () => {
    const bytes = randomBytes(3 * 5 * MiB + 7);
    const prefix = uniqueRun();
    const { artifact, resume } = await interruptedUpload(bytes, prefix, 1);
    const old = (resume.saved as S3ResumeState).uploadId;
    const dest = f.destination({ prefix, partSizeBytes: 6 * MiB });
    await dest.upload(artifact, { ...testContext(), resume });
    expect((resume.saved as S3ResumeState).uploadId).not.toBe(old);
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
    const left = await f.reader.send(new ListMultipartUploadsCommand({ Bucket: f.bucket, Prefix: prefix }));
    expect(left.Uploads ?? []).toEqual([]);
  });

  it("the upload an older, superseded version of the key left is aborted when the newer one starts", async () => {
    const prefix = uniqueRun();
    const { resume } = await interruptedUpload(randomBytes(3 * 5 * MiB + 7), prefix, 1);
    const older = resume.saved as S3ResumeState;
    const bytes = randomBytes(2 * 5 * MiB + 9);
    const artifact = await fileArtifact(f.dir, "ckpt.pt", bytes);
    const dest = f.destination({ prefix });
    await dest.upload(artifact, { ...testContext(), resume: { ...memoryResume(), abandoned: () => older } });
    expect((await f.readObject(dest.keyOf(artifact.event)))!.equals(bytes)).toBe(true);
    const left = await f.reader.send(new ListMultipartUploadsCommand({ Bucket: f.bucket, Prefix: prefix }));
    expect(left.Uploads ?? []).toEqual([]);
  });
});
