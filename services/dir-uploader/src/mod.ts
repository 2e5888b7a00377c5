/** artifact-bus dir destination: a local or mounted directory, written atomically. */
export { DirDestination, type DirDestinationInit } from "./dir-destination.ts";
export { dirDestinationFactory } from "./dir-factory.ts";
export { type DirOptions, DirOptionsSchema, parseDirOptions } from "./dir-options.ts";
