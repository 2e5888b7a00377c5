/**
 * Uploads to the signed URLs W&B hands out, streamed from the artifact's verified reader through
 * two reused buffers, so a file is never whole in memory. The PUTs carry no Authorization header:
 * only the headers the API listed, and Content-Length.
 */
import { type ClientRequest, Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { type BlobReader, DestinationError, PermanentError, TransientError } from "@artifact-bus/shared";
import { retryAfterMs, storageStatusError } from "./wandb-errors.ts";

/** `"Key:Value"` strings as the API gives them: split on the first colon, value trimmed. */
export function parseUploadHeaders(list: readonly string[] | null | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const entry of list ?? []) {
    const i = entry.indexOf(":");
    if (i <= 0) continue;
    headers[entry.slice(0, i).trim().toLowerCase()] = entry.slice(i + 1).trim();
  }
  if ("x-ms-blob-type" in headers) {
    // Azure needs block uploads, which this client does not speak: every artifact would fail alike.
    throw new DestinationError("W&B storage is Azure (x-ms-blob-type): block uploads are not supported");
  }
  return headers;
}

/** Where bytes of one PUT come from: memory, or `length` bytes of a reader. */
export type PutBody = Uint8Array | { reader: BlobReader; length: number; buffers: [Buffer, Buffer] };

export class SignedStorage {
  private readonly agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

  /**
   * PUTs `body` to `url` with exactly `headers` (plus Content-Length); returns the ETag header.
   * `what` names the upload in errors (never the signed URL, which grants access).
   */
  async put(
    url: string,
    headers: Record<string, string>,
    body: PutBody,
    signal: AbortSignal,
    what: string,
    onProgress: (bytes: number) => void = () => {},
  ): Promise<string | undefined> {
    const target = new URL(url);
    const length = body instanceof Uint8Array ? body.length : body.length;
    const send = (write: (chunk: Uint8Array) => Promise<void>) =>
      body instanceof Uint8Array
        ? write(body).then(() => onProgress(body.length))
        : streamPart(body, write, onProgress);
    const res = await this.send(target, { ...headers, "content-length": String(length) }, send, signal, what);
    if (res.status < 200 || res.status >= 300) throw storageStatusError(res.status, what, retryAfterMs(res.retryAfter));
    return res.etag;
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private send(
    url: URL,
    headers: Record<string, string>,
    source: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
    signal: AbortSignal,
    what: string,
  ): Promise<{ status: number; etag: string | undefined; retryAfter: string | undefined }> {
    return new Promise((resolve, reject) => {
      const https = url.protocol === "https:";
      const req: ClientRequest = (https ? httpsRequest : httpRequest)(url, {
        method: "PUT",
        headers,
        agent: https ? this.agents.https : this.agents.http,
        signal,
      });
      let answered = false;
      req.on("response", (res) => {
        answered = true;
        const status = res.statusCode ?? 0;
        const etag = res.headers.etag;
        const retryAfter = res.headers["retry-after"];
        res.resume();
        // An early refusal ends the upload at once; the rest of the body would go nowhere.
        if (status >= 300) {
          resolve({ status, etag, retryAfter });
          req.destroy();
        } else res.on("end", () => resolve({ status, etag, retryAfter }));
      });
      req.on("error", (err) => {
        if (answered) return;
        reject(
          signal.aborted ? signal.reason : new TransientError(`W&B storage ${what}: ${err.message}`, { cause: err }),
        );
      });
      const write = (chunk: Uint8Array) =>
        new Promise<void>((done, fail) => req.write(chunk, (err) => (err ? fail(err) : done())));
      source(write).then(
        () => req.end(),
        (err: unknown) => {
          // The blob's own failure (a PermanentError from the verified reader) wins over the socket's.
          if (answered) return;
          answered = true;
          reject(err instanceof PermanentError || err instanceof TransientError ? err : storageError(err, what));
          req.destroy();
        },
      );
    });
  }
}

function storageError(err: unknown, what: string): Error {
  return new TransientError(`W&B storage ${what}: ${(err as Error)?.message ?? err}`, { cause: err });
}

/**
 * Sends `length` bytes of the reader through two buffers: one is filled while the other is being
 * written, and a buffer is refilled only once the socket took its previous bytes.
 */
async function streamPart(
  body: { reader: BlobReader; length: number; buffers: [Buffer, Buffer] },
  write: (chunk: Uint8Array) => Promise<void>,
  onProgress: (bytes: number) => void,
): Promise<void> {
  const writes: (Promise<void> | undefined)[] = [undefined, undefined];
  let sent = 0;
  for (let i = 0; sent < body.length; i ^= 1) {
    await writes[i];
    const buf = body.buffers[i] as Buffer;
    const view = buf.subarray(0, Math.min(buf.length, body.length - sent));
    const n = await body.reader.fill(view);
    if (n === 0) throw new PermanentError(`staged blob ended after ${sent} of ${body.length} bytes`);
    const written = write(view.subarray(0, n)).then(() => onProgress(n));
    // Observed now, awaited later: a failing socket must not become an unhandled rejection.
    written.catch(() => undefined);
    writes[i] = written;
    sent += n;
  }
  await Promise.all(writes);
}
