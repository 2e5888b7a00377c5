/**
 * `GET .../artifacts/{name}/content`: the bytes of the newest version of a name that has landed,
 * read back from a destination that can (S3, SFTP), with `ETag: "<sha256>"` and byte ranges.
 * What resuming trainers load checkpoints with. A version still uploading is skipped for the
 * newest one uploaded, which is what the destination holds. A resuming download sends `If-Range`
 * with the ETag it has the start of: when that is no longer the current version, Range is ignored
 * and the whole current version is sent (RFC 9110 13.1.5), so two versions are never stitched.
 */
import {
  artifactKey,
  type ByteRange,
  checkArtifactName,
  destinationFromToken,
  eventSubject,
  isTerminal,
  parseDestinationName,
  type RemoteContent,
  RemoteNotFoundError,
} from "@artifact-bus/shared";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { GatewayDeps } from "../deps.ts";
import type { StoredEvent } from "../event-index.ts";
import { Problem } from "../problems.ts";
import { problems, RunParams } from "../schemas.ts";
import { ANSWER_HEADERS, sendContent } from "./content-answer.ts";
import { tokenOf } from "./operations.ts";
import { findSetFile, openSetFile, type SetFile } from "./set-content.ts";

const SUFFIX = "/content";

/** The version to serve and where it landed. */
interface Landed {
  stored: StoredEvent;
  destination: string;
  location: string;
  /**
   * Newer versions not final at that destination (no entry, pending, uploading): one of them
   * may already be at `location`, renamed into place before its ledger entry was written.
   */
  unsettled: StoredEvent[];
}

export async function contentRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.get(
    "/v1/projects/:project/runs/:run/artifacts/*",
    {
      // fastify answers HEAD with this handler (the headers, no body); the document shows it too.
      config: { role: "read", swagger: { exposeHeadRoute: true } },
      schema: {
        summary: "The bytes of the newest landed version of an artifact",
        description:
          "Path: `.../artifacts/{name}/content`. Read back from `destination` (default: the first destination the gateway can read from where a version landed). `ETag` is the sha256; `Range: bytes=` is honoured (206). With `If-Range: \"<etag>\"`, only while that is the current ETag (strong comparison; a date never matches, there is no Last-Modified): otherwise Range is ignored and the whole current version comes with 200. `Artifact-Id` names the version served, and `Artifact-Set` (URI-encoded) the checkpoint set it was logged in, if any: a set of one file has no manifest, so its reader checks that the file is the set's (`Artifact-Set` is its own name) and its bytes against the ETag. A checkpoint set's manifest (`<set>/_set-manifest.json`) and pointer (default `<dir of set>/latest`), written by the destination once the set is complete, are read here too (whole, ETag the sha256 of the bytes served).",
        tags: ["artifacts"],
        params: Type.Object({
          project: RunParams.properties.project,
          run: RunParams.properties.run,
          "*": Type.String(),
        }),
        querystring: Type.Object({ destination: Type.Optional(Type.String({ description: "e.g. s3:main" })) }),
        headers: Type.Object({
          range: Type.Optional(Type.String({ description: "bytes=first-last, bytes=first- or bytes=-suffix" })),
          "if-range": Type.Optional(
            Type.String({
              description: "The ETag the client's partial copy is of: Range applies only while it is current",
            }),
          ),
        }),
        response: {
          200: Type.String({
            description: "The artifact's bytes",
            contentMediaType: "application/octet-stream",
            headers: ANSWER_HEADERS,
          }),
          206: Type.String({
            description: "The requested range",
            contentMediaType: "application/octet-stream",
            headers: {
              ...ANSWER_HEADERS,
              "content-range": { type: "string", description: "`bytes <first>-<last>/<size>`" },
            },
          }),
          ...problems(400, 401, 403, 404, 416, 502, 503),
        },
      },
    },
    (request, reply) => serveContent(deps, request, reply),
  );
}

