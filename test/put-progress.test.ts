/**
 * `artifact-bus put --wait` shows progress while a long upload runs: the uploader writes the
 * bytes done into the ledger at a bounded rate, and the command draws bars on a terminal (a
 * pseudo-terminal from `script`) or writes plain lines on a pipe. The uploader reaches the real
 * S3 server through a proxy that passes 16 MiB/s, so an upload lasts a few seconds anywhere.
 */
import { join } from "node:path";
import { LEDGER_BUCKET, type LedgerEntry, runLedgerFilter } from "@artifact-bus/shared";
import { sha256, ThrottledProxy, writeLargeFile } from "@artifact-bus/testkit";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliRun, runCli } from "./harness/cli.ts";
import { S3Stack } from "./harness/s3-stack.ts";

const MiB = 1 << 20;
let stack: S3Stack;
let proxy: ThrottledProxy;

beforeAll(async () => {
  proxy = await ThrottledProxy.start({ bytesPerSecond: 16 * MiB });
  stack = await S3Stack.start({ s3Options: { endpoint: proxy.url, partSizeBytes: 5 * MiB } });
  proxy.forwardTo(stack.s3.endpoint);
  await stack.bus.startUploader();
});
afterAll(async () => {
  await stack?.dispose();
  await proxy?.close();
});

const env = () => ({ ARTIFACT_BUS_CONFIG: stack.bus.configPath });

describe("artifact-bus put --wait", () => {
  it("on a pipe: plain lines from staging to uploaded, with the upload's progress from the ledger, written at most once a second", async () => {
    const path = join(stack.bus.dir, "big.pt");
    const size = 64 * MiB;
    const hash = await writeLargeFile(path, size);
    // Every ledger update of the run, as the server stamped it.
    const kv = await new Kvm(stack.bus.nc).open(LEDGER_BUCKET);
    const watch = await kv.watch({ key: runLedgerFilter("progress", "pipe"), include: KvWatchInclude.UpdatesOnly });
    const seen: { entry: LedgerEntry; at: number }[] = [];
    void (async () => {
      for await (const e of watch) if (e.operation === "PUT") seen.push({ entry: e.json(), at: e.created.getTime() });
    })();

    const put = new CliRun(["put", "--project", "progress", "--run", "pipe", "--wait", "120", path], env());
    const code = await put.exited;
    watch.stop();
    expect(code, put.output()).toBe(0);
    const event = JSON.parse(put.stdout.split("\n")[0] ?? "");
    expect(event).toMatchObject({ size, sha256: hash, destinations: ["s3:e2e"] });
    expect(put.stdout).toContain("landed at every destination");
    expect(put.stderr).not.toContain("\x1b");
    const lines = put.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe("staging big.pt (64.0 MiB)");
    expect(lines).toContain("waiting for s3:e2e");
    const partial = lines
      .map((l) => /^s3:e2e: uploading [\d.]+ \w+ \/ 64\.0 MiB \((\d+)%\)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]));
    expect(
      partial.some((p) => p > 0 && p < 100),
      put.stderr,
    ).toBe(true);
    expect(lines.at(-1)).toBe("s3:e2e: uploaded (s3://artifacts/progress/pipe/big.pt)");

    // The ledger: progress rose, and was written at most about once a second.
    const progress = seen.filter((s) => s.entry.state === "uploading" && s.entry.bytesDone !== undefined);
    const bytes = progress.map((s) => s.entry.bytesDone ?? 0);
    expect(bytes.length).toBeGreaterThanOrEqual(2);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(Math.max(...bytes)).toBeLessThanOrEqual(size);
    const spanS = ((progress.at(-1)?.at ?? 0) - (progress[0]?.at ?? 0)) / 1000;
    expect(progress.length).toBeLessThanOrEqual(Math.floor(spanS) + 2);
    expect(seen.at(-1)?.entry).toMatchObject({ state: "uploaded", attempts: 1 });
    expect(seen.at(-1)?.entry.bytesDone).toBeUndefined();
    const got = await stack.getObject("progress/pipe/big.pt");
    expect(got && sha256(got)).toBe(hash);
  });

  it("on a terminal: bars redrawn in place for staging and the destination, ending at 100%", async () => {
    const path = join(stack.bus.dir, "tty.pt");
    await writeLargeFile(path, 24 * MiB);
    const r = await runCli(["put", "--project", "progress", "--run", "tty", "--wait", "120", path], env(), {
      tty: true,
    });
    expect(r.code, r.stdout).toBe(0);
    const out = r.stdout.replaceAll("\r\n", "\n"); // the terminal's line endings
    expect(out).toMatch(/staging +\[█{24}\] 100% +24\.0 MiB \/ 24\.0 MiB +tty\.pt staged/);
    // Redrawn over itself: cursor up one line (the destination row), the line erased.
    expect(out).toContain("\x1b[1F\x1b[2Ks3:e2e");
    // Cut at the terminal's width (80 columns: the pseudo-terminal tells none), never wrapped.
    expect(out).toMatch(/s3:e2e +\[█{24}\] 100% +24\.0 MiB \/ 24\.0 MiB +uploaded: s3:\/\/art\n/);
    for (const line of out.split("\n")) if (line.includes("\x1b[2K")) expect(line.length).toBeLessThanOrEqual(79 + 9);
    expect(out).toContain("landed at every destination");
  });

  it("--quiet writes no progress; without --wait it returns once the event is durable", async () => {
    const path = join(stack.bus.dir, "small.txt");
    await writeLargeFile(path, 1000);
    const r = await runCli(["put", "--quiet", "--project", "progress", "--run", "quiet", path], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ size: 1000, destinations: ["s3:e2e"] });
  });
});
