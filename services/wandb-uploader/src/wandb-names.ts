/**
 * How an artifact of ours becomes a W&B artifact, as Composer users know it: the name cleaned to
 * W&B's alphabet, the type from the extension, the aliases from the epoch and batch.
 *
 * Name mapping: every character outside `[A-Za-z0-9_.-]` becomes `.` (as Composer does), and
 * whenever that changed the name, or it is longer than 128, the name is cut to leave room and
 * `-` plus the first 8 hex digits of sha256(original name) is appended. So `ckpt/ep1.pt` becomes
 * `ckpt.ep1.pt-<hash>` and stays distinct from a real `ckpt.ep1.pt`, which is kept as it is.
 */
import { createHash } from "node:crypto";
import type { ArtifactEventV1 } from "@artifact-bus/shared";

/** W&B's artifact name rule. */
export const ARTIFACT_NAME = /^[a-zA-Z0-9_\-.]+$/;
export const MAX_ARTIFACT_NAME = 128;

/** Types by extension when the options give none. */
export const DEFAULT_TYPES: Record<string, string> = {
  ".pt": "model",
  ".pth": "model",
  ".ckpt": "model",
  ".safetensors": "model",
};

/** The W&B artifact (collection) name of one of our artifact names. */
export function wandbArtifactName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_\-.]/g, ".");
  if (cleaned === name && name.length <= MAX_ARTIFACT_NAME) return name;
  const suffix = `-${createHash("sha256").update(name, "utf8").digest("hex").slice(0, 8)}`;
  return cleaned.slice(0, MAX_ARTIFACT_NAME - suffix.length) + suffix;
}

/** The type of an artifact from its name's extension (case-insensitive), or `fallback`. */
export function wandbType(name: string, types: Record<string, string>, fallback: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return (dot > 0 && types[base.slice(dot).toLowerCase()]) || fallback;
}

/** Why a type cannot be used, or undefined: W&B reserves `wandb-*` and `job`. */
export function typeProblem(type: string): string | undefined {
  if (!ARTIFACT_NAME.test(type)) return `${JSON.stringify(type)} must match ${ARTIFACT_NAME}`;
  if (type.startsWith("wandb-") || type === "job") return `${JSON.stringify(type)} is reserved by W&B`;
  return undefined;
}

/** Aliases W&B accepts: no `/` or `:`, not empty. */
const ALIAS = /^[^/:]{1,128}$/;

/**
 * `latest`, `ep{epoch}-ba{batch}` when the metadata has both, and any listed (comma-separated)
 * in metadata `aliases`. Aliases W&B would refuse are returned apart, to be reported.
 */
export function wandbAliases(metadata: Record<string, string>): { aliases: string[]; refused: string[] } {
  const wanted = ["latest"];
  if (metadata.epoch !== undefined && metadata.batch !== undefined) {
    wanted.push(`ep${metadata.epoch}-ba${metadata.batch}`);
  }
  for (const a of (metadata.aliases ?? "").split(",")) if (a.trim()) wanted.push(a.trim());
  const unique = [...new Set(wanted)];
  return { aliases: unique.filter((a) => ALIAS.test(a)), refused: unique.filter((a) => !ALIAS.test(a)) };
}

/** The artifact's metadata: the event's, and when it was logged. */
export function wandbMetadata(event: ArtifactEventV1): Record<string, string> {
  return { ...event.metadata, createdAt: event.createdAt };
}
