/** artifact-bus SFTP destination: the adapter, its options and the host key checks it relies on. */

export type { HostKeyTrust, HostKeyVerdict, KnownHostEntry } from "./host-key.ts";
export {
  keyType,
  knownHostsName,
  parseKnownHosts,
  patternsMatch,
  sha256Fingerprint,
  verifyHostKey,
} from "./host-key.ts";
export { type RemotePaths, SftpDestination, type SftpDestinationInit } from "./sftp-destination.ts";
export { connectionError, SFTP_STATUS, sftpError } from "./sftp-errors.ts";
export { sftpDestinationFactory } from "./sftp-factory.ts";
export {
  FINGERPRINT_PATTERN,
  parseSftpOptions,
  SFTP_ENV_VARIABLES,
  type SftpOptions,
  SftpOptionsSchema,
  type SftpSecrets,
  secretsFromEnv,
} from "./sftp-options.ts";
export { openRemoteFile, pathOfLocation } from "./sftp-read.ts";
