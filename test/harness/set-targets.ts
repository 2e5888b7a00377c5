/**
 * The destinations the checkpoint-set tests run against (S3, SFTP, dir, W&B), each with how to read an
 * object back from the destination itself, never through the uploader under test.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_POINTER_TEMPLATE, type DestinationConfig, pointerName } from "@artifact-bus/shared";
import type { StoredArtifact } from "@artifact-bus/testkit";
import { wandbArtifactName } from "../../services/wandb-uploader/src/wandb-names.ts";
import { BusStack } from "./bus-stack.ts";
import { S3Stack } from "./s3-stack.ts";
import { SftpStack } from "./sftp-stack.ts";
import { WandbStack } from "./wandb-stack.ts";

const DIR_MAIN = resolve(import.meta.dirname, "../../services/dir-uploader/src/main.ts");
export const PROJECT = "demo";

/** One destination under test: its stack, how to read an object back, and its order key of a path. */
export interface SetTarget {
  bus: BusStack;
  /** The object at `key` (`<project>/<run>/<name>`), read from the destination itself; undefined when absent. */
  read(key: string): Promise<Buffer | undefined>;
  /** The name of the pointer of sets `checkpoints/*`. */
  pointer: string;
  /** The object at a receipt's location (a manifest member's `location`), when this target can read one. */
  readLocation?(location: string): Promise<Buffer | undefined>;
  /** What the adapter orders writes of `key` by (its lease key is derived from it). */
  orderKey(key: string): string;
  dispose(): Promise<void>;
}

export async function s3Target(destination: Partial<DestinationConfig> = {}): Promise<SetTarget> {
  const s3 = await S3Stack.start({ destination });
  return {
    bus: s3.bus,
    read: (key) => s3.getObject(key),
    pointer: pointerOf(destination),
    orderKey: (key) => key,
    dispose: () => s3.dispose(),
  };
}

export async function sftpTarget(destination: Partial<DestinationConfig> = {}): Promise<SetTarget> {
  const sftp = await SftpStack.start({ destination });
  return {
    bus: sftp.bus,
    read: async (key) => sftp.readFile(key),
    pointer: pointerOf(destination),
    orderKey: (key) => sftp.path(key),
    dispose: () => sftp.dispose(),
  };
}

export async function dirTarget(destination: Partial<DestinationConfig> = {}): Promise<SetTarget> {
  const root = mkdtempSync(join(tmpdir(), "artifact-bus-sets-"));
  const bus = await BusStack.start({
    destination: {
      name: "dir:sets",
      filter: { project: PROJECT, run: "*", level: "*" },
      options: { root },
      ...destination,
    },
    main: DIR_MAIN,
  });
  return {
    bus,
    pointer: pointerOf(destination),
    read: async (key) => {
      try {
        return readFileSync(join(root, key));
      } catch (err) {
        // ENOTDIR: a name under a file (a set of one file has no manifest).
        if (["ENOENT", "ENOTDIR"].includes((err as NodeJS.ErrnoException).code ?? "")) return undefined;
        throw err;
      }
    },
    orderKey: (key) => join(root, key),
    dispose: async () => {
      await bus.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A W&B destination on the strict API double. An object is a version of the W&B artifact its
 * name maps to: read back is the newest committed version the run logged (one W&B artifact
 * holds the versions of every run that logs its name), through the double's store.
 */
export async function wandbTarget(destination: Partial<DestinationConfig> = {}): Promise<WandbTarget> {
  const wandb = await WandbStack.start({ destination });
  const newestOfRun = async (key: string) => {
    const [project, run, ...rest] = key.split("/");
    const versions = await wandb.versions(project!, rest.join("/"));
    return versions.filter((v) => v.runName === run).at(-1);
  };
  return {
    bus: wandb.bus,
    wandb,
    pointer: pointerOf(destination),
    read: async (key) => {
      const version = await newestOfRun(key);
      return version && wandb.bytesOf(version);
    },
    version: newestOfRun,
    // `wandb://entity/project/name:vN`: the version, as `entity/project/name:vN` names it in W&B.
    readLocation: async (location) => {
      const version = await wandb.double.artifact(location.replace(/^wandb:\/\//, ""));
      return version && wandb.bytesOf(version);
    },
    orderKey: (key) => {
      const [project, , ...rest] = key.split("/");
      return `${wandb.entity}/${project}/${wandbArtifactName(rest.join("/"))}`;
    },
    dispose: () => wandb.dispose(),
  };
}

/** The W&B target, with the double and the stored version behind an object. */
export interface WandbTarget extends SetTarget {
  wandb: WandbStack;
  /** The version `read` reads: the newest committed version of the key's artifact logged by its run. */
  version(key: string): Promise<StoredArtifact | undefined>;
}

/** The pointer of sets `checkpoints/*` at a destination so configured. */
function pointerOf(destination: Partial<DestinationConfig>): string {
  return pointerName("checkpoints/x", destination.setPointer ?? DEFAULT_POINTER_TEMPLATE);
}
