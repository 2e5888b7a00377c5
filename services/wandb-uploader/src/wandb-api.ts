/**
 * The W&B GraphQL API as the artifact protocol uses it (reference: wandb-artifact-protocol.md):
 * `POST {baseUrl}/graphql` with Basic auth `api:<key>`, one operation per request, retried as the
 * official clients retry (wandb-errors.ts) a few times within the call; a longer wait is handed
 * to the runtime as a TransientError carrying Retry-After.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { DestinationError, TransientError } from "@artifact-bus/shared";
import { apiBackoffMs, apiGraphqlError, apiStatusError, retriedStatus, retryAfterMs } from "./wandb-errors.ts";

export interface WandbApiOptions {
  baseUrl: string;
  /** Undefined when none is set: every call then fails as the destination's trouble. */
  apiKey: string | undefined;
  requestTimeoutMs: number;
  /** Retries within one call. */
  retries: number;
  /** A Retry-After longer than this is not waited out in the call. */
  maxRetryAfterMs: number;
}

export class WandbApi {
  private readonly options: WandbApiOptions;
  private readonly auth: string | undefined;

  constructor(options: WandbApiOptions) {
    this.options = options;
    this.auth = options.apiKey ? `Basic ${Buffer.from(`api:${options.apiKey}`).toString("base64")}` : undefined;
  }

  /** Runs one operation and returns its `data`; throws the classified error. */
  async request<T>(operationName: string, query: string, variables: object, signal: AbortSignal): Promise<T> {
    if (!this.auth) throw new DestinationError("no W&B API key: set WANDB_API_KEY, or options.apiKeyFile");
    const body = JSON.stringify({ query, variables, operationName });
    for (let attempt = 0; ; attempt++) {
      const answer = await this.once<T>(operationName, body, signal);
      if ("data" in answer) return answer.data;
      if (!answer.retry || attempt >= this.options.retries) throw answer.error;
      const delay = answer.waitMs ?? apiBackoffMs(attempt);
      // A long Retry-After is the runtime's to wait out, without holding the upload's slot.
      if (delay > this.options.maxRetryAfterMs) throw answer.error;
      await sleep(delay, undefined, { signal });
    }
  }

  private async once<T>(
    operation: string,
    body: string,
    signal: AbortSignal,
  ): Promise<{ data: T } | { error: Error; retry: boolean; waitMs?: number | undefined }> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.options.baseUrl}/graphql`, {
        method: "POST",
        headers: {
          authorization: this.auth as string,
          "content-type": "application/json",
          "user-agent": "artifact-bus",
        },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs)]),
      });
      text = await res.text();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const error = new TransientError(`W&B ${operation}: ${(err as Error).message}`, { cause: err });
      return { error, retry: true };
    }
    // Exactly 200, as the official client requires: any other status, other 2xx too, fails.
    if (res.status !== 200) {
      const waitMs = retryAfterMs(res.headers.get("retry-after"));
      return {
        error: apiStatusError(res.status, operation, waitMs),
        retry: retriedStatus(res.status, operation),
        waitMs,
      };
    }
    let answer: { data?: T; errors?: { message?: unknown }[] } | null;
    try {
      answer = JSON.parse(text);
    } catch {
      // A proxy's or load balancer's page in a 200, or a body cut short: not the API's verdict.
      return { error: new TransientError(`W&B ${operation}: HTTP 200 with a body that is not JSON`), retry: false };
    }
    // GraphQL errors in a 200 are the server's verdict: classified by message (wandb-errors.ts),
    // and not retried within the call, as the official clients do not.
    if (answer?.errors?.length)
      return {
        error: apiGraphqlError(
          answer.errors.map((e) => String(e.message)),
          operation,
        ),
        retry: false,
      };
    if (!answer?.data) {
      return { error: new TransientError(`W&B ${operation}: HTTP 200 without data or errors`), retry: false };
    }
    return { data: answer.data };
  }
}
