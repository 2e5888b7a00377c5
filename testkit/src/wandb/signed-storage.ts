/**
 * The double's object storage: it signs upload and download URLs (HMAC over method, path and
 * expiry, as a presigned S3 or GCS URL is), serves GETs of stored bytes (a version's `directUrl`s)
 * and takes PUTs the way such storage does: no credentials,
 * the signed headers sent exactly, the body's MD5 checked against Content-MD5 (BadDigest), an
 * ETag answered. Bodies stream to disk while hashed (never held in memory: files reach GiBs);
 * multipart parts are stored apart and joined on disk by part-assembly.ts.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createWriteStream, renameSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ArtifactStore } from "./artifact-store.ts";
import type { PartAssembly } from "./part-assembly.ts";
import type { FileRecord, StoredBytes } from "./records.ts";
import { b64ToHex, hexToB64 } from "./rules.ts";

/** What the router sends back; status 0: the connection was destroyed, nothing to send. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Body bytes read, for the request record. */
  bytes?: number;
  /** A stored blob to stream as the body (a signed GET), instead of `body`. */
  stream?: { path: string; size: number };
}

/** The headers a signed PUT must carry; `keep` records the received bytes, or says why it cannot. */
interface Expectation {
  md5: string;
  contentTypes: string[];
  keep: (s: StoredBytes) => string | undefined;
}

/** S3's limit for one PUT (EntityTooLarge); larger files must go multipart. */
const MAX_SINGLE_PUT = 5 * 2 ** 30;

