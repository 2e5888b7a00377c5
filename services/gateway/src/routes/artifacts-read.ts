/**
 * Where artifacts are: one version's status by id, a run's artifacts (newest version per name,
 * paginated), and `/wait` until a run's artifacts (or the given ids) are final everywhere.
 */

import { artifactStatus, destinationsOf, runArtifacts } from "@artifact-bus/shared";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { hasProject } from "../auth.ts";
import type { GatewayDeps } from "../deps.ts";
import type { StoredEvent } from "../event-index.ts";
import { Problem } from "../problems.ts";
import { type WaitTarget, waitForTargets } from "../run-wait.ts";
import {
  ArtifactList,
  type ArtifactListBody,
  type ArtifactStatusBody,
  EventId,
  problems,
  RunParams,
  WaitBody,
  WaitResult,
} from "../schemas.ts";

const MAX_PAGE = 1000;

export async function readRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<void> {
  app.get(
    "/v1/artifacts/:id",
    {
      config: { role: "read" },
      schema: {
        summary: "One artifact version: its event and its state at each destination",
        tags: ["artifacts"],
        params: Type.Object({ id: EventId }),
        response: { 200: Type.Ref("ArtifactStatus"), ...problems(400, 401, 403, 404, 503) },
      },
    },
    async (request): Promise<ArtifactStatusBody> => {
      const { id } = request.params as { id: string };
      // Only among the caller's projects: another project's version of this id is none of theirs.
      const caller = request.caller!;
      const stored = await deps.index.byId(id, (project) => hasProject(caller, project));
      if (!stored)
        throw new Problem(
          "not-found",
          `no artifact version ${id} (unknown, expired, or not yet seen by any destination)`,
          { field: "id" },
        );
      return artifactStatus(deps.ledger, deps.directory, stored);
    },
  );

  app.get(
    "/v1/projects/:project/runs/:run/artifacts",
    {
      config: { role: "read" },
      schema: {
        summary: "A run's artifacts: the newest version of each name, with its states",
        tags: ["artifacts"],
        params: RunParams,
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 100 })),
          cursor: Type.Optional(Type.String({ description: "`next` of the previous page" })),
        }),
        response: { 200: ArtifactList, ...problems(400, 401, 403, 503) },
      },
    },
    async (request): Promise<ArtifactListBody> => {
      const { project, run } = request.params as { project: string; run: string };
      const { limit, cursor } = request.query as { limit: number; cursor?: string };
      const after = cursor === undefined ? undefined : keyOfCursor(cursor);
      const page = await runArtifacts(deps.index, deps.ledger, deps.directory, {
        project,
        run,
        limit,
        ...(after === undefined ? {} : { after }),
      });
      return { items: page.items, next: page.next === null ? null : Buffer.from(page.next).toString("base64url") };
    },
  );

  app.post(
    "/v1/projects/:project/runs/:run/wait",
    {
      config: { role: "read" },
      schema: {
        summary: "Wait until a run's artifacts (or the given ids) are final at every destination",
        description:
          "Long-polls: answers when every (artifact, destination) is uploaded, superseded or dead, or when the timeout passed (`done: false`). Without ids it covers the newest version of every name the run has when the request arrives.",
        tags: ["artifacts"],
        params: RunParams,
        querystring: Type.Object({
          timeout: Type.Optional(
            Type.Number({ minimum: 0, default: 30, description: "Seconds; capped by gateway.maxWaitSeconds" }),
          ),
        }),
        body: WaitBody,
        response: { 200: WaitResult, ...problems(400, 401, 403, 404, 503) },
      },
      // The body is optional: none means the whole run.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const { project, run } = request.params as { project: string; run: string };
      const { timeout } = request.query as { timeout: number };
      const ids = (request.body as { ids?: string[] } | undefined)?.ids;
      const timeoutMs = Math.min(timeout, deps.config.maxWaitSeconds) * 1000;
      // A waiting client sends nothing: the idle timeout must not cut it.
      request.raw.socket.setTimeout(timeoutMs + 30_000);
      const events = ids ? await eventsByIds(deps, project, run, ids) : await newestOfRun(deps, project, run);
      const targets: WaitTarget[] = [];
      for (const stored of events) {
        const { event, streamSeq } = stored;
        for (const token of await destinationsOf(deps.directory, stored)) {
          targets.push({ id: event.id, name: event.name, project, run, destinationToken: token, streamSeq });
        }
      }
      const gone = new AbortController();
      const onClose = () => gone.abort();
      request.raw.socket.once("close", onClose);
      deps.metrics.waiters.inc();
      try {
        return await waitForTargets(deps.hub, targets, timeoutMs, gone.signal);
      } finally {
        deps.metrics.waiters.dec();
        request.raw.socket.off("close", onClose);
      }
    },
  );
}

async function newestOfRun(deps: GatewayDeps, project: string, run: string): Promise<StoredEvent[]> {
  const groups = await deps.index.runNames(project, run);
  return (await Promise.all(groups.map((g) => deps.index.newest(g)))).filter((s) => s !== undefined);
}

async function eventsByIds(deps: GatewayDeps, project: string, run: string, ids: string[]): Promise<StoredEvent[]> {
  const unique = [...new Set(ids)];
  const found = await Promise.all(unique.map((id) => deps.index.byId(id, (p) => p === project)));
  const missing = unique.filter((_, i) => {
    const s = found[i];
    return !s || s.event.project !== project || s.event.run !== run;
  });
  if (missing.length > 0) {
    throw new Problem("not-found", `not artifacts of ${project}/${run}: ${missing.slice(0, 10).join(", ")}`, {
      field: "ids",
      extra: { ids: missing },
    });
  }
  return found as StoredEvent[];
}

/**
 * The name key a listing cursor stands for (`next` is a key, base64url). One the gateway never
 * gave is refused: read as a key, it would page past everything and answer an empty page with
 * `next: null`, which a client takes for the end of the run.
 */
function keyOfCursor(cursor: string): string {
  const key = Buffer.from(cursor, "base64url").toString("latin1");
  if (!/^[a-z2-7]{26}$/.test(key) || Buffer.from(key).toString("base64url") !== cursor) {
    throw new Problem("invalid-request", "cursor is not the `next` of a page of this listing", { field: "cursor" });
  }
  return key;
}
