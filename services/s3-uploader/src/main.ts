/** The S3 uploader service: the shared runtime serving every `s3:*` destination in the config. */
import { startUploaderService } from "@artifact-bus/shared";
import { s3DestinationFactory } from "./s3-factory.ts";

await startUploaderService(s3DestinationFactory, { ensureTopology: process.env.ARTIFACT_BUS_ENSURE_TOPOLOGY === "1" });
