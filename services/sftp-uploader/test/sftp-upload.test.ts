/** Uploads against the real OpenSSH sshd, read back through the `sftp` CLI (not ssh2). */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { Readable } from "node:stream";
import { DestinationError, PermanentError, silentLogger, TransientError } from "@artifact-bus/shared";
import {
  eventually,
  listRemoteDir,
  memoryArtifact,
  readRemoteFiles,
  SshdServer,
  sha256,
  streamedArtifact,
  testContext,
  testEvent,
} from "@artifact-bus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SftpDestination } from "../src/sftp-destination.ts";

let server: SshdServer;
const destinations: SftpDestination[] = [];

beforeAll(async () => {
  server = await SshdServer.start();
});

afterAll(async () => {
  await Promise.all(destinations.map((d) => d.close()));
  await server?.dispose();
});

/** A destination on its own subdirectory of the server's root, so tests do not see each other. */
function destination(sub: string, extra: Record<string, unknown> = {}): SftpDestination {
  const root = server.mkdirForUser(sub);
  const d = new SftpDestination({
    name: `sftp:${sub}`,
    options: server.sftpOptions(root, extra),
    secrets: {},
    log: silentLogger,
  });
  destinations.push(d);
  return d;
}

describe("SftpDestination against real sshd", () => {
  it("uploads bytes that read back identical through an independent sftp client", async () => {
    const d = destination("roundtrip");
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const artifact = memoryArtifact(bytes, { name: "checkpoints/ep1-ba100-rank0.pt" });
    const ctx = testContext();
    const receipt = await d.upload(artifact, ctx);
    const final = d.pathsOf(artifact.event).final;
    expect(final).toBe(posix.join(server.rootDir, "roundtrip/proj/run-1/checkpoints/ep1-ba100-rank0.pt"));
    expect(receipt).toMatchObject({ size: bytes.length, details: { path: final, rename: "posix-rename" } });
    expect(receipt.location).toBe(`sftp://127.0.0.1:${server.port}${final}`);
    expect(ctx.heartbeats.length).toBeGreaterThan(1);
    expect(ctx.heartbeats.at(-1)).toBe(bytes.length);
    const [back] = await readRemoteFiles(server, [final]);
    expect(back && sha256(back)).toBe(sha256(bytes));
    expect(await listRemoteDir(server, posix.dirname(final))).toEqual(["ep1-ba100-rank0.pt"]);
  });

  it("uploads an empty file and overrides a key with the newer bytes", async () => {
    const d = destination("override");
    const first = memoryArtifact(Buffer.alloc(0), { name: "latest.txt" });
    await d.upload(first, testContext());
    const second = memoryArtifact(Buffer.from("v2"), { name: "latest.txt" });
    await d.upload(second, testContext());
    const [back] = await readRemoteFiles(server, [d.pathsOf(second.event).final]);
    expect(back?.toString()).toBe("v2");
    expect(await listRemoteDir(server, d.pathsOf(second.event).dir)).toEqual(["latest.txt"]);
  });

  it.each([
    ["ssh2", "channels of one connection", 1],
    ["openssh", "ssh sessions, one per channel", 8],
  ] as const)("moves 100 artifacts through concurrent %s %s, reused, all intact", async (transport, _how, logins) => {
    const d = destination(`many-${transport}`, { maxChannels: 8, transport });
    const loginsBefore = server.acceptedLogins;
    const artifacts = Array.from({ length: 100 }, (_, i) =>
      memoryArtifact(randomBytes(1000 + i * 997), { name: `batch/${i % 7}/file-${i}.bin`, run: `run-${i % 3}` }),
    );
    const started = Date.now();
    const receipts = await Promise.all(artifacts.map((a) => d.upload(a, testContext())));
    const elapsed = Date.now() - started;
    expect(receipts).toHaveLength(100);
    expect(d.transport).toBe(transport);
    expect(d.connects).toBeGreaterThanOrEqual(1);
    expect(d.connects).toBeLessThanOrEqual(logins);
    expect(server.acceptedLogins - loginsBefore).toBe(d.connects);
    const back = await readRemoteFiles(
      server,
      artifacts.map((a) => d.pathsOf(a.event).final),
    );
    back.forEach((bytes, i) => {
      expect(bytes && sha256(bytes), `artifact ${i}`).toBe(artifacts[i]!.event.blob.sha256);
    });
    const partials = readdirSync(join(server.rootDir, `many-${transport}`), { recursive: true }).filter((f) =>
      String(f).endsWith(".partial"),
    );
    expect(partials).toEqual([]);
    expect(elapsed).toBeLessThan(30_000);
  });

  it("re-reads and hashes the upload when verifyByReadback is on, failing on a mismatch", async () => {
    const d = destination("readback", { verifyByReadback: true });
    const good = memoryArtifact(randomBytes(100_000), { name: "good.bin" });
    await d.upload(good, testContext());
    // A source that streams other bytes than the event's sha256 says, without the runtime's check.
    const lying = streamedArtifact(
      good,
      () => Readable.from([randomBytes(100_000)]),
      testEvent({ name: "bad.bin", size: 100_000, sha256: "0".repeat(64) }),
    );
    const err = await d.upload(lying, testContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/reads back with sha256 [0-9a-f]{64}, expected 0{64}/);
    const dir = d.pathsOf(lying.event).dir;
    expect(await listRemoteDir(server, dir)).toEqual(["good.bin"]);
  });

  it("fails as transient when fewer bytes arrive than the event announces, leaving no file", async () => {
    const d = destination("short");
    const artifact = memoryArtifact(randomBytes(5000), { name: "short.bin" });
    const short = streamedArtifact(artifact, () => Readable.from([randomBytes(5000)]), {
      ...artifact.event,
      blob: { ...artifact.event.blob, size: 6000 },
    });
    const err = await d.upload(short, testContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/has 5000 bytes after the upload, expected 6000/);
    expect(await listRemoteDir(server, d.pathsOf(short.event).dir)).toEqual([]);
  });

  it("removes stale temp files of the same artifact and keeps other files", async () => {
    const d = destination("stale", { staleTempMaxAgeMs: 60_000 });
    const artifact = memoryArtifact(Buffer.from("fresh"), { name: "model.pt" });
    const paths = d.pathsOf(artifact.event);
    server.mkdirForUser(paths.dir);
    const old = join(paths.dir, ".model.pt.evOLDCRASHED01.partial");
    const young = join(paths.dir, ".model.pt.evSTILLRUNNING.partial");
    const otherArtifact = join(paths.dir, ".model.pt.x.evOLDCRASHED02.partial");
    for (const f of [old, young, otherArtifact]) writeFileSync(f, "junk");
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(old, hourAgo, hourAgo);
    utimesSync(otherArtifact, hourAgo, hourAgo);
    await d.upload(artifact, testContext());
    expect(existsSync(old)).toBe(false);
    expect(existsSync(young)).toBe(true);
    expect(existsSync(otherArtifact)).toBe(true);
    expect(existsSync(paths.final)).toBe(true);
  });

  it("aborts on ctx.signal: rejects as transient, removes its temp file, writes no final file", async () => {
    const d = destination("abort");
    const artifact = memoryArtifact(Buffer.alloc(0), { name: "slow.bin" });
    const event = { ...artifact.event, blob: { ...artifact.event.blob, size: 8 * 1024 * 1024 } };
    // One megabyte, then nothing: the upload hangs until it is aborted.
    const source = new Readable({ read() {} });
    source.push(randomBytes(1024 * 1024));
    const ctx = testContext();
    const paths = d.pathsOf(event);
    const upload = d.upload(
      streamedArtifact(artifact, () => source, event),
      ctx,
    );
    await eventually(
      () => (existsSync(paths.temp) && statSync(paths.temp).size === 1024 * 1024) || undefined,
      10_000,
      "the temp file",
      5,
    );
    ctx.controller.abort(new Error("shutdown"));
    const err = await upload.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/aborted: shutdown/);
    expect(source.destroyed).toBe(true);
    expect(existsSync(paths.temp)).toBe(false);
    expect(existsSync(paths.final)).toBe(false);
  });

  it("fails a stalled upload as transient after stallTimeoutMs", async () => {
    const d = destination("stall", { stallTimeoutMs: 300 });
    const artifact = memoryArtifact(Buffer.alloc(0), { name: "stuck.bin" });
    const event = { ...artifact.event, blob: { ...artifact.event.blob, size: 10 } };
    const started = Date.now();
    const err = await d
      .upload(
        streamedArtifact(artifact, () => new Readable({ read() {} }), event),
        testContext(),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/no progress for 300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(existsSync(d.pathsOf(event).temp)).toBe(false);
  });

  it("refuses a hidden segment such as .ssh/authorized_keys, writing nothing, unless the destination opts in", async () => {
    const d = destination("hidden");
    const artifact = memoryArtifact(Buffer.from("ssh-ed25519 AAAA attacker"), { name: ".ssh/authorized_keys" });
    const err = await d.upload(artifact, testContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(/allowDotSegments/);
    expect(() => d.orderKey(artifact.event)).toThrow(PermanentError);
    expect(existsSync(join(d.options.root, artifact.event.project))).toBe(false);
    const open = destination("hidden-ok", { allowDotSegments: true });
    const config = memoryArtifact(Buffer.from("lr: 0.1"), { name: ".hydra/config.yaml" });
    await open.upload(config, testContext());
    expect(statSync(open.pathsOf(config.event).final).size).toBe(7);
  });

  it("refuses a path past PATH_MAX with its temporary name before any request, naming the lengths", async () => {
    // A root of 3,200 bytes that does not exist: any request would fail otherwise (DestinationError).
    const root = `/${`${"d".repeat(199)}/`.repeat(16).slice(0, -1)}`;
    const d = new SftpDestination({
      name: "sftp:deep",
      options: server.sftpOptions(root),
      secrets: {},
      log: silentLogger,
    });
    destinations.push(d);
    // The final path is 4,095 bytes, which a server takes; its temporary name beside it is longer.
    const under = Buffer.byteLength(`${root}/proj/run-1/`);
    const name = `${`${"n".repeat(199)}/`.repeat(4)}${"x".repeat(4095 - under - 800)}`;
    const artifact = memoryArtifact(Buffer.from("x"), { name });
    const err = await d.upload(artifact, testContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(
      /^sftp:deep: path is 4,095 bytes \(name [\d,]+ \+ root "\/d{39}…" 3,200 \+ 12 from template "\{project\}\/\{run\}\/\{name\}"\), 4,1\d\d with the temporary name written beside it; paths are at most 4,095 bytes$/,
    );
    expect(() => d.orderKey(artifact.event)).toThrow((err as Error).message);
  });

  it("probes: succeeds on a directory root; a missing root breaks the destination, for probes and uploads", async () => {
    await destination("probe").probe(AbortSignal.timeout(5000));
    const missing = destination("probe-missing");
    const gone = new SftpDestination({
      name: "sftp:gone",
      options: { ...missing.options, root: join(server.rootDir, "does-not-exist") },
      secrets: {},
      log: silentLogger,
    });
    destinations.push(gone);
    const probe = await gone.probe(AbortSignal.timeout(5000)).catch((e: unknown) => e);
    expect(probe).toBeInstanceOf(DestinationError);
    expect((probe as Error).message).toMatch(/root .*does-not-exist does not exist/);
    // Not the artifact's fault: the runtime pauses the destination instead of dead-lettering it.
    const upload = await gone
      .upload(memoryArtifact(Buffer.from("x"), { name: "a/b.txt" }), testContext())
      .catch((e) => e);
    expect(upload).toBeInstanceOf(DestinationError);
    expect((upload as Error).message).toMatch(/root .*does-not-exist does not exist/);
  });
});
