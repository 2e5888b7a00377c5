/**
 * SigV4 signs a request's payload by its sha256, which the SDK computes over the body on the
 * event loop unless the request already carries `x-amz-content-sha256`. Every body the
 * uploader sends has a sha256 known anyway (a single PUT: the blob's, verified; a part: its
 * checksum), so it is given to the signer instead of computed a second time: a profile of a
 * 1 GiB multipart upload showed three sha256 passes over each byte, this one a third of them.
 */
import { createHash } from "node:crypto";

interface Command {
  middlewareStack: {
    add(
      mw: (next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => Promise<unknown>,
      options: { step: "build"; name: string },
    ): void;
  };
}

/** Has the signer use `sha256Hex` as the payload hash of `command`'s body; returns `command`. */
export function withPayloadSha256<C>(command: C, sha256Hex: string): C {
  (command as Command).middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = sha256Hex;
      return next(args);
    },
    { step: "build", name: "artifactBusPayloadSha256" },
  );
  return command;
}

/**
 * sha256 of a part. On the event loop, deliberately: WebCrypto's digest would run on the thread
 * pool but copies its input first, and four uploads' worth of part copies freed at once stayed
 * in glibc's heap: four large uploads at once went far past the uploader's RSS target.
 */
export function partSha256(body: Uint8Array): Buffer {
  return createHash("sha256").update(body).digest();
}
