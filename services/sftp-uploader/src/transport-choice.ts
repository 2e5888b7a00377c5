/**
 * Which transport a destination uses (option `transport`), and building it. "auto" takes the
 * OpenSSH client when it can do the job as well: an `ssh` binary on PATH, a pinned host key,
 * and a private key usable without a passphrase (ssh runs in BatchMode and cannot ask).
 */
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Logger } from "@artifact-bus/shared";
import ssh2 from "ssh2";
import { OpensshConnection } from "./openssh-connection.ts";
import { SSH_BINARY } from "./openssh-session.ts";
import { SftpConnection } from "./sftp-connection.ts";
import type { SftpOptions, SftpSecrets } from "./sftp-options.ts";
import type { SftpTransport } from "./sftp-transport.ts";

/** Whether `binary` is an executable file in a directory of `path` (PATH's format). */
export function onPath(binary: string, path = process.env.PATH ?? ""): boolean {
  return path
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(join(dir, binary), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** Why "auto" cannot use OpenSSH for these options, or undefined when it can. */
export function opensshUnusable(options: SftpOptions, secrets: SftpSecrets, path?: string): string | undefined {
  if (!options.knownHostsFile && !options.hostKeyFingerprint) return "no host key is pinned (insecureAcceptAnyHostKey)";
  if (secrets.passphrase) return "the private key is passphrase-protected";
  let key: Buffer | string | undefined = secrets.privateKey;
  if (key === undefined && options.privateKeyPath) {
    try {
      key = readFileSync(options.privateKeyPath);
    } catch {
      return "privateKeyPath cannot be read";
    }
  }
  if (key === undefined) return "there is no private key (password login)";
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) return "the private key needs a passphrase or is not one ssh2 can check";
  if (!onPath(SSH_BINARY, path)) return `no ${SSH_BINARY} binary on PATH`;
  return undefined;
}

/** The transport the options ask for; "auto" logs what it picked and why. */
export function createTransport(options: SftpOptions, secrets: SftpSecrets, log: Logger): SftpTransport {
  let kind = options.transport;
  if (kind === "auto") {
    const why = opensshUnusable(options, secrets);
    kind = why ? "ssh2" : "openssh";
    if (why) log.info({ transport: kind }, `sftp transport auto: ssh2, because ${why}`);
    else log.debug({ transport: kind }, "sftp transport auto: openssh");
  }
  return kind === "openssh" ? new OpensshConnection(options, secrets, log) : new SftpConnection(options, secrets, log);
}