async function serveContent(deps: GatewayDeps, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { project, run, "*": path } = request.params as { project: string; run: string; "*": string };
  if (!path.endsWith(SUFFIX)) throw new Problem("not-found", "artifacts are read at .../artifacts/{name}/content");
  const name = checkArtifactName(path.slice(0, -SUFFIX.length));
  const { destination } = request.query as { destination?: string };
  const landed = await newestLanded(deps, project, run, name, destination);
  if ("setFile" in landed) return serveSetFile(deps, request, reply, landed.setFile);
  const given = request.headers["if-range"];
  // Sent twice it is no single validator: joined, it matches none.
  const ifRange = Array.isArray(given) ? given.join(", ") : given;
  const gone = new AbortController();
  request.raw.socket.once("close", () => gone.abort());
  const { content, stored, range } = await openServed(deps, request, landed, ifRange, gone.signal);
  const { event } = stored;
  const etag = content.sha256 ?? event.blob.sha256;
  reply
    .header("etag", `"${etag}"`)
    .header("accept-ranges", "bytes")
    .header("content-type", event.contentType)
    .header("artifact-id", event.id)
    .header("artifact-destination", landed.destination);
  // The set the version served was logged in (URI-encoded): a set of one file's reader checks it is its file.
  if (event.set) reply.header("artifact-set", encodeURI(event.set.name));
  if (range) {
    reply.code(206).header("content-range", `bytes ${range.first}-${range.last}/${content.size}`);
    reply.header("content-length", String(range.last - range.first + 1));
  } else reply.code(200).header("content-length", String(content.size));
  return sendContent(request, reply, content.body);
}

/** A set's manifest or pointer, whole (no Range: they are small), its ETag the sha256 of the bytes served. */
async function serveSetFile(
  deps: GatewayDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  file: SetFile,
): Promise<FastifyReply> {
  const gone = new AbortController();
  request.raw.socket.once("close", () => gone.abort());
  const content = await openSetFile(deps, file, gone.signal);
  reply
    .code(200)
    .header("etag", `"${content.sha256}"`)
    .header("content-type", file.contentType)
    .header("content-length", String(content.size))
    .header("artifact-destination", file.destination);
  return sendContent(request, reply, content.body);
}

/**
 * Whether Range applies under `If-Range` (RFC 9110 13.1.5): without the header, yes; with an
 * entity tag, only if it is strongly equal to the current one; a weak tag never matches, and a
 * date never does either, as the gateway sends no Last-Modified to hold it to.
 */
export function ifRangeHolds(header: string | undefined, sha256: string): boolean {
  if (header === undefined) return true;
  return header.trim() === `"${sha256}"`;
}

/**
 * Opens what `landed.location` holds and names the version it is. When no newer version is
 * unsettled there, it is the landed one, unless the destination's own record of the bytes names
 * a version that landed after the lookup (its ETag is then the one If-Range is held to). Otherwise
 * the bytes are identified by their sha256 (the destination's own, or hashed through the open file
 * where it keeps none): the version whose digest it is, so the ETag, size, type and id all
 * describe the bytes served. A Range is applied only while If-Range holds for the version served,
 * and parsed against its size; bytes no version claims answer 503.
 */
async function openServed(
  deps: GatewayDeps,
  request: FastifyRequest,
  landed: Landed,
  ifRange: string | undefined,
  signal: AbortSignal,
): Promise<{ content: RemoteContent; stored: StoredEvent; range: ByteRange | undefined }> {
  const candidates = [...landed.unsettled, landed.stored];
  let version = landed.stored;
  for (let attempt = 0; attempt < 2; attempt++) {
    // A failed If-Range voids the Range before it is even parsed: no 416 for a range of an old version.
    const { sha256, size } = version.event.blob;
    const range = ifRangeHolds(ifRange, sha256) ? parseRange(request.headers.range, size) : undefined;
    const content = await openRemote(deps, request, landed, range, signal);
    if (landed.unsettled.length === 0) {
      if (!range || content.sha256 === undefined || ifRangeHolds(ifRange, content.sha256)) {
        return { content, stored: landed.stored, range };
      }
      content.body.destroy(); // a newer version landed between the lookup and the read: all of it
      return {
        content: await openRemote(deps, request, landed, undefined, signal),
        stored: landed.stored,
        range: undefined,
      };
    }
    const stored = candidates.find((c) => c.event.blob.sha256 === content.sha256);
    if (stored && (range === undefined || stored === version)) return { content, stored, range };
    content.body.destroy();
    if (!stored) break;
    version = stored; // the version there is another one than the range was parsed for
  }
  throw new Problem(
    "destination-unavailable",
    `${landed.location} at ${landed.destination} holds bytes of a version not recorded yet`,
    { retryAfterS: 1 },
  );
}

