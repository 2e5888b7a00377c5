/** The W&B uploader service: the shared runtime serving every `wandb:*` destination in the config. */
import { runUploaderMain } from "@artifact-bus/shared";
import { wandbDestinationFactory } from "./wandb-factory.ts";

await runUploaderMain(wandbDestinationFactory);
