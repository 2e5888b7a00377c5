/** `artifact-bus put`: log one file, print where it goes, optionally wait until it landed. */
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { openBlobStores } from "../blob/mod.ts";
import { loadConfig } from "../config.ts";
import type { Level } from "../event/schema.ts";
import { connectNats } from "../nats/connect.ts";
import { ArtifactPublisher } from "../publisher.ts";

export async function putCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      project: { type: "string" },
      run: { type: "string" },
      name: { type: "string" },
      level: { type: "string", default: "fit" },
      meta: { type: "string", multiple: true, default: [] },
      mode: { type: "string" },
      wait: { type: "string" },
    },
  });
  const file = positionals[0];
  if (!file || !values.project || !values.run) throw new Error("put needs --project, --run and a FILE");
  const metadata: Record<string, string> = {};
  for (const kv of values.meta ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new Error(`--meta ${JSON.stringify(kv)} must look like key=value`);
    metadata[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: "artifact-bus-cli" });
  try {
    const blobs = await openBlobStores(config.staging, nc);
    const publisher = await ArtifactPublisher.create({ nc, blobStore: blobs.get(config.staging.store) });
    const handle = await publisher.logFile({
      project: values.project,
      run: values.run,
      name: values.name ?? basename(file),
      path: file,
      level: values.level as Level,
      metadata,
      mode: (values.mode ?? config.staging.mode) as "copy" | "link" | "move",
    });
    // The command answers once the event is in the stream, with the sha256 it carries.
    const logged = await handle.durable;
    console.log(
      JSON.stringify({
        id: logged.id,
        streamSeq: logged.streamSeq,
        size: logged.blob.size,
        sha256: logged.blob.sha256,
        destinations: logged.destinations,
      }),
    );
    if (values.wait) {
      await publisher.flush({ timeoutMs: Number(values.wait) * 1000 });
      console.log("landed at every destination");
    }
    await blobs.close();
    return 0;
  } finally {
    await nc.drain();
  }
}
