/** How the shared runtime builds a dir destination from its config entry. */
import type { DestinationFactory } from "@artifact-bus/shared";
import { DirDestination } from "./dir-destination.ts";

export const dirDestinationFactory: DestinationFactory = {
  kind: "dir",
  create: (config, log) =>
    new DirDestination({ name: config.name, options: config.options, log: log.child({ destination: config.name }) }),
};
