/** How the shared runtime builds an SFTP destination from its config entry. */
import type { DestinationFactory } from "@artifact-bus/shared";
import { SftpDestination } from "./sftp-destination.ts";
import { secretsFromEnv } from "./sftp-options.ts";

/**
 * Builds `sftp:*` destinations. The key passphrase and the password come from the environment
 * (ARTIFACT_BUS_SFTP_PASSPHRASE, ARTIFACT_BUS_SFTP_PASSWORD), never from the config file.
 */
export const sftpDestinationFactory: DestinationFactory = {
  kind: "sftp",
  create: (config, log) =>
    new SftpDestination({
      name: config.name,
      options: config.options,
      secrets: secretsFromEnv(),
      // Connection warnings (drops, insecure host keys) are logged outside any upload: name the destination.
      log: log.child({ destination: config.name }),
    }),
};
