/**
 * A name the contract admits (at most 1,024 bytes) whose rendered path a destination cannot hold
 * is dead-lettered once, with a reason naming the limit and the lengths, and never retried: the
 * limit depends on the destination's config (prefix, template), so the adapter refuses it before
 * any request. Before, S3 refused a 1,024-byte name under a prefix saying the *name* was 1,029
 * bytes long (the limit is 1,024), and an SFTP path whose template made a segment past NAME_MAX
 * reached the server, whose catch-all FAILURE read as transient: retried until attempts ran out.
 * Publishers of this release refuse such a name at once (its name rules carry the path's
 * template, base and limit: name-path-rules.test.ts); the event here comes from a producer that
 * does not check (an older release's, or one in another language), published by hand.
 * Real processes: nats-server, s3rver and OpenSSH sshd, each destination's uploader.
 */
import { join } from "node:path";
import { eventSubject, FsBlobStore } from "@artifact-bus/shared";
import { writeRandomFile } from "@artifact-bus/testkit";
import { expect, it } from "vitest";
import type { BusStack, Trainer } from "./harness/bus-stack.ts";
import { RawProducer } from "./harness/raw-producer.ts";
import { S3Stack } from "./harness/s3-stack.ts";
import { SftpStack } from "./harness/sftp-stack.ts";

/** Publishes an event of `name` by hand, as a producer that does not check name rules would. */
async function publishUnchecked(bus: BusStack, t: Trainer, project: string, run: string, name: string) {
  const raw = new RawProducer(t.nc, new FsBlobStore(bus.config.staging.dir), bus.dir);
  const event = await raw.event(project, run, name, Buffer.from("x"));
  await raw.publish(eventSubject({ project, run, level: "fit", name }), event, event.id);
  return event;
}

it("S3: a 1,024-byte name under a prefix is dead-lettered once: the key's length, the name's and the prefix's, S3's limit", async () => {
  const stack = await S3Stack.start({ destination: { maxDeliver: 3 }, s3Options: { prefix: "team-a/run" } });
  try {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "a.bin");
    writeRandomFile(path, 100);
    const name = `${`${"n".repeat(199)}/`.repeat(5)}${"x".repeat(24)}`;
    expect(Buffer.byteLength(name)).toBe(1024);
    const long = await publishUnchecked(stack.bus, t, "p", "r1", name);
    const fits = await t.publisher.logFile({ project: "p", run: "r1", name: name.slice(0, 990), path });

    const reason =
      /s3:e2e: object key is 1,040 bytes \(name 1,024 \+ prefix "team-a\/run\/" 11 \+ 5 from template "\{project\}\/\{run\}\/\{name\}"\); S3 allows at most 1,024 bytes/;
    expect(await stack.bus.ledgerReaches(long, "dead")).toMatchObject({
      attempts: 0,
      error: expect.stringMatching(reason),
    });
    await stack.bus.ledgerReaches(fits, "uploaded");
    const letters = await stack.bus.deadLetters();
    expect(letters.map((l) => [l.eventId, l.errorClass])).toEqual([[long.id, "permanent"]]);
    expect(letters[0]!.attempts).toBe(0); // refused before any upload attempt
    expect(letters[0]!.reason).toMatch(reason);
    await t.close();
    await uploader.kill("SIGTERM");
  } finally {
    await stack.dispose();
  }
});

it("SFTP: a template that makes a segment past 255 bytes is dead-lettered once, naming the segment's length and the limit", async () => {
  // {run}-{name}: the name's first segment (240 bytes, which the publisher's name rules let pass)
  // becomes a directory of 261 bytes.
  const stack = await SftpStack.start({
    destination: { maxDeliver: 3 },
    sftpOptions: { pathTemplate: "{project}/{run}-{name}" },
  });
  try {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "a.bin");
    writeRandomFile(path, 100);
    const run = "r-twenty-bytes-long1";
    const long = await publishUnchecked(stack.bus, t, "p", run, `${"s".repeat(240)}/a.pt`);
    const fits = await t.publisher.logFile({ project: "p", run, name: `${"s".repeat(200)}/a.pt`, path });

    const reason =
      /sftp:e2e: segment "r-twenty-bytes-long1-s{19}…" is 261 bytes \(made by template "\{project\}\/\{run\}-\{name\}"\); file names there are at most 255 bytes/;
    expect(await stack.bus.ledgerReaches(long, "dead")).toMatchObject({
      attempts: 0,
      error: expect.stringMatching(reason),
    });
    await stack.bus.ledgerReaches(fits, "uploaded");
    const letters = await stack.bus.deadLetters();
    expect(letters.map((l) => [l.eventId, l.errorClass])).toEqual([[long.id, "permanent"]]);
    expect(letters[0]!.attempts).toBe(0); // refused before any upload attempt
    expect(letters[0]!.reason).toMatch(reason);
    await t.close();
    await uploader.kill("SIGTERM");
  } finally {
    await stack.dispose();
  }
});
