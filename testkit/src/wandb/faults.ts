/**
 * Faults a test asks the double for: the next `times` matching requests are answered with a
 * status (and Retry-After), held back, or cut off. The first rule that matches a request applies
 * and counts down; a rule is gone once used up. Rules are checked before authentication and
 * before the request is executed, as a proxy or load balancer in front of the real service would.
 */
import type { FaultRule } from "./types.ts";

/** A fault rule that cannot mean anything (the admin endpoint answers 400 with this message). */
export class FaultRuleError extends Error {
  override readonly name = "FaultRuleError";
}

const isCount = (n: unknown, min: number): n is number => Number.isSafeInteger(n) && (n as number) >= min;

/** Checks a rule from the admin endpoint (JSON from the launcher, so nothing is trusted). */
export function parseFaultRule(value: unknown): FaultRule {
  const r = value as Record<string, unknown>;
  if (r === null || typeof r !== "object") throw new FaultRuleError("a fault rule must be an object");
  if (r.target !== "graphql" && r.target !== "storage") {
    throw new FaultRuleError('target must be "graphql" or "storage"');
  }
  if (r.operation !== undefined && (r.target !== "graphql" || typeof r.operation !== "string")) {
    throw new FaultRuleError("operation (a GraphQL operationName) applies to graphql rules only");
  }
  if (r.bodyIncludes !== undefined && (r.target !== "graphql" || typeof r.bodyIncludes !== "string")) {
    throw new FaultRuleError("bodyIncludes (a string of the request body) applies to graphql rules only");
  }
  if (!isCount(r.times, 1)) throw new FaultRuleError("times must be a positive integer");
  const kinds = ["status", "delayMs", "dropAfterBytes"].filter((k) => r[k] !== undefined);
  if (kinds.length !== 1) throw new FaultRuleError("give exactly one of status, delayMs, dropAfterBytes");
  if (r.status !== undefined && !(isCount(r.status, 200) && (r.status as number) <= 599)) {
    throw new FaultRuleError("status must be an HTTP status 200..599");
  }
  if (r.retryAfter !== undefined && typeof r.retryAfter !== "string") {
    throw new FaultRuleError("retryAfter must be a string");
  }
  if (r.body !== undefined && typeof r.body !== "string") throw new FaultRuleError("body must be a string");
  if (r.delayMs !== undefined && !isCount(r.delayMs, 0)) {
    throw new FaultRuleError("delayMs must be a non-negative integer");
  }
  if (r.dropAfterBytes !== undefined && !isCount(r.dropAfterBytes, 0)) {
    throw new FaultRuleError("dropAfterBytes must be a non-negative integer");
  }
  return r as unknown as FaultRule;
}

export class Faults {
  private rules: { rule: FaultRule; left: number }[] = [];

  add(rule: FaultRule): void {
    this.rules.push({ rule, left: rule.times });
  }

  clear(): void {
    this.rules = [];
  }

  /** The rule that applies to this request, counted as used; undefined when none matches. */
  take(target: "graphql" | "storage", operation: string | undefined, body = ""): FaultRule | undefined {
    const i = this.rules.findIndex(
      ({ rule }) =>
        rule.target === target &&
        (rule.operation === undefined || rule.operation === operation) &&
        (rule.bodyIncludes === undefined || body.includes(rule.bodyIncludes)),
    );
    if (i < 0) return undefined;
    const entry = this.rules[i]!;
    if (--entry.left === 0) this.rules.splice(i, 1);
    return entry.rule;
  }
}
