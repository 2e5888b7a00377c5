/** @artifact-bus/shared: the event contract, topology, blob stores, publisher and uploader runtime. */
export * from "./blob/mod.ts";
export type { DestinationCommands } from "./cli/destination-commands.ts";
export {
  type BackoffConfig,
  type BreakerConfig,
  type Config,
  ConfigError,
  type DestinationConfig,
  ENV_VARIABLES,
  type GatewayConfig,
  loadConfig,
  PROJECT_PLACEHOLDER,
  parseConfig,
} from "./config/config.ts";
export {
  checkSetMembership,
  DEFAULT_POINTER_TEMPLATE,
  type DeadMember,
  defaultPointerName,
  isFileSet,
  pointerName,
  pointerNames,
  runSetFilter,
  type SetManifest,
  type SetMember,
  type SetRecord,
  type SetState,
  setClose,
  setCloseName,
  setFailure,
  setManifestName,
  setRecordKey,
  setState,
} from "./contract/checkpoint-set.ts";
export { type DestinationName, destinationFromToken, parseDestinationName } from "./contract/destination-name.ts";
export {
  ATTEMPT_HISTORY,
  type AttemptRecord,
  isOtherMessages,
  isSettled,
  isTerminal,
  type LedgerEntry,
  type LedgerState,
  ledgerKey,
  runLedgerFilter,
} from "./contract/ledger-entry.ts";
export {
  checkNameRules,
  hasDotSegment,
  type NameRules,
  nameRuleBroken,
  nameRulesOf,
  parseNameRules,
} from "./contract/name-rules.ts";
export { checkArtifactName, checkLevel, checkSubjectToken, InvalidArtifactError } from "./contract/names.ts";
export {
  filePathProblem,
  MAX_FILE_NAME_BYTES,
  MAX_FILE_PATH_BYTES,
  MAX_S3_KEY_BYTES,
  type RenderedPath,
  s3KeyProblem,
} from "./contract/path-limits.ts";
export {
  checkPathTemplate,
  DEFAULT_PATH_TEMPLATE,
  normalizePrefix,
  normalizeRoot,
  renderRemotePath,
  SHARED_NAMESPACE_OPTION,
} from "./contract/remote-path.ts";
export {
  type ArtifactEventV1,
  ArtifactEventV1Schema,
  type BlobRef,
  EVENT_ID_PATTERN,
  LEVELS,
  type Level,
  MAX_METADATA_ENTRIES,
  MAX_METADATA_KEY_CHARS,
  MAX_METADATA_VALUE_CHARS,
  MAX_SET_MEMBERS,
  type SetRef,
  SUBJECT_TOKEN_PATTERN,
} from "./contract/schema.ts";
export {
  artifactKey,
  dlqSubject,
  EVENTS_PREFIX,
  eventFilter,
  eventSubject,
  parseEventSubject,
} from "./contract/subjects.ts";
export { tempPath, tempPrefix } from "./contract/temp-names.ts";
export { decodeEvent, encodeEvent, validateEvent } from "./contract/validate.ts";
export { type DeadLetter, readDeadLetters } from "./dead-letters/letters.ts";
export { type ReplayResult, replayDeadLetters } from "./dead-letters/replay.ts";
export { backoffDelay } from "./delivery/backoff.ts";
export { LeaseLostError } from "./delivery/key-lease.ts";
export {
  type Artifact,
  type ByteRange,
  type Destination,
  type DestinationFactory,
  type ReadOptions,
  type RemoteContent,
  RemoteNotFoundError,
  type RemoteReadOptions,
  type ResumeState,
  type UploadContext,
  type UploadReceipt,
  type UploadResume,
} from "./destination/destination.ts";
export {
  classify,
  DestinationError,
  describeError,
  type ErrorClass,
  PermanentError,
  TransientError,
} from "./destination/errors.ts";
export { stagedArtifact, verifiedBytes, verifiedReader } from "./destination/staged-artifact.ts";
export {
  type DestinationPause,
  pauseDestination,
  pauseKey,
  readDestinationPause,
  resumeDestination,
} from "./ledger/destination-pause.ts";
export { Ledger, storedEntry } from "./ledger/ledger.ts";
export {
  type BreakerState,
  type ReplicaBeat,
  readReplicaBeats,
  replicaKey,
  startReplicaHeartbeat,
} from "./ledger/replica-heartbeat.ts";
export { listRunSets, SetLedger } from "./ledger/set-ledger.ts";
export { createLogger, type Logger, silentLogger } from "./log.ts";
export { type ClusterNode, clusterNodeConfig, type NodeConfigOptions } from "./nats/cluster-config.ts";
export { connectNats, NatsConnectError } from "./nats/connect.ts";
export { DestinationDirectory } from "./nats/destinations.ts";
export {
  checkLedgerFormat,
  LEDGER_FORMAT,
  LEDGER_FORMATS_READ,
  LEDGER_MIGRATE_COMMAND,
  LedgerFormatError,
  ledgerFormat,
} from "./nats/ledger-format.ts";
export {
  adminUser,
  gatewayUser,
  type NatsUser,
  sampleUsers,
  trainerUser,
  uploaderUser,
} from "./nats/permissions/grants.ts";
export { sampleServerConfig } from "./nats/permissions/sample-config.ts";
export { renderServerConfig } from "./nats/permissions/server-config.ts";
export { subjectMatches } from "./nats/subject-match.ts";
export { ensureTopology, type TopologyOptions } from "./nats/topology.ts";
export * from "./nats/topology-names.ts";
export {
  ArtifactPublisher,
  type ArtifactTarget,
  type AwaitedEntry,
  type CloseSetRequest,
  type DeadArtifact,
  DeadArtifactsError,
  type EntryListener,
  FlushTimeoutError,
  LogFailedError,
  type LogFileHandle,
  type LogFileRequest,
  type LoggedArtifact,
  NoDestinationError,
  type PublisherOptions,
  PublishRefusedError,
  PublishUnconfirmedError,
  type StagedBlob,
} from "./publisher/publisher.ts";
export { isWarmUp, persistCompileCache } from "./service/compile-cache.ts";
export { UPLOADER_NODE_FLAGS } from "./service/node-options.ts";
export { checkUploaderConfig, servedDestinations } from "./service/uploader-config.ts";
export { isConfigCheck, runUploaderMain } from "./service/uploader-main.ts";
export { startUploaderService, type UploaderService } from "./service/uploader-service.ts";
export {
  type ArtifactStatus,
  artifactStatus,
  type DestinationStatus,
  destinationsOf,
  type LatestError,
  type NameVersions,
  nameVersions,
  type RunPage,
  runArtifacts,
} from "./status/artifact-status.ts";
export { type DestinationHealth, destinationHealth, isHealthy } from "./status/destination-health.ts";
export { EventLookup, type InadmissibleMessage, type NameGroup, type StoredEvent } from "./status/event-lookup.ts";
export { runSets, type SetStatus, setStatusOf } from "./status/set-status.ts";
export {
  appendTokenRecord,
  hashToken,
  newToken,
  ROLES,
  type Role,
  readTokenFile,
  TOKEN_PREFIX,
  TokenFileError,
  type TokenRecord,
} from "./tokens.ts";
