/**
 * Resumed uploads: an S3 uploader SIGKILLed at 60 % of a large upload, and the replica that takes
 * the event over finishing it. Resumed (the ledger's record of the upload id and parts) against
 * restarted (the same run with the record deleted right after the kill: the takeover starts a new
 * upload from byte zero, as before uploads resumed). Bytes are counted where the S3 server gets
 * them, through a proxy that passes them unthrottled; time runs from the kill until the event is
 * uploaded, the takeover's wait for the lease included on both sides.
 */
import { join } from "node:path";
import { LEDGER_BUCKET, type LoggedArtifact, RESUME_KEY_PREFIX } from "@artifact-bus/shared";
import { eventually, ThrottledProxy, writeLargeFile } from "@artifact-bus/testkit";
import { Kvm } from "@nats-io/kv";
import { S3Stack } from "../test/harness/s3-stack.ts";
import { type BenchContext, secs } from "./bench-kit.ts";

const MiB = 1024 * 1024;

interface KillRun {
  bytesAfterKill: number;
  msToLanded: number;
}

export async function runResumeBench({ largeBytes: LARGE, report }: BenchContext): Promise<void> {
  const proxy = await ThrottledProxy.start({ bytesPerSecond: 64 * 1024 * MiB }); // counts, never waits
  const stack = await S3Stack.start({
    multipartApi: true,
    destination: { uploadTimeoutMs: 1_800_000 },
    s3Options: { partSizeBytes: 8 * MiB, queueSize: 4, endpoint: proxy.url },
  });
  proxy.forwardTo(stack.s3.endpoint);
  try {
    const path = join(stack.bus.dir, "resume.bin");
    await writeLargeFile(path, LARGE);
    const trainer = await stack.bus.trainer();
    const kv = await new Kvm(stack.bus.nc).open(LEDGER_BUCKET);

    const killedRun = async (round: string, forget: boolean): Promise<KillRun> => {
      const first = await stack.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
      const logged = await (
        await trainer.publisher.logFile({ project: "bench", run: "resume", name: `${round}.bin`, path, mode: "link" })
      ).durable;
      await sixtyPercent(stack, logged, LARGE);
      await first.kill("SIGKILL");
      const killedAt = performance.now();
      const sent = proxy.bytesPassed;
      if (forget) {
        for await (const key of await kv.keys(`${RESUME_KEY_PREFIX}.${stack.bus.token}.>`)) await kv.delete(key);
      }
      const second = await stack.bus.startUploader({ ARTIFACT_BUS_LOG_LEVEL: "info" });
      await trainer.publisher.flush({ timeoutMs: 1_800_000 });
      const run = { bytesAfterKill: proxy.bytesPassed - sent, msToLanded: performance.now() - killedAt };
      await second.kill("SIGTERM");
      return run;
    };
    const restarted = await killedRun("restarted", true);
    const resumed = await killedRun("resumed", false);
    const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;
    const size = gib(LARGE);
    report(
      `| bytes sent after a kill at 60 % of ${size} (S3, resumed vs restarted) | ${gib(resumed.bytesAfterKill)} | ${gib(restarted.bytesAfterKill)} | ${(restarted.bytesAfterKill / resumed.bytesAfterKill).toFixed(2)} |`,
    );
    report(
      `| time from the kill until landed (${size}, takeover wait included) | ${secs(resumed.msToLanded)} | ${secs(restarted.msToLanded)} | ${(restarted.msToLanded / resumed.msToLanded).toFixed(2)} |`,
    );
    await trainer.close();
  } finally {
    await stack.dispose();
    await proxy.close();
  }
}

/** Waits (polling the ledger, no sleeps) until the upload of `logged` reports 60 % done. */
function sixtyPercent(stack: S3Stack, logged: LoggedArtifact, size: number): Promise<unknown> {
  return eventually(
    async () => {
      const e = await stack.bus.ledger(logged).catch(() => undefined);
      return e?.state === "uploading" && (e.bytesDone ?? 0) >= size * 0.6 ? true : undefined;
    },
    1_800_000,
    "the upload to pass 60 %",
    20,
  );
}
