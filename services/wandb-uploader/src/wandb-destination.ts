/**
 * The W&B destination: every event becomes a version of a W&B artifact attached to its run, as
 * Composer's WandBLogger logs checkpoints (names, types and aliases: wandb-names.ts). A small
 * blob (IN_MEMORY_BYTES) is read once, whole, through the runtime's sha256 check. A larger one is
 * read twice but checked once: first for the MD5s W&B wants before the upload, the sha256 checked
 * on a hashing thread meanwhile (md5Pass), then unchecked as it is sent: storage checks what it
 * receives against those MD5s (Content-MD5) and refuses bytes that changed between the passes,
 * and a refusal reads the blob checked again (refusedSend). Files of `multipartThresholdBytes` or
 * more go multipart with per-part MD5.
 */
import { createHash } from "node:crypto";
import {
  type Artifact,
  type ArtifactEventV1,
  type BlobReader,
  createLogger,
  type Destination,
  type Logger,
  PermanentError,
  TransientError,
  type UploadContext,
  type UploadReceipt,
} from "@artifact-bus/shared";
import { WandbApi } from "./wandb-api.ts";
import { md5Base64 } from "./wandb-digest.ts";
import { StorageRefusedError } from "./wandb-errors.ts";
import { wandbAliases, wandbArtifactName, wandbMetadata, wandbType } from "./wandb-names.ts";
import { apiKeyOf, parseWandbOptions, type WandbOptions } from "./wandb-options.ts";
import { VIEWER } from "./wandb-queries.ts";
import { type SavedVersion, WandbSaver } from "./wandb-saver.ts";
import { SignedStorage } from "./wandb-storage.ts";

export interface WandbDestinationInit {
  name: string;
  options: unknown;
  /** Default: the file named by options.apiKeyFile, else WANDB_API_KEY. */
  apiKey?: string;
  env?: Record<string, string | undefined>;
  log?: Logger;
}

/** Blobs up to this size are read once, whole, and sent from memory. */
const IN_MEMORY_BYTES = 8 * 1024 * 1024;
const BUFFER_BYTES = 4 * 1024 * 1024;
const MAX_PARTS = 10_000;

export class WandbDestination implements Destination {
  readonly name: string;
  readonly options: WandbOptions;
  /** Every event is a visible version in W&B: none is skipped unless the config says so. */
  readonly coalesceByDefault = false;
  /** Each upload is a new artifact version; the older ones stay as they are. */
  readonly keepsVersions = true;
  private readonly api: WandbApi;
  private readonly storage = new SignedStorage();
  private readonly saver: WandbSaver;
  private readonly log: Logger;

  /** Throws ConfigError naming the first bad option, or the missing API key. */
  constructor(init: WandbDestinationInit) {
    this.name = init.name;
    this.options = parseWandbOptions(init.name, init.options);
    this.log = init.log ?? createLogger(init.name);
    const { baseUrl, requestTimeoutMs, retries, maxRetryAfterMs } = this.options;
    const apiKey = init.apiKey ?? apiKeyOf(this.options, init.env);
    if (!apiKey) this.log.error("no W&B API key (WANDB_API_KEY or options.apiKeyFile): uploads wait until one is set");
    this.api = new WandbApi({ baseUrl, apiKey, requestTimeoutMs, retries, maxRetryAfterMs });
    this.saver = new WandbSaver(this.api, this.storage);
  }

  /** The W&B project of an event. */
  projectOf(event: Pick<ArtifactEventV1, "project">): string {
    return this.options.project.replace("{project}", event.project);
  }

  /** Versions are ordered per W&B artifact (entity, project, collection name). */
  orderKey(event: ArtifactEventV1): string {
    return `${this.options.entity}/${this.projectOf(event)}/${wandbArtifactName(event.name)}`;
  }

  async upload(artifact: Artifact, ctx: UploadContext): Promise<UploadReceipt> {
    const { event } = artifact;
    const { aliases, refused } = wandbAliases(event.metadata);
    if (refused.length) ctx.log.warn({ refused }, "aliases W&B would refuse ('/' or ':') left out");
    const size = event.blob.size;
    const project = this.projectOf(event);
    const artifactName = wandbArtifactName(event.name);
    let reader: BlobReader | undefined;
    try {
      const file = {
        entity: this.options.entity,
        project,
        run: event.run,
        artifactName,
        type: wandbType(event.name, this.options.types, this.options.defaultType),
        aliases,
        metadata: wandbMetadata(event),
        path: event.name,
        size,
        beforeVisible: () => ctx.beforeVisible(),
      };
      let saved: SavedVersion;
      if (size <= IN_MEMORY_BYTES && size < this.options.multipartThresholdBytes) {
        const bytes = await artifact.read(ctx.signal);
        const send = (url: string, headers: Record<string, string>) =>
          this.storage.put(url, headers, bytes, ctx.signal, event.name, (n) => ctx.heartbeat(n));
        saved = await this.saver.save({ ...file, md5: md5Base64(bytes), send }, ctx.signal);
      } else {
        const partSize =
          size >= this.options.multipartThresholdBytes ? partSizeFor(size, this.options.partSizeBytes) : 0;
        const buffers: [Buffer, Buffer] = [Buffer.allocUnsafe(BUFFER_BYTES), Buffer.allocUnsafe(BUFFER_BYTES)];
        const md5s = await md5Pass(artifact, size, partSize, buffers[0], ctx);
        let sent = 0;
        const send = async (url: string, headers: Record<string, string>, part?: number) => {
          reader ??= await artifact.openReader(ctx.signal, { verify: false });
          const length = part === undefined ? size : Math.min(partSize, size - (part - 1) * partSize);
          const progress = (n: number) => {
            sent += n;
            ctx.heartbeat(sent);
          };
          return this.storage
            .put(url, headers, { reader, length, buffers }, ctx.signal, event.name, progress)
            .catch((err: unknown) => refusedSend(err, artifact, size, ctx));
        };
        const parts = partSize ? { size: partSize, hexMd5: md5s.parts } : undefined;
        saved = await this.saver.save({ ...file, md5: md5s.whole, ...(parts ? { parts } : {}), send }, ctx.signal);
      }
      return this.receipt(project, artifactName, size, saved);
    } catch (err) {
      if (ctx.signal.aborted) throw abortedError(event.name, ctx.signal);
      throw err instanceof Error && /^(Transient|Permanent|Destination)Error$/.test(err.name)
        ? err
        : new TransientError(`W&B upload of ${event.name}: ${(err as Error)?.message ?? err}`, { cause: err });
    } finally {
      await reader?.close().catch(() => undefined);
    }
  }