/** `openRead` of the landed location, with the sha256 asked for when the version is in doubt. */
async function openRemote(
  deps: GatewayDeps,
  request: FastifyRequest,
  landed: Landed,
  range: ByteRange | undefined,
  signal: AbortSignal,
): Promise<RemoteContent> {
  try {
    const adapter = await deps.readBack.get(landed.destination);
    return await adapter.openRead(landed.location, range, signal, { sha256: landed.unsettled.length > 0 });
  } catch (err) {
    if (err instanceof RemoteNotFoundError) {
      throw new Problem("not-landed", `${landed.location} is gone from ${landed.destination}`, { field: "name" });
    }
    request.log.warn({ err, destination: landed.destination }, "read-back failed");
    throw new Problem("destination-unavailable", `${landed.destination} could not be read: ${(err as Error).message}`, {
      retryAfterS: 5,
    });
  }
}

/**
 * The newest version of `name` uploaded at `destination` (or at the first readable one that has
 * it), with the newer versions not yet final there.
 */
async function newestLanded(
  deps: GatewayDeps,
  project: string,
  run: string,
  name: string,
  destination: string | undefined,
): Promise<Landed | { setFile: SetFile }> {
  if (destination !== undefined) {
    tokenOf(destination);
    if (!deps.readBack.can(destination)) {
      throw new Problem("not-landed", `${destination} cannot be read back by this gateway`, { field: "destination" });
    }
  }
  const candidates = destination ? [destination] : deps.readBack.names;
  if (candidates.length === 0) throw new Problem("not-landed", "no destination here can be read back (S3, SFTP)");
  const versions = await deps.index.versions(project, run, artifactKey(name));
  if (versions.length === 0) {
    // No event names it: it may be a file a destination wrote for a set (its manifest, its pointer).
    const setFile = await findSetFile(deps, project, run, name, candidates);
    if (setFile) return { setFile };
    throw new Problem("not-landed", `no artifact ${name} in ${project}/${run}`, { field: "name" });
  }
  const unsettled = new Map<string, StoredEvent[]>(candidates.map((d) => [d, []]));
  for (const stored of versions) {
    const ref = { project, run, eventId: stored.event.id };
    for (const d of candidates) {
      const entry = await deps.ledger.get(parseDestinationName(d).token, ref);
      if (entry?.state === "uploaded" && entry.location) {
        return { stored, destination: d, location: entry.location, unsettled: unsettled.get(d) ?? [] };
      }
      // A version d never takes (another level) has no entry there, and is never at its location.
      if (!isTerminal(entry?.state) && deps.readBack.takes(d, eventSubject(stored.event))) {
        unsettled.get(d)?.push(stored);
      }
    }
  }
  const where = candidates.map((c) => destinationFromToken(parseDestinationName(c).token)).join(", ");
  throw new Problem("not-landed", `no version of ${name} has been uploaded to ${where} yet`, { field: "name" });
}

/** The single satisfiable range a `Range` header asks for; undefined for none (or a form we serve whole). */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: RFC 9110 lets a server answer with the whole representation.
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  // first after last is no valid range at all, and RFC 9110 14.2 says to ignore one: the whole.
  if (m[1] !== "" && m[2] !== "" && Number(m[1]) > Number(m[2])) return undefined;
  let first: number;
  let last: number;
  if (m[1] === "") {
    first = Math.max(0, size - Number(m[2]));
    last = size - 1;
  } else {
    first = Number(m[1]);
    last = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (first >= size) {
    // RFC 9110 15.5.17: the size, so a client can ask again for what there is.
    throw new Problem("range-not-satisfiable", `${header} lies outside ${size} bytes`, {
      field: "Range",
      headers: { "content-range": `bytes */${size}` },
    });
  }
  return { first, last };
}
