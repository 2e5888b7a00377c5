/** `artifact-bus topology`: apply streams, ledger bucket and destination consumers from config. */
import { loadConfig } from "../config.ts";
import { connectNats } from "../nats/connect.ts";
import { ensureTopology } from "../nats/topology.ts";

export async function topologyCommand(_args: string[]): Promise<number> {
  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: "artifact-bus-topology" });
  try {
    await ensureTopology(nc, { stream: config.stream, destinations: config.destinations });
    console.log(`topology applied: ${config.destinations.map((d) => d.name).join(", ") || "no destinations"}`);
    return 0;
  } finally {
    await nc.drain();
  }
}
