/**
 * `artifact-bus topology`: apply streams, ledger bucket, destination consumers and the blob
 * buckets of `staging.projects` from config. The operator's step: trainers cannot create buckets.
 */
import { loadConfig } from "../config/config.ts";
import { connectNats } from "../nats/connect.ts";
import { ensureTopology } from "../nats/topology.ts";
import { blobBucket } from "../nats/topology-names.ts";
import { parseCommandArgs } from "./args.ts";

export async function topologyCommand(args: string[]): Promise<number> {
  parseCommandArgs(args, {});
  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: "artifact-bus-topology" });
  try {
    await ensureTopology(nc, {
      stream: config.stream,
      destinations: config.destinations,
      blobProjects: config.staging.projects,
    });
    console.log(`topology applied: ${config.destinations.map((d) => d.name).join(", ") || "no destinations"}`);
    const buckets = config.staging.projects.map(blobBucket);
    if (buckets.length > 0) console.log(`object store buckets: ${buckets.join(", ")}`);
    return 0;
  } finally {
    await nc.drain();
  }
}
