/**
 * What the W&B API double knows: runs, artifact collections, artifacts with their files and
 * manifest, multipart uploads in flight. Plain JSON-able records; each change is appended to
 * `journal.jsonl` in the data dir before the request is answered (the newest line of a record
 * wins on load), so a stop, a restart or a SIGKILL of the double keeps everything it answered
 * for, and a benchmark's thousands of artifacts cost one short line per change rather than a
 * rewrite of everything. File bytes live under `blobs/`. The protocol's rules live in
 * versions.ts and uploads.ts; this file only holds and finds.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ArtifactRecord, FileRecord, RunRecord, StoredBytes } from "./records.ts";
import { fail } from "./rules.ts";
import type { StoredArtifact } from "./types.ts";

/** One journal line: a record as it is now. */
type JournalLine =
  | { meta: { nextId: number; secret: string } }
  | { run: RunRecord }
  | { project: { key: string; id: string; entityId: string } }
  | { collection: { key: string; type: string } }
  | { artifact: ArtifactRecord };

/** Which record a signed storage URL points at. */
export interface UploadTarget {
  artifact: ArtifactRecord;
  file: FileRecord;
  kind: "file" | "manifest";
}

export const keyOf = (entity: string, project: string, name: string): string => `${entity}/${project}/${name}`;

export class ArtifactStore {
  readonly dataDir: string;
  readonly blobDir: string;
  readonly tmpDir: string;
  private readonly journal: string;
  private nextId = 1;
  private secretKey = randomBytes(32).toString("hex");
  private readonly runs = new Map<string, RunRecord>();
  private readonly projects = new Map<string, { id: string; entityId: string }>();
  private readonly collections = new Map<string, string>();
  private readonly artifacts = new Map<string, ArtifactRecord>();
  /** Committed versions per collection key, by versionIndex. */
  private readonly committed = new Map<string, ArtifactRecord[]>();
  // Derived from the artifacts, so never journaled: signed-URL handle -> file (path null: the manifest).
  private readonly handles = new Map<number, { artifactId: string; path: string | null }>();
  private readonly uploads = new Map<string, { artifactId: string; path: string }>();

