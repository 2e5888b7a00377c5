/**
 * Runs and artifact versions: upsertBucket, createArtifact (names, types, aliases, metadata,
 * digest deduplication) and commitArtifact (the manifest against the uploaded files and the
 * artifact digest, then version numbers and aliases). Inputs arrive type-checked by the GraphQL
 * schema; every refusal is a WandbRuleError naming what is wrong or missing, answered in a 200
 * as the real service does.
 */
import { readFileSync } from "node:fs";
import type { ArtifactStore } from "./artifact-store.ts";
import type { ArtifactRecord } from "./records.ts";
import {
  checkAlias,
  checkClientId,
  checkCollectionName,
  checkHexMd5,
  checkPathName,
  checkTag,
  checkType,
  fail,
  manifestDigest,
  parseManifest,
  parseMetadata,
} from "./rules.ts";

type Opt<T> = T | null | undefined;

export interface CreateArtifactInput {
  entityName: string;
  projectName: string;
  runName?: Opt<string>;
  artifactTypeName: string;
  artifactCollectionName?: Opt<string>;
  artifactCollectionNames?: Opt<string[]>;
  digest: string;
  digestAlgorithm?: Opt<string>;
  aliases?: Opt<{ artifactCollectionName: string; alias: string }[]>;
  tags?: Opt<{ tagName: string }[]>;
  metadata?: unknown;
  description?: Opt<string>;
  clientID?: Opt<string>;
  sequenceClientID?: Opt<string>;
  enableDigestDeduplication?: Opt<boolean>;
}

const unique = (xs: string[]): string[] => [...new Set(xs)];
/** Manifests are read whole to be checked; real ones are a few hundred bytes per file. */
const MAX_MANIFEST = 256 << 20;

export class Versions {
  private readonly store: ArtifactStore;

  constructor(store: ArtifactStore) {
    this.store = store;
  }

  upsertBucket(input: { name?: Opt<string>; modelName?: Opt<string>; entityName?: Opt<string> }) {
    const entity = checkPathName("entityName", input.entityName);
    const project = checkPathName("modelName (the project)", input.modelName);
    const name = checkPathName("name (the run id)", input.name);
    const { run, projectId, entityId } = this.store.upsertRun(entity, project, name);
    return { id: run.id, name, project: { id: projectId, name: project, entity: { id: entityId, name: entity } } };
  }

  createArtifact(input: CreateArtifactInput): ArtifactRecord {
    const entity = checkPathName("entityName", input.entityName);
    const project = checkPathName("projectName", input.projectName);
    const name = collectionName(input);
    checkCollectionName(name);
    checkType(input.artifactTypeName, name);
    if (!input.runName) fail("runName is required: the double only takes artifacts logged by a run");
    if (!this.store.run(entity, project, input.runName)) {
      fail(`run ${entity}/${project}/${input.runName} does not exist: call upsertBucket first`);
    }
    checkHexMd5("digest", input.digest);
    if (input.digestAlgorithm !== "MANIFEST_MD5") fail("digestAlgorithm must be MANIFEST_MD5");
    checkClientId("clientID", input.clientID);
    checkClientId("sequenceClientID", input.sequenceClientID);
    for (const a of input.aliases ?? []) {
      if (a.artifactCollectionName !== name) {
        fail(
          `alias ${JSON.stringify(a.alias)} names collection ${JSON.stringify(a.artifactCollectionName)}, not ${name}`,
        );
      }
      checkAlias(a.alias);
    }
    for (const t of input.tags ?? []) checkTag(t.tagName);
    const metadata = parseMetadata(input.metadata);
    const known = this.store.collectionType(entity, project, name);
    if (known !== undefined && known !== input.artifactTypeName) {
      fail(`artifact ${name} has type ${known}: a version of type ${input.artifactTypeName} cannot join it`);
    }
    const aliases = unique((input.aliases ?? []).map((a) => a.alias));
    if (input.enableDigestDeduplication) {
      const same = this.store.versions(entity, project, name).find((a) => a.digest === input.digest);
      if (same) {
        this.store.save(same, ...this.moveAliases(same, aliases));
        return same;
      }
    }
    if (known === undefined) this.store.addCollection(entity, project, name, input.artifactTypeName);
    const artifact: ArtifactRecord = {
      id: this.store.newId("Artifact").id,
      entity,
      project,
      collection: name,
      type: input.artifactTypeName,
      digest: input.digest,
      state: "PENDING",
      versionIndex: null,
      requestedAliases: aliases,
      aliases: [],
      metadata,
      description: input.description ?? null,
      runName: input.runName,
      createdAt: new Date().toISOString(),
      manifest: null,
      files: {},
    };
    this.store.addArtifact(artifact);
    return artifact;
  }

