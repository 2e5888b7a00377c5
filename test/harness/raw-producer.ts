/**
 * A producer that speaks the wire format by hand, as one in any language (or a hostile one) can:
 * it stages blobs straight into the shared staging dir and publishes bodies of its choosing on
 * the subjects its NATS user may use. The hostile-* suites forge their cases from these.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ArtifactEventV1, FsBlobStore } from "@artifact-bus/shared";
import type { UploaderProcess } from "@artifact-bus/testkit";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { BusStack } from "./bus-stack.ts";

export class RawProducer {
  private readonly nc: NatsConnection;
  private readonly staging: FsBlobStore;
  private readonly dir: string;
  private n = 0;

  /** `nc`: the producer's own connection (its NATS user); `dir`: where it writes its files. */
  constructor(nc: NatsConnection, staging: FsBlobStore, dir: string) {
    this.nc = nc;
    this.staging = staging;
    this.dir = dir;
  }

  newId(): string {
    return `raw-${process.pid}-${++this.n}`;
  }

  /** Stages `bytes` as the blob of event `id` of (project, run): the shared staging dir is writable. */
  async stage(project: string, run: string, id: string, bytes: Buffer) {
    const path = join(this.dir, id);
    writeFileSync(path, bytes);
    return this.staging.stage({ path, project, run, id });
  }

  /** A well-formed event of `project` with its blob staged, before any forgery. */
  async event(project: string, run: string, name: string, bytes: Buffer): Promise<ArtifactEventV1> {
    const id = this.newId();
    return {
      schema: 1,
      id,
      project,
      run,
      name,
      level: "fit",
      blob: await this.stage(project, run, id, bytes),
      contentType: "application/octet-stream",
      metadata: {},
      producer: { host: "hostile", pid: 1 },
      createdAt: new Date().toISOString(),
    };
  }

  /** Publishes `body` (an object, or raw text) on `subject`; returns its stream sequence. */
  async publish(subject: string, body: unknown, msgID: string): Promise<number> {
    const data = typeof body === "string" ? body : JSON.stringify(body);
    return (await jetstream(this.nc).publish(subject, data, { msgID })).seq;
  }
}

/** Runs `fn` with one uploader replica of `bus`, stopped after. */
export async function withUploader<T>(bus: BusStack, fn: (u: UploaderProcess) => Promise<T>): Promise<T> {
  const u = await bus.startUploader();
  try {
    return await fn(u);
  } finally {
    await u.kill("SIGTERM");
  }
}