  constructor(dataDir: string) {
    this.dataDir = dataDir;
    this.journal = join(dataDir, "journal.jsonl");
    this.blobDir = join(dataDir, "blobs");
    this.tmpDir = join(dataDir, "tmp");
    mkdirSync(this.blobDir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
    if (existsSync(this.journal)) this.replay();
    else this.append([]);
  }

  private replay(): void {
    for (const text of readFileSync(this.journal, "utf8").split("\n")) {
      let line: JournalLine;
      try {
        line = JSON.parse(text) as JournalLine;
      } catch {
        continue; // an empty last line, or one cut by a full disk
      }
      if ("meta" in line) {
        this.nextId = line.meta.nextId;
        this.secretKey = line.meta.secret;
      } else if ("run" in line) this.runs.set(keyOf(line.run.entity, line.run.project, line.run.name), line.run);
      else if ("project" in line) this.projects.set(line.project.key, line.project);
      else if ("collection" in line) this.collections.set(line.collection.key, line.collection.type);
      else this.artifacts.set(line.artifact.id, line.artifact);
    }
    for (const a of this.artifacts.values()) {
      if (a.state === "COMMITTED") this.addVersion(a);
      if (a.manifest) this.handles.set(a.manifest.file.num, { artifactId: a.id, path: null });
      for (const f of Object.values(a.files)) {
        this.handles.set(f.num, { artifactId: a.id, path: f.path });
        // An assembly cut short by the restart did not finish: it may be asked again.
        if (f.multipart) {
          f.multipart.completing = false;
          this.uploads.set(f.multipart.uploadId, { artifactId: a.id, path: f.path });
        }
      }
    }
    for (const list of this.committed.values()) list.sort((x, y) => x.versionIndex! - y.versionIndex!);
  }

  /** HMAC key of signed URLs: journaled, so URLs signed before a restart still work. */
  get secret(): string {
    return this.secretKey;
  }

  private append(lines: JournalLine[]): void {
    const all = [...lines, { meta: { nextId: this.nextId, secret: this.secret } }];
    appendFileSync(this.journal, all.map((l) => `${JSON.stringify(l)}\n`).join(""));
  }

  /** Journals these artifacts as they are now; call after changing them, before answering. */
  save(...artifacts: ArtifactRecord[]): void {
    this.append([...new Set(artifacts)].map((artifact) => ({ artifact })));
  }

  /** A new global id in W&B's style (base64 of "Type:n"); callers must not parse it. */
  newId(type: string): { id: string; num: number } {
    const num = this.nextId++;
    return { id: Buffer.from(`${type}:${num}`).toString("base64"), num };
  }

  blobPath(blob: string): string {
    return join(this.blobDir, blob);
  }

  removeBlobs(blobs: string[]): void {
    for (const b of blobs) rmSync(this.blobPath(b), { force: true });
  }

  run(entity: string, project: string, name: string): RunRecord | undefined {
    return this.runs.get(keyOf(entity, project, name));
  }

  /** Creates or finds the project (and entity) and the run. */
  upsertRun(entity: string, project: string, name: string): { run: RunRecord; projectId: string; entityId: string } {
    const key = `${entity}/${project}`;
    let p = this.projects.get(key);
    if (!p) {
      p = { id: this.newId("Project").id, entityId: Buffer.from(`Entity:${entity}`).toString("base64") };
      this.projects.set(key, p);
      this.append([{ project: { key, ...p } }]);
    }
    let run = this.run(entity, project, name);
    if (!run) {
      run = { id: this.newId("Run").id, name, entity, project };
      this.runs.set(keyOf(entity, project, name), run);
      this.append([{ run }]);
    }
    return { run, projectId: p.id, entityId: p.entityId };
  }

  /** The project's ids, once a run created it. */
  project(entity: string, project: string): { id: string; entityId: string } | undefined {
    return this.projects.get(`${entity}/${project}`);
  }

  collectionType(entity: string, project: string, name: string): string | undefined {
    return this.collections.get(keyOf(entity, project, name));
  }

  /** Creates a collection; its type is fixed from then on. */
  addCollection(entity: string, project: string, name: string, type: string): void {
    const key = keyOf(entity, project, name);
    this.collections.set(key, type);
    this.append([{ collection: { key, type } }]);
  }

  addArtifact(a: ArtifactRecord): void {
    this.artifacts.set(a.id, a);
    this.save(a);
  }

  artifactById(id: string): ArtifactRecord | undefined {
    return this.artifacts.get(id);
  }

  /** The artifact `op` may change: it exists and is not committed yet. */
  pending(id: string, op: string): ArtifactRecord {
    const a = this.artifacts.get(id);
    if (!a) fail(`${op}: artifact ${id} does not exist`);
    if (a.state !== "PENDING") fail(`${op}: artifact ${id} is already committed`);
    return a;
  }

  /** Makes `a` the next version of its collection (the caller journals it). */
  commit(a: ArtifactRecord): void {
    a.versionIndex = this.versions(a.entity, a.project, a.collection).length;
    a.state = "COMMITTED";
    this.addVersion(a);
  }

  private addVersion(a: ArtifactRecord): void {
    const key = keyOf(a.entity, a.project, a.collection);
    this.committed.set(key, [...(this.committed.get(key) ?? []), a]);
  }

  /** Every committed version of every collection. */
  allVersions(): ArtifactRecord[] {
    return [...this.committed.values()].flat();
  }

  /** Versions of a collection (committed only), by versionIndex. */
  versions(entity: string, project: string, name: string): ArtifactRecord[] {
    return this.committed.get(keyOf(entity, project, name)) ?? [];
  }

  /** Resolves "entity/project/name:alias" (`vN` or any alias; no alias means `latest`). */
  resolve(ref: string): ArtifactRecord | undefined {
    const m = /^([^/]+)\/([^/]+)\/([^:/]+)(?::([^:/]+))?$/.exec(ref);
    if (!m) return undefined;
    const [, entity, project, name, alias = "latest"] = m;
    const versions = this.versions(entity!, project!, name!);
    const v = /^v(\d+)$/.exec(alias);
    return v ? versions.find((a) => a.versionIndex === Number(v[1])) : versions.find((a) => a.aliases.includes(alias));
  }

  registerHandle(num: number, artifactId: string, path: string | null): void {
    this.handles.set(num, { artifactId, path });
  }

  /** The artifact and file a signed URL's handle points at. */
  target(num: number): UploadTarget | undefined {
    const h = this.handles.get(num);
    const artifact = h && this.artifacts.get(h.artifactId);
    if (!h || !artifact) return undefined;
    if (h.path === null) {
      return artifact.manifest ? { artifact, file: artifact.manifest.file, kind: "manifest" } : undefined;
    }
    const file = artifact.files[h.path];
    return file ? { artifact, file, kind: "file" } : undefined;
  }

  registerUpload(uploadId: string, artifactId: string, path: string): void {
    this.uploads.set(uploadId, { artifactId, path });
  }

  dropUpload(uploadId: string): void {
    this.uploads.delete(uploadId);
  }

  upload(uploadId: string): { artifact: ArtifactRecord; file: FileRecord } | undefined {
    const u = this.uploads.get(uploadId);
    const artifact = u && this.artifacts.get(u.artifactId);
    const file = artifact?.files[u!.path];
    return artifact && file?.multipart?.uploadId === uploadId ? { artifact, file } : undefined;
  }

  private readManifest(stored: StoredBytes): unknown {
    const text = readFileSync(this.blobPath(stored.blob), "utf8");
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  /** The assertion view of an artifact. */
  view(a: ArtifactRecord): StoredArtifact {
    return {
      id: a.id,
      entity: a.entity,
      project: a.project,
      name: a.collection,
      versionIndex: a.versionIndex ?? -1,
      version: a.versionIndex === null ? "" : `v${a.versionIndex}`,
      type: a.type,
      digest: a.digest,
      state: a.state,
      aliases: [...a.aliases],
      metadata: a.metadata,
      description: a.description,
      runName: a.runName,
      createdAt: a.createdAt,
      files: Object.values(a.files)
        .filter((f) => f.stored)
        .map((f) => ({
          path: f.path,
          size: f.stored!.size,
          digest: f.stored!.md5,
          sha256: f.stored!.sha256,
          birthArtifactID: f.birthArtifactID,
        })),
      manifest: a.manifest?.file.stored ? this.readManifest(a.manifest.file.stored) : null,
    };
  }
}
