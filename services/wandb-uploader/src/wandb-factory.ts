/** How the shared runtime builds a W&B destination from its config entry. */
import type { DestinationFactory } from "@artifact-bus/shared";
import { WandbDestination } from "./wandb-destination.ts";

/** Builds `wandb:*` destinations; the API key comes from WANDB_API_KEY or `options.apiKeyFile`. */
export const wandbDestinationFactory: DestinationFactory = {
  kind: "wandb",
  create: (config, log) =>
    new WandbDestination({ name: config.name, options: config.options, log: log.child({ destination: config.name }) }),
};
