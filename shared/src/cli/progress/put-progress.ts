/**
 * What `artifact-bus put` tells a person while it works: staging, then each destination's state
 * and upload progress (from the ledger's `bytesDone`). On a terminal it draws bars in place
 * (TerminalProgress); otherwise it writes plain lines a log keeps (PlainProgress).
 */
import { PlainProgress } from "./plain-progress.ts";
import type { ProgressStream, PutProgress, PutProgressOptions } from "./progress-types.ts";
import { TerminalProgress } from "./terminal-progress.ts";

export type { DestinationProgress, ProgressStream, PutProgress, PutProgressOptions } from "./progress-types.ts";

/** Bars on a terminal, plain lines otherwise. */
export function putProgress(stream: ProgressStream, options: PutProgressOptions): PutProgress {
  return stream.isTTY ? new TerminalProgress(stream, options) : new PlainProgress(stream, options);
}