const s3Error = (status: number, code: string, message: string): Answer => ({
  status,
  headers: { "content-type": "application/xml" },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`,
});

function escapeXml(s: string): string {
  return s.replace(/[<>&]/g, (c) => (c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&amp;"));
}

export class SignedStorage {
  private readonly store: ArtifactStore;
  private readonly assembly: PartAssembly;
  private readonly ttlMs: number;
  /** `http://127.0.0.1:<port>`, known once the server listens. */
  private readonly origin: () => string;

  constructor(store: ArtifactStore, assembly: PartAssembly, ttlMs: number, origin: () => string) {
    this.store = store;
    this.assembly = assembly;
    this.ttlMs = ttlMs;
    this.origin = origin;
  }

  /** A signed URL for one PUT of a whole file (or the manifest), valid for the TTL. */
  fileUrl(file: FileRecord): string {
    return this.sign(`/storage/file/${file.num}`);
  }

  partUrl(uploadId: string, partNumber: number): string {
    return this.sign(`/storage/part/${uploadId}/${partNumber}`);
  }

  /** A signed URL to GET the stored bytes of a file (or the manifest): a `directUrl`. */
  downloadUrl(file: FileRecord): string {
    return this.sign(`/storage/file/${file.num}`, "GET");
  }

  private sign(path: string, method: "PUT" | "GET" = "PUT"): string {
    const expires = Date.now() + this.ttlMs;
    return `${this.origin()}${path}?expires=${expires}&signature=${this.mac(method, path, expires)}`;
  }

  // The method is signed too, as S3 presigns it: an upload URL cannot read, a download URL cannot write.
  private mac(method: string, path: string, expires: number): string {
    return createHmac("sha256", this.store.secret).update(`${method}\n${path}\n${expires}`).digest("hex");
  }

  /** Why a storage URL is not one it signed for `method` and still valid, or undefined when it is. */
  private refusal(method: string, url: URL): string | undefined {
    const expires = Number(url.searchParams.get("expires"));
    const given = Buffer.from(url.searchParams.get("signature") ?? "", "hex");
    const expected = Buffer.from(this.mac(method, url.pathname, expires), "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return "the URL was not signed by this storage, or was altered";
    }
    if (Date.now() > expires) return `the signed URL expired at ${new Date(expires).toISOString()}`;
    return undefined;
  }

  /** Handles one request to /storage/...; `dropAfterBytes` destroys the connection mid-body. */
  async handle(req: IncomingMessage, url: URL, dropAfterBytes?: number): Promise<Answer> {
    if (req.method !== "PUT" && req.method !== "GET") {
      const answer = s3Error(405, "MethodNotAllowed", "signed URLs take PUT (uploads) or GET (downloads)");
      return { ...answer, headers: { ...answer.headers, allow: "PUT, GET" } };
    }
    const refusal = this.refusal(req.method, url);
    if (refusal) return s3Error(403, "AccessDenied", refusal);
    if (req.method === "GET") return this.download(req, url);
    if (req.headers.authorization !== undefined) {
      return s3Error(
        400,
        "InvalidRequest",
        "a signed-URL PUT must not carry Authorization: the API key must never reach storage",
      );
    }
    const length = req.headers["content-length"];
    if (length === undefined) return s3Error(411, "MissingContentLength", "send Content-Length");
    if (Number(length) > MAX_SINGLE_PUT) {
      return s3Error(400, "EntityTooLarge", "one PUT takes at most 5 GiB: go multipart");
    }
    const expect = this.expectation(url);
    if (typeof expect === "string") return s3Error(400, "InvalidRequest", expect);
    const md5Header = req.headers["content-md5"];
    if (md5Header !== expect.md5) {
      return s3Error(
        400,
        "InvalidDigest",
        `Content-MD5 is ${md5Header ?? "missing"}, the upload expects ${expect.md5}`,
      );
    }
    const type = req.headers["content-type"] ?? "";
    if (!expect.contentTypes.includes(type)) {
      return s3Error(
        400,
        "InvalidRequest",
        `Content-Type is ${JSON.stringify(type)}, the signed upload expects ${expect.contentTypes[0]}`,
      );
    }
    const stored = await this.receive(req, dropAfterBytes);
    if (typeof stored === "number") return { status: 0, bytes: stored };
    const bytes = stored.size;
    if (stored.md5 !== expect.md5) {
      this.store.removeBlobs([stored.blob]);
      return { ...s3Error(400, "BadDigest", `the body's MD5 is ${stored.md5}, Content-MD5 said ${expect.md5}`), bytes };
    }
    const conflict = expect.keep(stored);
    if (conflict) {
      this.store.removeBlobs([stored.blob]);
      return { ...s3Error(409, "Conflict", conflict), bytes };
    }
    return { status: 200, headers: { etag: `"${b64ToHex(stored.md5)}"` }, bytes };
  }

  /** A signed GET: the stored bytes, to a client that sends no credentials of its own (as S3 requires). */
  private download(req: IncomingMessage, url: URL): Answer {
    if (req.headers.authorization !== undefined) {
      return s3Error(400, "InvalidArgument", "Only one auth mechanism allowed: a signed URL takes no Authorization");
    }
    const file = /^\/storage\/file\/(\d+)$/.exec(url.pathname);
    const stored = file ? this.store.target(Number(file[1]))?.file.stored : undefined;
    if (!stored) return s3Error(404, "NoSuchKey", "nothing is stored under this URL");
    const headers = { "content-type": "application/octet-stream", "content-length": String(stored.size) };
    return { status: 200, headers, stream: { path: this.store.blobPath(stored.blob), size: stored.size } };
  }

  /** What a PUT to `url` must carry and where its bytes go, or why it cannot be taken. */
  private expectation(url: URL): string | Expectation {
    const file = /^\/storage\/file\/(\d+)$/.exec(url.pathname);
    if (file) {
      const t = this.store.target(Number(file[1]));
      if (!t) return "this upload is unknown";
      if (t.artifact.state !== "PENDING") return `artifact ${t.artifact.id} is committed: its files are final`;
      const declared = t.file.md5;
      return {
        md5: declared,
        contentTypes: [t.file.contentType],
        // The declaration may change while the body streams (a new createArtifactFiles).
        keep: (s) => {
          if (t.file.md5 !== declared || t.artifact.state !== "PENDING") return "the file was declared anew meanwhile";
          t.file.stored = s;
          this.store.save(t.artifact);
          return undefined;
        },
      };
    }
    const part = /^\/storage\/part\/([0-9a-f]+)\/(\d+)$/.exec(url.pathname);
    const found = part && this.store.upload(part[1]!);
    const record = found?.file.multipart?.parts[Number(part![2]) - 1];
    if (!found || !record) {
      return "no such multipart upload or part (completed, or replaced by a newer createArtifactFiles)";
    }
    return {
      md5: hexToB64(record.hexMD5),
      // Part PUTs send the Content-Type entry of uploadHeaders, or none.
      contentTypes: [found.file.contentType, ""],
      keep: (s) => {
        if (
          this.store.upload(part![1]!) !== undefined &&
          found.file.multipart?.parts[record.partNumber - 1] === record
        ) {
          record.stored = s;
          record.etag = `"${b64ToHex(s.md5)}"`;
          this.store.save(found.artifact);
          this.assembly.partStored(part![1]!, found.file.multipart.parts);
          return undefined;
        }
        return "the multipart upload was completed or replaced meanwhile";
      },
    };
  }

  /** Streams the body to a blob while hashing; a number (bytes read) when the body never completed. */
  private async receive(req: IncomingMessage, dropAfterBytes?: number): Promise<StoredBytes | number> {
    const blob = randomBytes(16).toString("hex");
    const tmp = join(this.store.tmpDir, blob);
    const md5 = createHash("md5");
    const sha256 = createHash("sha256");
    let size = 0;
    const drop = () => {
      req.socket.destroy();
      return new Error("connection dropped by a fault rule");
    };
    const hashing = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (dropAfterBytes !== undefined && size >= dropAfterBytes) return done(drop());
        md5.update(chunk);
        sha256.update(chunk);
        done(null, chunk);
      },
      flush(done) {
        done(dropAfterBytes !== undefined ? drop() : null);
      },
    });
    if (dropAfterBytes === 0) {
      drop();
      return 0;
    }
    try {
      await pipeline(req, hashing, createWriteStream(tmp));
    } catch {
      rmSync(tmp, { force: true });
      return size;
    }
    renameSync(tmp, this.store.blobPath(blob));
    return { size, md5: md5.digest("base64"), sha256: sha256.digest("hex"), blob };
  }
}
