/**
 * @artifact-bus/testkit: launchers for the real servers (nats-server, an S3-compatible
 * server, OpenSSH sshd), the W&B API double, uploader processes, and the destination contract suite.
 */
export {
  type FileArtifactOptions,
  failAtEnd,
  fileArtifact,
  localFileArtifact,
  memoryArtifact,
  stallAfter,
  streamedArtifact,
  type TestContext,
  testContext,
  testEvent,
  uniqueRun,
} from "./artifact-fixtures.ts";
export { compileCacheEnv, warmCompileCache, warmUpCommands } from "./compile-cache-warm-up.ts";
export { type ContractHarness, describeDestinationContract } from "./destination-contract.ts";
export { eventually, sha256, writeLargeFile, writeRandomFile } from "./files.ts";
export { NatsCluster, type NatsClusterOptions } from "./nats-cluster.ts";
export { NatsServer, type NatsServerOptions } from "./nats-server.ts";
export {
  bytesRead,
  cpuSeconds,
  peakRssMb,
  resetPeakRss,
  rssMb,
  sampleTreeCpu,
  treeCpuSeconds,
} from "./process-stats.ts";
export {
  type ExternalS3,
  externalS3,
  type S3Endpoint,
  S3TestServer,
  type S3TestServerOptions,
  s3ClientSettings,
} from "./s3-server.ts";
export { listRemoteDir, readRemoteFiles, sftpArgs, sftpBatch } from "./sftp-cli.ts";
export { SshdServer, type SshdServerOptions } from "./sshd-server.ts";
export { ensureSshdRuntimeDir, fingerprintOf, freePort, generateKey } from "./sshd-setup.ts";
export { type TempDirs, tempDirs } from "./temp-dirs.ts";
export { ThrottledProxy, type ThrottledProxyOptions } from "./throttled-proxy.ts";
export { type LogLine, UploaderProcess, type UploaderProcessOptions } from "./uploader-process.ts";
export { OFFICIAL_COMMIT, OFFICIAL_DOCUMENTS, type OfficialDocument } from "./wandb/official-documents.ts";
export {
  type ArtifactSpec,
  artifactDigest,
  b64md5,
  clientId,
  DOCUMENTS as WANDB_DOCUMENTS,
  expectOk,
  hexmd5,
  manifestDigest,
  manifestJson,
  type ProtocolFile,
  WandbGraphqlError,
  WandbProtocolClient,
} from "./wandb/protocol-client.ts";
export { schema as wandbDoubleSchema } from "./wandb/schema.ts";
export {
  type FaultRule,
  type RequestRecord,
  type StoredArtifact,
  type StoredFile,
  WandbDouble,
  type WandbDoubleOptions,
} from "./wandb/wandb-double.ts";
export { mountXfs, type XfsMount } from "./xfs-mount.ts";
