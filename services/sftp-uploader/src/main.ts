/** The SFTP uploader service: the shared runtime serving every `sftp:*` destination in the config. */
import { runUploaderMain } from "@artifact-bus/shared";
import { sftpDestinationFactory } from "./sftp-factory.ts";

await runUploaderMain(sftpDestinationFactory);
