/** How the shared runtime builds an S3 destination from its config entry. */
import type { DestinationFactory } from "@artifact-bus/shared";
import { S3Destination } from "./s3-destination.ts";

export const s3DestinationFactory: DestinationFactory = {
  kind: "s3",
  create: (config, log) => new S3Destination({ name: config.name, options: config.options, log }),
};
