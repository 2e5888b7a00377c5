/** The shared destination contract, for W&B against the strict API double in its own process. */
import { silentLogger } from "@artifact-bus/shared";
import { describeDestinationContract, WandbDouble } from "@artifact-bus/testkit";
import { WandbDestination } from "../src/wandb-destination.ts";
import { wandbArtifactName } from "../src/wandb-names.ts";

const MiB = 1024 * 1024;

describeDestinationContract("wandb (API double)", async () => {
  const double = await WandbDouble.start();
  const destination = new WandbDestination({
    name: "wandb:contract",
    // Multipart from 6 MiB, so the contract's large artifact takes that path; one quick retry.
    options: {
      baseUrl: double.baseUrl,
      entity: "team",
      multipartThresholdBytes: 6 * MiB,
      partSizeBytes: 5 * MiB,
      retries: 1,
    },
    apiKey: double.apiKey,
    log: silentLogger,
  });
  return {
    destination,
    largeSize: 6 * MiB,
    runsApart: false, // W&B collections belong to the project, not to a run
    async read(event) {
      const latest = await double.artifact(`team/${event.project}/${wandbArtifactName(event.name)}:latest`);
      const file = latest?.files[0];
      return latest && file ? double.fileBytes(latest.id, file.path) : undefined;
    },
    async list() {
      return (await double.list()).map((a) => `${a.entity}/${a.project}/${a.name}`);
    },
    breakDestination: () => double.stop(),
    healDestination: () => double.restart(),
    async dispose() {
      await destination.close();
      await double.dispose();
    },
  };
});
