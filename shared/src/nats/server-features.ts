/**
 * What the connected nats-server can do, where artifact-bus must adapt: it runs on 2.9 (Debian)
 * through 2.12.
 */

/**
 * Whether `+TERM <reason>` ends a delivery. nats-server 2.9 only recognises a bare `+TERM`: a term
 * with a reason is ignored and the message comes back after AckWait. Reasons are sent only from
 * 2.11 on, the first line we checked; below that the reason lives in the DLQ letter and the ledger.
 */
export function termTakesReason(version: string | undefined): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version ?? "");
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 2 || (major === 2 && minor >= 11);
}
