/**
 * A name the contract admits (at most 1,024 bytes) whose rendered path a destination cannot hold
 * is dead-lettered once, with a reason naming the limit and the lengths, and never retried: the
 * limit depends on the destination's config (prefix, template), so the adapter refuses it before
 * any request. Before, S3 refused a 1,024-byte name under a prefix saying the *name* was 1,029
 * bytes long (the limit is 1,024), and an SFTP path whose template made a segment past NAME_MAX
 * reached the server, whose catch-all FAILURE read as transient: retried until attempts ran out.
 * Real processes: nats-server, s3rver and OpenSSH sshd, each destination's uploader.
 */
import { join } from "node:path";
import { writeRandomFile } from "@artifact-bus/testkit";
import { expect, it } from "vitest";
import { S3Stack } from "./harness/s3-stack.ts";
import { SftpStack } from "./harness/sftp-stack.ts";

it("S3: a 1,024-byte name under a prefix is dead-lettered once: the key's length, the name's and the prefix's, S3's limit", async () => {
  const stack = await S3Stack.start({ destination: { maxDeliver: 3 }, s3Options: { prefix: "team-a/run" } });
  try {
    const uploader = await stack.bus.startUploader();
    const t = await stack.bus.trainer();
    const path = join(stack.bus.dir, "a.bin");
    writeRandomFile(path, 100);
    const name = `${`${"n".repeat(199)}/`.repeat(5)}${"x".repeat(24)}`;
    expect(Buffer.byteLength(name)).toBe(1024);
    const long = await t.publisher.logFile({ project: "p", run: "r1", name, path });
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
    const long = await t.publisher.logFile({ project: "p", run, name: `${"s".repeat(240)}/a.pt`, path });
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
