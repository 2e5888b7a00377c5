/**
 * The contract every Destination must pass, as one vitest `describe` block: identical bytes at
 * the final name, last write wins, awkward names, empty and large artifacts, no partial object
 * after an abort, a failing blob or a lease lost before the visible step (beforeVisible), and
 * error classes the runtime can act on.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import {
  type ArtifactEventV1,
  type Destination,
  DestinationError,
  LeaseLostError,
  PermanentError,
  RemoteNotFoundError,
  TransientError,
} from "@artifact-bus/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type FileArtifactOptions,
  failAtEnd,
  fileArtifact,
  stallAfter,
  testContext,
  uniqueRun,
} from "./artifact-fixtures.ts";
import { sha256 } from "./files.ts";

type Awaitable<T> = T | Promise<T>;

/** What a backend's test file supplies to run the contract against a real server. */
export interface ContractHarness {
  destination: Destination;
  /** Independent read of the object at the event's final name; undefined if absent. */
  read(event: ArtifactEventV1): Awaitable<Buffer | undefined>;
  /** Every remote name under the destination's root, temp and partial names included. */
  list(): Awaitable<string[]>;
  /**
   * Makes the destination unreachable (e.g. kills its server); healDestination() undoes it. Every
   * harness in CI has them; one against an external endpoint (real S3) cannot.
   */
  breakDestination?(): Promise<void>;
  healDestination?(): Promise<void>;
  /** Size of the "large" artifact; must pass the backend's multipart/part threshold. Default 8 MiB. */
  largeSize?: number;
  /** The receipt location an event must get, where the backend's form is fixed. */
  expectedLocation?(event: ArtifactEventV1): string;
  /**
   * Whether one name in two runs is two things to write (S3 and SFTP paths hold the run by
   * default); W&B collections belong to the project, so there it is one. Default true.
   */
  runsApart?: boolean;
  /**
   * Names the contract admits that this destination refuses, each with what its PermanentError
   * must say (the limit and the lengths): `longName`, a name of 1,024 bytes (the contract's limit,
   * in segments of 200 bytes); `longSegment`, a name with a 300-byte segment. One absent is stored.
   */
  refuses?: { longName?: RegExp; longSegment?: RegExp };
  /**
   * False where the server under test cannot hold a segment over 255 bytes that the destination
   * itself takes (s3rver keeps keys as files; S3 and MinIO hold them): the contract then checks
   * only that the adapter does not refuse such a name. Default true.
   */
  serverHoldsLongSegments?: boolean;
  dispose(): Promise<void>;
}

