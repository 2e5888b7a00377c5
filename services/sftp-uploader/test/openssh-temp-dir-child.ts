/**
 * Run by sftp-temp-dir.test.ts as a process of its own (its TMPDIR a fresh dir): one upload over
 * the OpenSSH transport to the destination in SFTP_OPTIONS (JSON), then it prints the entries of
 * its TMPDIR and ends as argv[2] says: `close` (close() first), `exit` (process.exit without
 * close), `throw` (an uncaught error), `kill` (SIGKILL: nothing of its own can clean up).
 */
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { silentLogger } from "@artifact-bus/shared";
import { memoryArtifact, testContext } from "@artifact-bus/testkit";
import { SftpDestination } from "../src/sftp-destination.ts";

const how = process.argv[2];
const d = new SftpDestination({
  name: "sftp:tempdir",
  options: { ...JSON.parse(process.env.SFTP_OPTIONS ?? "{}"), transport: "openssh" },
  secrets: {},
  log: silentLogger,
});
await d.upload(memoryArtifact(Buffer.from(`ended by ${how}`), { name: `${how}.txt` }), testContext());
console.log(JSON.stringify(readdirSync(tmpdir())));
if (how === "close") await d.close();
else if (how === "exit") process.exit(0);
else if (how === "kill") process.kill(process.pid, "SIGKILL");
else throw new Error("an uncaught error, on purpose");