  /** An authenticated read: a refused key fails it (DestinationError), an absent server too. */
  async probe(signal: AbortSignal): Promise<void> {
    await this.api.request("Viewer", VIEWER, {}, signal);
  }

  async close(): Promise<void> {
    this.storage.close();
  }

  private receipt(project: string, artifactName: string, size: number, saved: SavedVersion): UploadReceipt {
    const { entity } = this.options;
    const version = saved.versionIndex === undefined ? undefined : `v${saved.versionIndex}`;
    const at = version ? `:${version}` : `@${saved.artifactId}`;
    return {
      location: `wandb://${entity}/${project}/${artifactName}${at}`,
      size,
      details: {
        artifactId: saved.artifactId,
        digest: saved.digest,
        deduplicated: String(saved.deduplicated),
        ...(version ? { version } : {}),
      },
    };
  }
}

/** W&B's part size: `partSize`, or larger (a multiple of 4 KiB) when that would exceed 10,000 parts. */
export function partSizeFor(size: number, partSize: number): number {
  if (Math.ceil(size / partSize) <= MAX_PARTS) return partSize;
  return Math.ceil(Math.ceil(size / MAX_PARTS) / 4096) * 4096;
}

/**
 * The checked read: base64 MD5 of the whole blob, and hex MD5 of each part when `partSize` > 0,
 * while a hashing thread checks the sha256 (PermanentError on a mismatch, before anything is
 * sent). The sending pass then reads unchecked, and storage checks what it receives against
 * these MD5s (Content-MD5), so bytes that changed between the passes fail there, before the
 * commit (see refusedSend).
 */
async function md5Pass(
  artifact: Artifact,
  size: number,
  partSize: number,
  buf: Buffer,
  ctx: UploadContext,
): Promise<{ whole: string; parts: string[] }> {
  const reader = await artifact.openReader(ctx.signal, { offThread: true });
  const whole = createHash("md5");
  const parts: string[] = [];
  let part = createHash("md5");
  let inPart = 0;
  try {
    for (let done = 0; done < size; ) {
      const room = partSize ? Math.min(buf.length, partSize - inPart) : buf.length;
      const n = await reader.fill(buf.subarray(0, Math.min(room, size - done)));
      if (n === 0) throw new PermanentError(`staged blob ended after ${done} of ${size} bytes`);
      const chunk = buf.subarray(0, n);
      whole.update(chunk);
      done += n;
      if (!partSize) continue;
      part.update(chunk);
      inPart += n;
      if (inPart === partSize || done === size) {
        parts.push(part.digest("hex"));
        part = createHash("md5");
        inPart = 0;
      }
    }
  } finally {
    await reader.close();
  }
  return { whole: whole.digest("base64"), parts };
}

/**
 * A send reads unchecked, so storage refusing its bytes (400: Content-MD5 did not match the body)
 * may mean the blob changed since md5Pass checked it. It is read checked once more: no longer
 * matching its sha256, the artifact is corrupt (PermanentError: dead-lettered); still matching,
 * the bytes were spoiled on the way and the refusal stays transient (retried). Other errors pass.
 */
async function refusedSend(err: unknown, artifact: Artifact, size: number, ctx: UploadContext): Promise<never> {
  if (!(err instanceof StorageRefusedError)) throw err;
  try {
    // A buffer of its own: the refused send may still be filling its two.
    await md5Pass(artifact, size, 0, Buffer.allocUnsafe(BUFFER_BYTES), ctx);
  } catch (again) {
    if (!(again instanceof PermanentError)) throw again;
    throw new PermanentError(`${err.message}: the staged blob changed since it was checked: ${again.message}`, {
      cause: again,
    });
  }
  throw new TransientError(`${err.message}, though the staged blob still matches its sha256: retried`, { cause: err });
}

function abortedError(what: string, signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof PermanentError || reason instanceof TransientError) return reason;
  return new TransientError(
    `W&B upload of ${what}: aborted: ${reason instanceof Error ? reason.message : String(reason)}`,
    {
      cause: reason,
    },
  );
}
