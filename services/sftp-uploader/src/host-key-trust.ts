/**
 * Where the trusted host key comes from (options), and the key itself for the OpenSSH transport:
 * `ssh` checks keys against a known_hosts file only, so the key the server presents is taken once
 * through ssh2's handshake, accepted only if it matches the pin exactly as the ssh2 transport
 * would check it, and written to a known_hosts of its own (openssh-setup.ts).
 */
import { readFile } from "node:fs/promises";
import { DestinationError } from "@artifact-bus/shared";
import { Client } from "ssh2";
import { type HostKeyTrust, knownHostsName, preferredHostKeyAlgorithms, verifyHostKey } from "./host-key.ts";
import { connectionError } from "./sftp-errors.ts";
import type { SftpOptions } from "./sftp-options.ts";

/** The pin the options give: a fingerprint, a known_hosts file's text, or none (insecure). */
export async function loadTrust(options: SftpOptions): Promise<HostKeyTrust> {
  if (options.hostKeyFingerprint) return { kind: "fingerprint", fingerprint: options.hostKeyFingerprint };
  if (options.knownHostsFile) {
    const file = options.knownHostsFile;
    const text = await readFile(file, "utf8").catch((err: Error & { code?: string }) => {
      throw new DestinationError(`cannot read knownHostsFile ${file} (${err.code ?? err.message})`);
    });
    return { kind: "knownHosts", file, text };
  }
  return { kind: "any" };
}

/**
 * The server's host key blob, verified against `trust` (never "any"): a key exchange only, the
 * connection is dropped before authentication. DestinationError naming the seen fingerprint
 * when the key does not match; connection failures are classified as for the ssh2 transport.
 */
export async function fetchVerifiedHostKey(options: SftpOptions, trust: HostKeyTrust): Promise<Buffer> {
  const { host, port } = options;
  const what = `check the host key of ${knownHostsName(host, port)}`;
  if (trust.kind === "any") throw new DestinationError(`${what}: no host key is pinned`);
  const algorithms = preferredHostKeyAlgorithms(trust, host, port);
  const client = new Client();
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      let verified: Buffer | undefined;
      let refusal: string | undefined;
      const settle = (err: unknown) => {
        if (verified) resolve(verified);
        else if (refusal) reject(new DestinationError(`${what}: ${refusal}`, { cause: err }));
        else reject(connectionError(err, what));
      };
      client.on("error", settle);
      client.on("close", () => settle(new Error("connection closed during the key exchange")));
      client.connect({
        host,
        port,
        username: options.username,
        readyTimeout: options.connectTimeoutMs,
        hostVerifier: (key: Buffer) => {
          const verdict = verifyHostKey(trust, host, port, key);
          if (verdict.ok) verified = Buffer.from(key);
          else refusal = verdict.reason;
          return false; // we only wanted the key: end here, before any credential is sent
        },
        ...(algorithms ? { algorithms: { serverHostKey: algorithms } } : {}),
      });
    });
  } finally {
    client.end();
  }
}
