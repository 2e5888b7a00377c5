/** How the shared runtime builds an SFTP destination from its config entry. */
import { createRequire } from "node:module";
import type { DestinationFactory, Logger } from "@artifact-bus/shared";
import { SftpDestination } from "./sftp-destination.ts";
import { secretsFromEnv } from "./sftp-options.ts";

let cryptoChecked = false;

/**
 * Warns once when ssh2 runs without its native crypto addon, typically because `npm install`
 * ran under another Node version than the service (the addon is then silently skipped).
 * ssh2 falls back to a JavaScript AES-GCM path that creates a cipher per packet: uploads then
 * run at about half the speed.
 */
function warnWithoutNativeCrypto(log: Logger): void {
  if (cryptoChecked) return;
  cryptoChecked = true;
  let native: unknown;
  try {
    // Internal module of ssh2 1.x; if it moves, we just cannot tell and say nothing.
    native = (createRequire(import.meta.url)("ssh2/lib/protocol/crypto.js") as { bindingAvailable?: unknown })
      .bindingAvailable;
  } catch {
    return;
  }
  if (native === false) {
    log.warn(
      { node: process.version },
      "ssh2's native crypto addon is not loaded (built for another Node version?): SFTP encryption runs in JavaScript at about half speed; run `npm rebuild ssh2` with this Node",
    );
  }
}

/**
 * Builds `sftp:*` destinations. The key passphrase and the password come from the environment
 * (ARTIFACT_BUS_SFTP_PASSPHRASE, ARTIFACT_BUS_SFTP_PASSWORD), never from the config file.
 */
export const sftpDestinationFactory: DestinationFactory = {
  kind: "sftp",
  create: (config, log) => {
    warnWithoutNativeCrypto(log);
    return new SftpDestination({
      name: config.name,
      options: config.options,
      secrets: secretsFromEnv(),
      // Connection warnings (drops, insecure host keys) are logged outside any upload: name the destination.
      log: log.child({ destination: config.name }),
    });
  },
};
