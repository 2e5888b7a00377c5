/** The S3 uploader service: the shared runtime serving every `s3:*` destination in the config. */
import { runUploaderMain } from "@artifact-bus/shared";
import { s3DestinationFactory } from "./s3-factory.ts";

await runUploaderMain(s3DestinationFactory);