  /** The version holding `latest` in the artifact's collection, if any. */
  latest(a: ArtifactRecord): ArtifactRecord | null {
    return this.store.versions(a.entity, a.project, a.collection).find((v) => v.aliases.includes("latest")) ?? null;
  }

  commitArtifact(input: { artifactID: string }): ArtifactRecord {
    const a = this.store.pending(input.artifactID, "commitArtifact");
    if (!a.manifest) fail(`commitArtifact on artifact ${a.id} before createArtifactManifest`);
    const mf = a.manifest.file;
    if (!mf.md5) fail("commitArtifact before the manifest digest was given (createArtifactManifest with its digest)");
    if (!mf.stored) fail("commitArtifact before the manifest was uploaded (PUT to its uploadUrl)");
    const missing = Object.values(a.files).filter((f) => !f.stored);
    if (missing.length > 0) {
      fail(`commitArtifact before every file was uploaded: ${missing.map((f) => f.path).join(", ")}`);
    }
    if (mf.stored.size > MAX_MANIFEST) fail(`the manifest is ${mf.stored.size} bytes, more than the double reads`);
    const { entries } = parseManifest(readFileSync(this.store.blobPath(mf.stored.blob)));
    for (const e of entries) {
      const f = a.files[e.path];
      if (!f?.stored) fail(`manifest lists ${e.path}, which no createArtifactFiles declared`);
      if (e.digest !== f.stored.md5) {
        fail(`manifest digest of ${e.path} is ${e.digest}, the stored bytes have ${f.stored.md5}`);
      }
      if (e.size !== f.stored.size) {
        fail(`manifest size of ${e.path} is ${e.size}, the stored bytes are ${f.stored.size}`);
      }
      if (e.birthArtifactID !== f.birthArtifactID) {
        fail(`manifest birthArtifactID of ${e.path} is ${e.birthArtifactID}, expected ${f.birthArtifactID}`);
      }
    }
    const listed = new Set(entries.map((e) => e.path));
    const unlisted = Object.keys(a.files).filter((p) => !listed.has(p));
    if (unlisted.length > 0) fail(`files uploaded but missing from the manifest: ${unlisted.join(", ")}`);
    const computed = manifestDigest(entries);
    if (computed !== a.digest) fail(`artifact digest ${a.digest} is not MANIFEST_MD5 of the manifest (${computed})`);
    this.store.commit(a);
    // The server gives `latest` to the newest commit whatever the client asked.
    this.store.save(a, ...this.moveAliases(a, unique([...a.requestedAliases, "latest"])));
    return a;
  }

  /** Gives `aliases` to `a`, taking them off the collection's other versions; returns those changed. */
  private moveAliases(a: ArtifactRecord, aliases: string[]): ArtifactRecord[] {
    const changed: ArtifactRecord[] = [];
    for (const v of this.store.versions(a.entity, a.project, a.collection)) {
      if (v === a || !v.aliases.some((x) => aliases.includes(x))) continue;
      v.aliases = v.aliases.filter((x) => !aliases.includes(x));
      changed.push(v);
    }
    a.aliases = unique([...a.aliases, ...aliases]);
    return changed;
  }
}

function collectionName(input: CreateArtifactInput): string {
  const names = input.artifactCollectionNames;
  if (names !== null && names !== undefined) {
    if (names.length !== 1) fail("artifactCollectionNames must hold exactly one name");
    if (input.artifactCollectionName && input.artifactCollectionName !== names[0]) {
      fail("artifactCollectionName and artifactCollectionNames disagree");
    }
  }
  const name = input.artifactCollectionName || names?.[0];
  if (!name) fail("artifactCollectionName is required");
  return name;
}
