/**
 * Trainer-side staging: how long `logFile` of a large file keeps the trainer waiting in each
 * staging mode, and how long until its `durable` (hashed, published, PubAck). No uploader runs,
 * so nothing competes with the trainer. Copy mode is paired with `cp` of the same file, each
 * side starting with the other's copy gone and flushed; copy-on-write is measured on an XFS
 * image (a loop mount), against `cp` there (which clones too).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ArtifactPublisher, FsBlobStore, type LogFileRequest } from "@artifact-bus/shared";
import { mountXfs, writeLargeFile } from "@artifact-bus/testkit";
import { BusStack } from "../test/harness/bus-stack.ts";
import { atMost, type BenchContext, median, ms, ROUNDS, spread } from "./bench-kit.ts";

const DIR_MAIN = resolve(import.meta.dirname, "../services/dir-uploader/src/main.ts");
const range = (xs: number[]) => `${ms(median(xs))} (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`;

interface Timed {
  returned: number;
  durable: number;
}

/** Times one logFile: until it returns, and until its durable resolves. Removes the blob after. */
async function timeLogFile(publisher: ArtifactPublisher, store: FsBlobStore, req: LogFileRequest): Promise<Timed> {
  const t0 = performance.now();
  const handle = await publisher.logFile(req);
  const returned = performance.now() - t0;
  const logged = await handle.durable;
  const durable = performance.now() - t0;
  await store.remove(logged.blob);
  return { returned, durable };
}

export async function runStagingBench({ largeBytes, report, target }: BenchContext): Promise<void> {
  const rounds = Math.max(3, ROUNDS);
  const stack = await BusStack.start({
    // Never started: the destination only makes logFile accept the artifacts.
    destination: {
      name: "dir:staging",
      filter: { project: "bench", run: "*", level: "*" },
      options: { root: tmpdir() },
    },
    main: DIR_MAIN,
  });
  const sync = () => execFileSync("sync");
  try {
    const staging = new FsBlobStore(stack.config.staging.dir!);
    const publisher = await ArtifactPublisher.create({ nc: stack.nc, blobStore: staging });
    const big = join(stack.dir, "big.bin");
    await writeLargeFile(big, largeBytes);
    const size = `${(largeBytes / 1024 ** 3).toFixed(2)} GiB`;
    const log = (name: string, path: string, mode: LogFileRequest["mode"]) =>
      timeLogFile(publisher, staging, { project: "bench", run: "staging", name, path, mode });
    await log("warm-up.bin", big, "link"); // destinations listed, hashing thread started

    // link and move: metadata calls only, whatever the size.
    for (const mode of ["link", "move"] as const) {
      const times: Timed[] = [];
      for (let r = 0; r < rounds; r++) {
        const src = mode === "move" ? join(stack.dir, "move.bin") : big;
        if (mode === "move") copyFileSync(big, src);
        times.push(await log(`${mode}-${r}.bin`, src, mode));
      }
      report(
        `| logFile ${size}, mode ${mode}, returns (median of ${rounds}, min–max) | ${range(times.map((t) => t.returned))}; durable after ${range(times.map((t) => t.durable))} | | (target ≤ 5 ms) |`,
      );
      if (mode === "link") {
        const returned = median(times.map((t) => t.returned));
        target(
          atMost(`logFile ${size}, link, returns (median; measured alone, not after a flush)`, returned, 5, " ms"),
        );
      }
    }

    // copy without copy-on-write (this disk): the kernel's copy, paired with cp.
    const cpTimes: number[] = [];
    const copyTimes: Timed[] = [];
    const cpDest = join(stack.dir, "cp.bin");
    for (let r = 0; r < rounds; r++) {
      sync();
      const t0 = performance.now();
      execFileSync("cp", [big, cpDest]);
      cpTimes.push(performance.now() - t0);
      rmSync(cpDest);
      sync();
      copyTimes.push(await log(`copy-${r}.bin`, big, "copy"));
      sync();
    }
    const copyReturned = copyTimes.map((t) => t.returned);
    report(
      `| logFile ${size}, mode copy (no copy-on-write), returns (median of ${rounds} paired rounds) | ${range(copyReturned)}; durable after ${range(copyTimes.map((t) => t.durable))} | cp ${range(cpTimes)} | time ratio to cp ${spread(copyReturned, cpTimes)} (target ≤ 1.1) |`,
    );

    // copy on a copy-on-write filesystem: a clone.
    let xfs: ReturnType<typeof mountXfs> | undefined;
    try {
      xfs = mountXfs(2 * largeBytes + (512 << 20));
    } catch (err) {
      report(`| logFile ${size}, mode copy on XFS (clone) | not measured: ${(err as Error).message} | | |`);
    }
    if (xfs) {
      try {
        const cowStore = new FsBlobStore(join(xfs.dir, "staging"));
        const cow = await ArtifactPublisher.create({ nc: stack.nc, blobStore: cowStore });
        const src = join(xfs.dir, "trainer", "big.bin");
        mkdirSync(join(xfs.dir, "trainer"));
        copyFileSync(big, src);
        const clones: Timed[] = [];
        const cpClones: number[] = [];
        for (let r = 0; r < rounds; r++) {
          const t0 = performance.now();
          execFileSync("cp", ["--reflink=always", src, join(xfs.dir, "cp.bin")]);
          cpClones.push(performance.now() - t0);
          rmSync(join(xfs.dir, "cp.bin"));
          const t = performance.now();
          const handle = await cow.logFile({
            project: "bench",
            run: "cow",
            name: `cow-${r}.bin`,
            path: src,
            mode: "copy",
          });
          const returned = performance.now() - t;
          if (handle.how !== "clone") throw new Error(`expected a clone on XFS, got ${handle.how}`);
          const logged = await handle.durable;
          clones.push({ returned, durable: performance.now() - t });
          await cowStore.remove(logged.blob);
        }
        report(
          `| logFile ${size}, mode copy on XFS (a clone), returns (median of ${rounds}) | ${range(clones.map((t) => t.returned))}; durable after ${range(clones.map((t) => t.durable))} | cp --reflink ${range(cpClones)} | (target ≤ 5 ms) |`,
        );
      } finally {
        xfs.dispose();
      }
    }
  } finally {
    await stack.dispose();
  }
}
