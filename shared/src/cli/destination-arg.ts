/**
 * `--destination` as the operator's commands (pause, resume, dlq) take it: a name that must parse
 * and, once connected, name a destination that exists. Bad ones are {@link UsageError}s (exit 2).
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { type DestinationName, parseDestinationName } from "../contract/destination-name.ts";
import { consumerName, EVENTS_STREAM } from "../nats/topology-names.ts";
import { UsageError } from "./args.ts";

/** The parsed `--destination`; `required` says what to tell a user who left it out. */
export function destinationArg(value: string | undefined, required: string): DestinationName;
export function destinationArg(value: string | undefined, required?: string): DestinationName | undefined;
export function destinationArg(value: string | undefined, required?: string): DestinationName | undefined {
  if (value === undefined) {
    if (required) throw new UsageError(required);
    return undefined;
  }
  try {
    return parseDestinationName(value);
  } catch (err) {
    throw new UsageError(`--destination: ${(err as Error).message}`);
  }
}

/**
 * Refuses a destination without a consumer: a typo would otherwise pause nothing that exists, or
 * list and replay no dead letters, and look like it worked.
 */
export async function requireKnownDestination(jsm: JetStreamManager, d: DestinationName): Promise<void> {
  const known = await jsm.consumers.info(EVENTS_STREAM, consumerName(d.token)).then(
    () => true,
    () => false,
  );
  if (!known) throw new UsageError(`--destination: no destination ${d.full} (apply the topology?)`);
}
