/** artifact-bus W&B destination: the adapter, its options, and the protocol pieces it is made of. */
export { WandbApi, type WandbApiOptions } from "./wandb-api.ts";
export { CHECK_ARTIFACT, type WandbCheckOptions, type WandbCheckResult, wandbCheck } from "./wandb-check.ts";
export { cliCommands } from "./wandb-check-command.ts";
export { partSizeFor, WandbDestination, type WandbDestinationInit } from "./wandb-destination.ts";
export { manifestDigest, manifestJson, md5Base64 } from "./wandb-digest.ts";
export { apiGraphqlError, apiStatusError, retriedStatus, retryAfterMs, storageStatusError } from "./wandb-errors.ts";
export { wandbDestinationFactory } from "./wandb-factory.ts";
export { DEFAULT_TYPES, wandbAliases, wandbArtifactName, wandbMetadata, wandbType } from "./wandb-names.ts";
export { apiKeyOf, parseWandbOptions, type WandbOptions, WandbOptionsSchema } from "./wandb-options.ts";
