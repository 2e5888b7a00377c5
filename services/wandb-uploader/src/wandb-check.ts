/**
 * The live check behind `artifact-bus wandb check`: logs one tiny artifact to a scratch project
 * with the uploader's own saver, then reads it back the way the official clients do
 * (`wandb.Api().artifact("entity/project/name:latest")`, then the manifest and the file through
 * their download URLs) and compares digests. Against the real service this confirms a deployment
 * in seconds; each step prints what it did, and a failure names its step.
 *
 * Nothing printed carries the API key or a signed URL (those grant access): only hosts and ids.
 */
import { createHash, randomBytes } from "node:crypto";
import { WandbApi } from "./wandb-api.ts";
import { manifestDigest, md5Base64 } from "./wandb-digest.ts";
import { ARTIFACT_BY_NAME, ARTIFACT_FILE_URLS, ARTIFACT_MANIFEST, VIEWER } from "./wandb-queries.ts";
import { WandbSaver } from "./wandb-saver.ts";
import { SignedStorage } from "./wandb-storage.ts";

export interface WandbCheckOptions {
  baseUrl: string;
  apiKey: string | undefined;
  entity: string;
  /** A scratch project: the check adds a version of `artifact-bus-check` to it each time. */
  project: string;
  run: string;
  /** Receives one line per step. */
  print: (line: string) => void;
}

export interface WandbCheckResult {
  ok: boolean;
  /** The step that failed, e.g. "find". */
  failedStep?: string;
}

/** The artifact (and its only file) the check logs. */
export const CHECK_ARTIFACT = "artifact-bus-check";
const CHECK_FILE = "artifact-bus-check.txt";

type Step = { name: string; run: () => Promise<string> };

