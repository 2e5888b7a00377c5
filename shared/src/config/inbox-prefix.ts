/**
 * Each NATS user's own reply subjects. Replies (PubAcks, JetStream API answers, fetched
 * messages, a KV watch's deliveries) go to the requester's inbox; with every user allowed to
 * subscribe to `_INBOX.>`, any of them could hear another tenant's events, ledger entries and
 * staged blob bytes on their way back. So each user's inboxes start with a prefix of its own,
 * and the permissions (grants.ts) let it subscribe to that prefix only.
 */

/** The inbox prefix of a client with no user (no permissions: the local stack): NATS's own. */
export const DEFAULT_INBOX_PREFIX = "_INBOX";

/** `user`'s inbox prefix, `_INBOX_<user>`: what its permissions let it subscribe to (`_INBOX_<user>.>`). */
export function userInboxPrefix(user: string): string {
  const prefix = `${DEFAULT_INBOX_PREFIX}_${user}`;
  const why = inboxPrefixProblem(prefix);
  if (why) throw new Error(`NATS user ${JSON.stringify(user)} makes no inbox prefix: ${why}`);
  return prefix;
}

/** Why `prefix` cannot start reply subjects (wildcards, whitespace, empty tokens), or undefined. */
export function inboxPrefixProblem(prefix: string): string | undefined {
  if (/[\s*>]/.test(prefix)) return "a subject prefix holds no wildcard (* or >) and no whitespace";
  if (prefix.split(".").some((t) => t === "")) return "a subject prefix has no empty token (.. or a dot at an end)";
  return undefined;
}

/**
 * The inbox prefix a client uses: the configured one, else its user's (`_INBOX_<user>`), else
 * NATS's default (no user, e.g. a token or the local stack without permissions).
 */
export function inboxPrefixOf(nats: { user?: string; inboxPrefix?: string }): string {
  if (nats.inboxPrefix !== undefined) {
    const why = inboxPrefixProblem(nats.inboxPrefix);
    if (why) throw new Error(`inbox prefix ${JSON.stringify(nats.inboxPrefix)}: ${why}`);
    return nats.inboxPrefix;
  }
  return nats.user !== undefined ? userInboxPrefix(nats.user) : DEFAULT_INBOX_PREFIX;
}
