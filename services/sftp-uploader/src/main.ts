/** The SFTP uploader service: the shared runtime serving every `sftp:*` destination in the config. */
import { startUploaderService } from "@artifact-bus/shared";
import { sftpDestinationFactory } from "./sftp-factory.ts";

await startUploaderService(sftpDestinationFactory, {
  ensureTopology: process.env.ARTIFACT_BUS_ENSURE_TOPOLOGY === "1",
});