export async function wandbCheck(o: WandbCheckOptions): Promise<WandbCheckResult> {
  const signal = AbortSignal.timeout(60_000);
  // One quick retry: a check that waits out long backoffs would hide what is slow.
  const api = new WandbApi({
    baseUrl: o.baseUrl,
    apiKey: o.apiKey,
    requestTimeoutMs: 15_000,
    retries: 1,
    maxRetryAfterMs: 5_000,
  });
  const storage = new SignedStorage();
  const call = <T>(op: string, query: string, variables: object) => api.request<T>(op, query, variables, signal);
  // Fresh bytes each time, so the whole upload runs (the same content would be deduplicated).
  const bytes = Buffer.from(`artifact-bus wandb check ${new Date().toISOString()} ${randomBytes(8).toString("hex")}\n`);
  const md5 = md5Base64(bytes);
  const digest = manifestDigest({ [CHECK_FILE]: md5 });
  const where = `${o.entity}/${o.project}/${CHECK_ARTIFACT}`;
  let artifactId = "";
  let entry = { digest: "", size: 0, birthArtifactID: "" };

  const steps: Step[] = [
    {
      name: "key",
      run: async () => {
        const { viewer } = await call<{ viewer: { username?: string } | null }>("Viewer", VIEWER, {});
        if (!viewer) throw new Error("the server knows no user for this key");
        return `${new URL(o.baseUrl).host} accepts the key (user ${viewer.username ?? "?"})`;
      },
    },
    {
      name: "log",
      run: async () => {
        const saver = new WandbSaver(api, storage);
        const saved = await saver.save(
          {
            entity: o.entity,
            project: o.project,
            run: o.run,
            artifactName: CHECK_ARTIFACT,
            type: CHECK_ARTIFACT,
            aliases: ["latest"],
            metadata: { purpose: "artifact-bus wandb check" },
            path: CHECK_FILE,
            size: bytes.length,
            md5,
            send: (url, headers) => storage.put(url, headers, bytes, signal, CHECK_FILE),
            // A check holds no lease: nobody else writes its artifact.
            beforeVisible: async () => undefined,
          },
          signal,
        );
        artifactId = saved.artifactId;
        const version = saved.versionIndex === undefined ? "" : ` as v${saved.versionIndex}`;
        return `logged ${bytes.length} bytes to ${where}${version} on run ${o.run} (artifact ${artifactId}, digest ${saved.digest})`;
      },
    },
    {
      name: "find",
      run: async () => {
        type Answer = { project: { artifactCollectionMembership: { artifact: Found | null } | null } | null };
        const vars = { entity: o.entity, project: o.project, name: `${CHECK_ARTIFACT}:latest` };
        const answer = await call<Answer>("ArtifactMembershipByName", ARTIFACT_BY_NAME, vars);
        if (!answer.project) throw new Error(`project ${o.entity}/${o.project} not found`);
        const found = answer.project.artifactCollectionMembership?.artifact;
        if (!found) throw new Error(`${where}:latest not found`);
        if (found.id !== artifactId)
          throw new Error(`${where}:latest is artifact ${found.id}, not the one just logged`);
        if (found.digest !== digest) throw new Error(`digest ${found.digest}, expected ${digest}`);
        if (found.state !== "COMMITTED") throw new Error(`state ${found.state}, expected COMMITTED`);
        return `${where}:latest is the version just logged (v${found.versionIndex}, digest ${found.digest} matches)`;
      },
    },
    {
      name: "manifest",
      run: async () => {
        type Answer = { artifact: { currentManifest: { file: { directUrl: string } } | null } | null };
        const answer = await call<Answer>("ArtifactManifest", ARTIFACT_MANIFEST, { artifact_id: artifactId });
        const url = answer.artifact?.currentManifest?.file.directUrl;
        if (!url) throw new Error("the version has no manifest to download");
        const manifest = JSON.parse((await download(url, signal)).toString("utf8")) as {
          contents?: Record<string, typeof entry>;
        };
        const e = manifest.contents?.[CHECK_FILE];
        if (!e) throw new Error(`the manifest does not list ${CHECK_FILE}`);
        if (e.digest !== md5 || e.size !== bytes.length) {
          throw new Error(`the manifest lists ${e.digest} (${e.size} bytes), expected ${md5} (${bytes.length} bytes)`);
        }
        entry = e;
        return `downloaded the manifest from ${new URL(url).host}: ${CHECK_FILE}, ${e.size} bytes, md5 ${e.digest}`;
      },
    },
    {
      name: "file",
      run: async () => {
        type Answer = {
          artifact: { filesByManifestEntries: { edges: { node: { name: string; directUrl: string } }[] } };
        };
        const entries = [
          { name: CHECK_FILE, digest: entry.digest, birthArtifactID: entry.birthArtifactID, size: entry.size },
        ];
        const vars = { id: artifactId, entries, storageLayout: "V2", manifestVersion: "1" };
        const answer = await call<Answer>("ArtifactFileURLsByManifestEntries", ARTIFACT_FILE_URLS, vars);
        const node = answer.artifact?.filesByManifestEntries.edges.find((e) => e.node.name === CHECK_FILE)?.node;
        if (!node) throw new Error(`no download URL for ${CHECK_FILE}`);
        const got = await download(node.directUrl, signal);
        const gotMd5 = createHash("md5").update(got).digest("base64");
        if (gotMd5 !== md5 || !got.equals(bytes)) {
          throw new Error(`downloaded ${got.length} bytes with md5 ${gotMd5}, logged ${bytes.length} with ${md5}`);
        }
        return `downloaded ${CHECK_FILE} from ${new URL(node.directUrl).host}: md5 ${gotMd5} matches the bytes logged`;
      },
    },
  ];

  try {
    for (const [i, step] of steps.entries()) {
      const label = `${i + 1}/${steps.length} ${step.name}`;
      try {
        o.print(`${label}: ${await step.run()}`);
      } catch (err) {
        o.print(`${label}: FAILED: ${(err as Error)?.message ?? String(err)}`);
        return { ok: false, failedStep: step.name };
      }
    }
    o.print(`ok: ${o.baseUrl} takes artifacts from artifact-bus and gives them back intact`);
    return { ok: true };
  } finally {
    storage.close();
  }
}

type Found = { id: string; digest: string; state: string; versionIndex: number | null };

/** GETs a signed download URL as the official clients do: no credentials of ours, only the URL's own. */
async function download(url: string, signal: AbortSignal): Promise<Buffer> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`download from ${new URL(url).host} answered HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}
