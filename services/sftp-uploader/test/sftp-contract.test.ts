/**
 * The shared destination contract, run for SFTP against the real sshd, once per transport (ssh2
 * in process, and the OpenSSH client as a child). Reads go to the server's own disk (this
 * machine), independent of the client under test.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ArtifactEventV1 } from "@artifact-bus/shared";
import { silentLogger } from "@artifact-bus/shared";
import { describeDestinationContract, SshdServer } from "@artifact-bus/testkit";
import { SftpDestination } from "../src/sftp-destination.ts";

let runs = 0;

async function setup(transport: "ssh2" | "openssh") {
  const server = await SshdServer.start();
  const root = server.mkdirForUser(`contract-${++runs}`);
  const destination = new SftpDestination({
    name: "sftp:contract",
    options: server.sftpOptions(root, { connectTimeoutMs: 5000, transport }),
    secrets: {},
    log: silentLogger,
  });
  return {
    destination,
    read(event: ArtifactEventV1): Buffer | undefined {
      const path = destination.pathsOf(event).final;
      return existsSync(path) ? readFileSync(path) : undefined;
    },
    /** Every file under root, temp files included, as paths relative to root. */
    list(): string[] {
      return readdirSync(root, { recursive: true, encoding: "utf8" })
        .filter((p) => statSync(join(root, p)).isFile())
        .sort();
    },
    refuses: { longSegment: /segment "s{20}[^"]*" is 299 bytes; file names there are at most 255 bytes/ },
    breakDestination: () => server.kill(),
    healDestination: () => server.restart(),
    async dispose() {
      await destination.close();
      await server.dispose();
    },
  };
}

describeDestinationContract("sftp (OpenSSH sshd, ssh2 transport)", () => setup("ssh2"));
describeDestinationContract("sftp (OpenSSH sshd, openssh transport)", () => setup("openssh"));
