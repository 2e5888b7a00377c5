/** Giving up on a promise when an AbortSignal fires, as a TransientError. */
import { TransientError } from "@artifact-bus/shared";

/** Rejects once `signal` aborts, with a TransientError carrying the reason. */
export function abortRace<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

export function abortError(signal: AbortSignal): TransientError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted");
  return new TransientError(`aborted: ${reason}`, { cause: signal.reason });
}
