/**
 * A path the server refuses as too long or invalid is the artifact's: OpenSSH's sftp-server
 * answers BAD_MESSAGE for ENAMETOOLONG and EINVAL, which no retry changes. Before, it read as
 * transient and was retried until attempts ran out. The adapter refuses the limits it knows
 * before any request (path-limits.ts); this is for those it cannot know (a remote filesystem
 * with a shorter NAME_MAX). Against the real sshd, on both transports.
 */
import { PermanentError, silentLogger } from "@artifact-bus/shared";
import { SshdServer } from "@artifact-bus/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdirs, stat } from "../src/sftp-ops.ts";
import { parseSftpOptions } from "../src/sftp-options.ts";
import { createTransport } from "../src/transport-choice.ts";

let server: SshdServer;

beforeAll(async () => {
  server = await SshdServer.start();
});
afterAll(async () => {
  await server?.dispose();
});

it.each(["ssh2", "openssh"] as const)(
  "a segment the server refuses as too long fails as PermanentError (%s)",
  async (transport) => {
    const root = server.mkdirForUser(`refusals-${transport}`);
    const options = parseSftpOptions(server.sftpOptions(root, { transport }), {});
    const connection = createTransport(options, {}, silentLogger);
    try {
      const long = `${root}/${"s".repeat(300)}`;
      const signal = AbortSignal.timeout(15_000);
      const statErr = await connection.withChannel(signal, (c) => stat(c, long)).catch((e: unknown) => e);
      expect(statErr).toBeInstanceOf(PermanentError);
      expect((statErr as Error).message).toMatch(/the server refuses the path \(too long, or invalid\)/);
      const mkdirErr = await connection
        .withChannel(signal, (c) => mkdirs(c, root, `${long}/x`))
        .catch((e: unknown) => e);
      expect(mkdirErr).toBeInstanceOf(PermanentError);
    } finally {
      await connection.close();
    }
  },
);
