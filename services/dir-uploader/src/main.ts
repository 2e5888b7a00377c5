/** The dir uploader service: the shared runtime serving every `dir:*` destination in the config. */
import { runUploaderMain } from "@artifact-bus/shared";
import { dirDestinationFactory } from "./dir-factory.ts";

await runUploaderMain(dirDestinationFactory);
