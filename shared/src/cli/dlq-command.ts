/** `artifact-bus dlq`: print dead-lettered events, newest last, one JSON object per line. */
import { parseArgs } from "node:util";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../config.ts";
import { dlqSubject } from "../event/subjects.ts";
import { connectNats } from "../nats/connect.ts";
import { DLQ_STREAM, DLQ_SUBJECTS } from "../nats/topology-names.ts";
import { parseDestinationName } from "../runtime/destination-name.ts";

export async function dlqCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { destination: { type: "string" }, limit: { type: "string", default: "100" } },
  });
  const config = loadConfig();
  const nc = await connectNats(config.nats, { name: "artifact-bus-dlq" });
  try {
    const filter = values.destination ? dlqSubject(parseDestinationName(values.destination).token) : DLQ_SUBJECTS;
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(DLQ_STREAM);
    const total = info.state.messages;
    if (total === 0) return 0;
    const consumer = await jetstream(nc).consumers.get(DLQ_STREAM, {
      filter_subjects: [filter],
      deliver_policy: DeliverPolicy.All,
    });
    const limit = Number(values.limit);
    const batch = await consumer.fetch({ max_messages: Math.min(limit, total), expires: 2000 });
    for await (const m of batch) console.log(new TextDecoder().decode(m.data));
    return 0;
  } finally {
    await nc.drain();
  }
}