/** Registers the contract for one backend; `setup` runs once, before the first test. */
export function describeDestinationContract(label: string, setup: () => Promise<ContractHarness>): void {
  describe(`destination contract: ${label}`, () => {
    let h: ContractHarness;
    let dir: string;
    const large = () => h.largeSize ?? 8 * 1024 * 1024;
    const remoteNames = async () => new Set(await h.list());
    const newNames = (before: Set<string>, after: Set<string>) => [...after].filter((n) => !before.has(n));

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "artifact-bus-contract-"));
      h = await setup();
    });

    afterAll(async () => {
      await h?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    async function uploadAndCheck(name: string, bytes: Buffer, opts: FileArtifactOptions = {}) {
      const artifact = await fileArtifact(dir, name, bytes, opts);
      const ctx = testContext();
      const receipt = await h.destination.upload(artifact, ctx);
      expect(receipt.size).toBe(bytes.length);
      expect(typeof receipt.location).toBe("string");
      expect(receipt.location.length).toBeGreaterThan(0);
      if (h.expectedLocation) expect(receipt.location).toBe(h.expectedLocation(artifact.event));
      expect(ctx.visibleChecks, "beforeVisible called before the upload was made visible").toBeGreaterThan(0);
      const stored = await h.read(artifact.event);
      expect(stored, `object for ${name} must exist`).toBeDefined();
      expect(stored!.length).toBe(bytes.length);
      expect(sha256(stored!)).toBe(artifact.event.blob.sha256);
      return { artifact, receipt, ctx };
    }

    it("says what it writes to (the order key): one per final name, so versions are ordered per name", async () => {
      const a = await fileArtifact(dir, "order/a.pt", randomBytes(10));
      const again = await fileArtifact(dir, "order/a.pt", randomBytes(20), { run: a.event.run });
      const other = await fileArtifact(dir, "order/b.pt", randomBytes(10), { run: a.event.run });
      const key = h.destination.orderKey(a.event);
      expect(key.length).toBeGreaterThan(0);
      expect(h.destination.orderKey(again.event)).toBe(key);
      expect(h.destination.orderKey(other.event)).not.toBe(key);
      const otherRun = h.destination.orderKey({ ...a.event, run: uniqueRun() });
      if (h.runsApart ?? true) expect(otherRun).not.toBe(key);
      else expect(otherRun).toBe(key);
    });

    // Names at the contract's limits: stored, or refused before any request with a PermanentError
    // that names the limit and the lengths (dead-lettered at once, never retried as transient).
    it.each([
      ["longName", `${`${"n".repeat(199)}/`.repeat(5)}${"x".repeat(24)}`], // 1,024 bytes
      ["longSegment", `long/${"s".repeat(296)}.pt`],
    ] as const)(
      "a name at the contract's limits (%s) is stored, or refused up front naming the limit",
      async (kind, name) => {
        const refusal = h.refuses?.[kind];
        const artifact = await fileArtifact(dir, name, randomBytes(1000));
        if (!refusal && kind === "longSegment" && h.serverHoldsLongSegments === false) {
          expect(h.destination.orderKey(artifact.event)).toContain(name);
          return;
        }
        if (!refusal) return void (await uploadAndCheck(name, randomBytes(1000)));
        expect(() => h.destination.orderKey(artifact.event)).toThrow(PermanentError);
        expect(() => h.destination.orderKey(artifact.event)).toThrow(refusal);
        const before = await remoteNames();
        const err = await h.destination.upload(artifact, testContext()).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PermanentError);
        expect((err as Error).message).toMatch(refusal);
        expect(newNames(before, await remoteNames())).toEqual([]);
      },
    );

    it("probe resolves while the destination is reachable", async () => {
      await h.destination.probe(AbortSignal.timeout(15_000));
    });

    it("puts identical bytes at the final name and reports location and size", async () => {
      await uploadAndCheck("checkpoints/ep1-ba100-rank0.pt", randomBytes(300 * 1024 + 7));
    });

    it("a second upload of the same name replaces the bytes, with no extra remote name", async () => {
      const run = uniqueRun();
      await uploadAndCheck("logs/trace.json", randomBytes(50_000), { run });
      const before = await remoteNames();
      const second = randomBytes(20_000);
      const { artifact } = await uploadAndCheck("logs/trace.json", second, { run });
      expect((await h.read(artifact.event))!.equals(second)).toBe(true);
      expect(newNames(before, await remoteNames())).toEqual([]);
    });

    it("handles nested directories, spaces and unicode in names", async () => {
      await uploadAndCheck("deep/nested dir/ünïcødé ☃ – ckpt (1).pt", randomBytes(4096));
    });

    it("uploads a 0-byte artifact", async () => {
      await uploadAndCheck("empty/marker.done", Buffer.alloc(0));
    });

    it("uploads an artifact above the part threshold intact, leaving one new remote name", async () => {
      const before = await remoteNames();
      const { ctx } = await uploadAndCheck("checkpoints/large.pt", randomBytes(large() + 12_345));
      expect(newNames(before, await remoteNames())).toHaveLength(1);
      expect(ctx.heartbeats.length).toBeGreaterThan(0);
      expect(Math.max(...ctx.heartbeats)).toBeLessThanOrEqual(large() + 12_345);
    });

    it.each([
      ["small", () => 256 * 1024],
      ["large", () => large() + 1024],
    ])("aborting the signal mid-upload (%s) rejects and leaves no object", async (_kind, size) => {
      const bytes = randomBytes(size());
      const ctx = testContext();
      const artifact = await fileArtifact(dir, "aborted/ckpt.pt", bytes, {
        wrap: (s) =>
          s.pipe(stallAfter(Math.floor(bytes.length * 0.75), () => ctx.controller.abort(new Error("test abort")))),
      });
      const before = await remoteNames();
      await expect(h.destination.upload(artifact, ctx)).rejects.toThrow();
      expect(ctx.signal.aborted).toBe(true);
      expect(await h.read(artifact.event)).toBeUndefined();
      expect(newNames(before, await remoteNames())).toEqual([]);
    });

    // The runtime's lease check (UploadContext.beforeVisible) fences a holder that lost its key:
    // whatever it sent before, nothing of it may become visible once the check refuses. Refused
    // at its last call (the one right before the final step, found by an upload that passes).
    it.each([
      ["small", () => 100_000],
      ["large", () => large() + 1024],
    ])("beforeVisible refusing (the lease lost) rejects and leaves nothing visible (%s)", async (_kind, size) => {
      const passing = testContext();
      await h.destination.upload(await fileArtifact(dir, "fenced/passing.pt", randomBytes(size())), passing);
      const last = passing.visibleChecks;
      expect(last).toBeGreaterThan(0);
      const lost = new LeaseLostError("test: lease lost before the visible step");
      const ctx = testContext({
        beforeVisible: async (c) => {
          if (c.visibleChecks < last) return;
          c.controller.abort(lost);
          throw lost;
        },
      });
      const artifact = await fileArtifact(dir, "fenced/ckpt.pt", randomBytes(size()));
      const before = await remoteNames();
      await expect(h.destination.upload(artifact, ctx)).rejects.toThrow();
      expect(ctx.visibleChecks).toBe(last);
      expect(await h.read(artifact.event)).toBeUndefined();
      expect(newNames(before, await remoteNames())).toEqual([]);
    });

    // The runtime types a vanished blob as PermanentError; adapters keep the type.
    it("the blob failing to open with a PermanentError (blob missing) rejects with that PermanentError", async () => {
      const artifact = await fileArtifact(dir, "missing/blob.bin", randomBytes(10), {
        openError: new PermanentError("blob missing: staged blob is gone"),
      });
      await expect(h.destination.upload(artifact, testContext())).rejects.toBeInstanceOf(PermanentError);
      expect(await h.read(artifact.event)).toBeUndefined();
    });

    it.each([
      ["small", () => 100_000],
      ["large", () => large() + 1],
    ])("a blob stream failing at its end (%s) rejects with its PermanentError, no object", async (_kind, size) => {
      const failure = new PermanentError("staged blob sha256 differs from the event's");
      const artifact = await fileArtifact(dir, "corrupt/blob.bin", randomBytes(size()), {
        wrap: (s) => s.pipe(failAtEnd(failure)),
      });
      const before = await remoteNames();
      await expect(h.destination.upload(artifact, testContext())).rejects.toBeInstanceOf(PermanentError);
      expect(await h.read(artifact.event)).toBeUndefined();
      expect(newNames(before, await remoteNames())).toEqual([]);
    });

    it("reads an upload back (openRead, where implemented): whole, a range, a missing object, a foreign location", async (t) => {
      const openRead = h.destination.openRead?.bind(h.destination);
      if (!openRead) return t.skip();
      const bytes = randomBytes(large() + 4321);
      const { artifact, receipt } = await uploadAndCheck("readback/ckpt.pt", bytes);
      const signal = AbortSignal.timeout(30_000);
      const whole = await openRead(receipt.location, undefined, signal);
      expect(whole.size).toBe(bytes.length);
      expect((await buffer(whole.body)).equals(bytes)).toBe(true);
      if (whole.sha256 !== undefined) expect(whole.sha256).toBe(artifact.event.blob.sha256);
      const part = await openRead(receipt.location, { first: 1000, last: 200_999 }, signal);
      expect(part.size).toBe(bytes.length);
      expect((await buffer(part.body)).equals(bytes.subarray(1000, 201_000))).toBe(true);
      const last = await openRead(receipt.location, { first: bytes.length - 1, last: bytes.length - 1 }, signal);
      expect((await buffer(last.body)).equals(bytes.subarray(bytes.length - 1))).toBe(true);
      // Asked for, the sha256 of the whole object comes with a range too (the gateway's ETag).
      const hashed = await openRead(receipt.location, { first: 10, last: 19 }, signal, { sha256: true });
      expect(hashed.sha256).toBe(artifact.event.blob.sha256);
      expect((await buffer(hashed.body)).equals(bytes.subarray(10, 20))).toBe(true);
      const missing = receipt.location.replace("readback/ckpt.pt", "readback/never-uploaded.pt");
      await expect(openRead(missing, undefined, signal)).rejects.toBeInstanceOf(RemoteNotFoundError);
      // Another server's location, or for a local file (no host) one outside the destination.
      const foreign = receipt.location.startsWith("file:///")
        ? "file:///etc/passwd"
        : receipt.location.replace(/^([a-z0-9]+:\/\/)[^/]+/, "$1elsewhere.invalid");
      expect(foreign).not.toBe(receipt.location);
      await expect(openRead(foreign, undefined, signal)).rejects.toBeInstanceOf(PermanentError);
    });

    it("while broken, upload and probe fail without blaming the artifact (transient, or the destination's); both work once healed", async (t) => {
      if (!h.breakDestination || !h.healDestination) return t.skip();
      const artifact = await fileArtifact(dir, "outage/ckpt.pt", randomBytes(100_000));
      await h.breakDestination();
      // Never PermanentError: an outage must not dead-letter the artifact.
      const notTheArtifact = (err: unknown) => err instanceof TransientError || err instanceof DestinationError;
      try {
        expect(notTheArtifact(await h.destination.upload(artifact, testContext()).catch((e: unknown) => e))).toBe(true);
        expect(notTheArtifact(await h.destination.probe(AbortSignal.timeout(15_000)).catch((e: unknown) => e))).toBe(
          true,
        );
      } finally {
        await h.healDestination();
      }
      await h.destination.probe(AbortSignal.timeout(15_000));
      await h.destination.upload(artifact, testContext());
      expect(sha256((await h.read(artifact.event))!)).toBe(artifact.event.blob.sha256);
    });
  });
}
