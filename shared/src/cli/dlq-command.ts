/** `artifact-bus dlq`: print dead-lettered events, oldest first, one JSON object per line. */
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../config.ts";
import { connectNats } from "../nats/connect.ts";
import { readDeadLetters } from "../runtime/dead-letter.ts";
import { parseDestinationName } from "../runtime/destination-name.ts";

export async function dlqCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { destination: { type: "string" }, limit: { type: "string", default: "100" } },
  });
  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: "artifact-bus-dlq" });
  try {
    const jsm = await jetstreamManager(nc);
    const destinationToken = values.destination ? parseDestinationName(values.destination).token : undefined;
    for await (const letter of readDeadLetters(jsm, { destinationToken, limit: Number(values.limit) })) {
      console.log(JSON.stringify(letter));
    }
    return 0;
  } finally {
    await nc.drain();
  }
}
