/**
 * The multipart calls s3rver 3.7 lacks, over its own upload directories
 * (`<dir>/<bucket>/._S3rver_uploads/<uploadId>/`, holding `key`, `metadata` and one file per
 * part with its `.md5`): ListParts, AbortMultipartUpload and ListMultipartUploads, as S3 and
 * MinIO answer them; and NoSuchUpload for a part or completion sent to an upload that is gone
 * (s3rver would recreate its directory). Resumable uploads depend on exactly these answers.
 * Enabled by `s3rver-main.ts --multipart-api`; without it the server stays stock s3rver.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

/** The part of a Koa context this middleware touches. */
export interface KoaLike {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}

const xmlEscape = (s: string) =>
  s.replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] ?? c);

function xml(ctx: KoaLike, status: number, body: string): void {
  ctx.status = status;
  ctx.type = "application/xml";
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
}

/** Koa middleware answering the multipart calls above from the store under `directory`. */
export function multipartApi(directory: string) {
  const uploadsOf = (bucket: string) => join(directory, bucket, "._S3rver_uploads");
  return async (ctx: KoaLike, next: () => Promise<void>): Promise<void> => {
    const [, bucket = "", ...rest] = ctx.path.split("/");
    const key = decodeURIComponent(rest.join("/"));
    const uploadId = typeof ctx.query.uploadId === "string" ? ctx.query.uploadId : undefined;
    if (ctx.method === "GET" && key === "" && "uploads" in ctx.query)
      return listUploads(ctx, bucket, uploadsOf(bucket));
    if (!uploadId || key === "") return next();
    const dir = join(uploadsOf(bucket), uploadId);
    if (!/^[0-9a-f]+$/.test(uploadId) || !existsSync(join(dir, "key"))) {
      const message = "The specified upload does not exist.";
      return xml(
        ctx,
        404,
        `<Error><Code>NoSuchUpload</Code><Message>${message}</Message><UploadId>${xmlEscape(uploadId)}</UploadId></Error>`,
      );
    }
    if (ctx.method === "DELETE") {
      rmSync(dir, { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = "";
      return;
    }
    if (ctx.method === "GET") return listParts(ctx, bucket, key, uploadId, dir);
    return next();
  };
}

function listParts(ctx: KoaLike, bucket: string, key: string, uploadId: string, dir: string): void {
  const numbers = readdirSync(dir)
    .filter((f) => /^\d+$/.test(f) && existsSync(join(dir, `${f}.md5`)))
    .map(Number)
    .sort((a, b) => a - b);
  const parts = numbers.map((n) => {
    const st = statSync(join(dir, String(n)));
    const md5 = readFileSync(join(dir, `${n}.md5`), "utf8").trim();
    return `<Part><PartNumber>${n}</PartNumber><LastModified>${st.mtime.toISOString()}</LastModified><ETag>"${md5}"</ETag><Size>${st.size}</Size></Part>`;
  });
  xml(
    ctx,
    200,
    `<ListPartsResult><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId><IsTruncated>false</IsTruncated>${parts.join("")}</ListPartsResult>`,
  );
}

function listUploads(ctx: KoaLike, bucket: string, uploads: string): void {
  const prefix = typeof ctx.query.prefix === "string" ? ctx.query.prefix : "";
  const entries = existsSync(uploads) ? readdirSync(uploads) : [];
  const listed = entries.flatMap((id) => {
    const keyFile = join(uploads, id, "key");
    if (!existsSync(keyFile)) return [];
    const key = readFileSync(keyFile, "utf8");
    if (!key.startsWith(prefix)) return [];
    const initiated = statSync(keyFile).mtime.toISOString();
    return [
      `<Upload><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId><Initiated>${initiated}</Initiated></Upload>`,
    ];
  });
  xml(
    ctx,
    200,
    `<ListMultipartUploadsResult><Bucket>${xmlEscape(bucket)}</Bucket><Prefix>${xmlEscape(prefix)}</Prefix><IsTruncated>false</IsTruncated>${listed.join("")}</ListMultipartUploadsResult>`,
  );
}
