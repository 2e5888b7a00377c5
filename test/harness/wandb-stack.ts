/** The bus stack with the W&B destination, against the strict W&B API double in its own process. */
import { resolve } from "node:path";
import type { DestinationConfig } from "@artifact-bus/shared";
import { type StoredArtifact, WandbDouble } from "@artifact-bus/testkit";
import { wandbArtifactName } from "../../services/wandb-uploader/src/wandb-names.ts";
import { BusStack } from "./bus-stack.ts";

const WANDB_MAIN = resolve(import.meta.dirname, "../../services/wandb-uploader/src/main.ts");

export interface WandbStackOptions {
  destination?: Partial<DestinationConfig>;
  wandbOptions?: Record<string, unknown>;
  /** More W&B destinations on the same double (e.g. with coalescing on), served by the same uploaders. */
  moreDestinations?: (Partial<DestinationConfig> & { name: string })[];
}

export class WandbStack {
  readonly bus: BusStack;
  readonly double: WandbDouble;
  readonly entity = "team";

  private constructor(bus: BusStack, double: WandbDouble) {
    this.bus = bus;
    this.double = double;
  }

  static async start(o: WandbStackOptions = {}): Promise<WandbStack> {
    const double = await WandbDouble.start();
    const options = { baseUrl: double.baseUrl, entity: "team", ...o.wandbOptions };
    const bus = await BusStack.start({
      main: WANDB_MAIN,
      env: { WANDB_API_KEY: double.apiKey },
      destination: { name: "wandb:e2e", ...o.destination, options },
      moreDestinations: (o.moreDestinations ?? []).map((d) => ({ ...d, options: { ...options, ...d.options } })),
    }).catch(async (err: unknown) => {
      // The caller gets no stack to dispose: the double's data dir goes now.
      await double.dispose().catch(() => undefined);
      throw err;
    });
    return new WandbStack(bus, double);
  }

  /** The stored version `alias` (`latest`, `v3`, ...) of our artifact `name` in W&B project `project`. */
  version(project: string, name: string, alias = "latest"): Promise<StoredArtifact | undefined> {
    return this.double.artifact(`${this.entity}/${project}/${wandbArtifactName(name)}:${alias}`);
  }

  /** Every committed version of our artifact `name`, oldest first. */
  versions(project: string, name: string): Promise<StoredArtifact[]> {
    return this.double.versions(this.entity, project, wandbArtifactName(name));
  }

  /** The bytes of the only file of a stored version. */
  async bytesOf(a: StoredArtifact): Promise<Buffer> {
    const [file] = a.files;
    if (!file || a.files.length !== 1) throw new Error(`${a.name}:${a.version} has ${a.files.length} files`);
    return this.double.fileBytes(a.id, file.path);
  }

  async dispose(): Promise<void> {
    try {
      await this.bus.dispose();
    } finally {
      await this.double.dispose();
    }
  }
}
