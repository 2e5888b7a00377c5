/** Options, host key matching, error classes and the rename fallback, without a server. */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { ConfigError, DestinationError, PermanentError, TransientError } from "@artifact-bus/shared";
import { describe, expect, it } from "vitest";
import { knownHostsName, parseKnownHosts, patternsMatch, sha256Fingerprint, verifyHostKey } from "../src/host-key.ts";
import type { SftpChannel } from "../src/sftp-channel.ts";
import { connectionError, SFTP_STATUS, sftpError } from "../src/sftp-errors.ts";
import { replace } from "../src/sftp-ops.ts";
import { parseSftpOptions, secretsFromEnv } from "../src/sftp-options.ts";

const base = {
  host: "h",
  username: "u",
  root: "/data/",
  privateKeyPath: "/k",
  hostKeyFingerprint: `SHA256:${"A".repeat(43)}`,
};

describe("parseSftpOptions", () => {
  it("fills defaults and normalises the root", () => {
    const o = parseSftpOptions(base);
    expect(o).toMatchObject({ port: 22, root: "/data", pathTemplate: "{project}/{run}/{name}", maxChannels: 4 });
    expect(o.insecureAcceptAnyHostKey).toBe(false);
    expect(o.verifyByReadback).toBe(false);
  });

  it.each([
    [{ ...base, root: "data" }, /sftp option root: .*absolute/],
    [{ ...base, root: "/a/../b" }, /sftp option root: .*'\.\.'/],
    [{ ...base, port: 70000 }, /sftp option port:/],
    [{ ...base, hostKeyFingerprint: "MD5:aa" }, /sftp option hostKeyFingerprint: .*SHA256/],
    [
      { ...base, hostKeyFingerprint: undefined },
      /sftp option knownHostsFile: set knownHostsFile or hostKeyFingerprint/,
    ],
    [{ ...base, privateKeyPath: undefined }, /sftp option privateKeyPath: .*ARTIFACT_BUS_SFTP_PASSWORD/],
    [{ ...base, pathTemplate: "{project}/x" }, /sftp option pathTemplate: .*\{name\}/],
    [{ ...base, hostKeyFingerprnt: "x" }, /sftp option hostKeyFingerprnt: is not a known option/],
    [{ ...base, maxChannels: 0 }, /sftp option maxChannels:/],
    [{ ...base, transport: "libssh" }, /sftp option transport: .*"openssh"/],
  ])("rejects %j naming the field", (input, message) => {
    expect(() => parseSftpOptions(input)).toThrow(ConfigError);
    expect(() => parseSftpOptions(input)).toThrow(message);
  });

  it("refuses the OpenSSH transport where ssh in BatchMode cannot do the job, naming transport", () => {
    const openssh = { ...base, transport: "openssh" };
    expect(() => parseSftpOptions(openssh, { passphrase: "p" })).toThrow(
      /sftp option transport: "openssh" cannot use a passphrase-protected key/,
    );
    expect(() => parseSftpOptions({ ...openssh, privateKeyPath: undefined }, { password: "pw" })).toThrow(
      /sftp option transport: "openssh" needs privateKeyPath/,
    );
    expect(() =>
      parseSftpOptions({ ...openssh, hostKeyFingerprint: undefined, insecureAcceptAnyHostKey: true }),
    ).toThrow(/sftp option transport: "openssh" checks host keys strictly/);
    expect(parseSftpOptions(openssh).transport).toBe("openssh");
  });

  it("accepts a password from the secrets instead of a key", () => {
    expect(parseSftpOptions({ ...base, privateKeyPath: undefined }, { password: "pw" }).privateKeyPath).toBeUndefined();
  });

  it("reads secrets from the environment only", () => {
    expect(secretsFromEnv({ ARTIFACT_BUS_SFTP_PASSPHRASE: "p", ARTIFACT_BUS_SFTP_PASSWORD: "" })).toEqual({
      passphrase: "p",
      password: undefined,
    });
  });
});

describe("host keys", () => {
  const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), randomBytes(36)]);
  const other = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), randomBytes(36)]);
  const line = (hosts: string, key = blob) => `${hosts} ssh-ed25519 ${key.toString("base64")}`;

  it("prints fingerprints like ssh-keygen", () => {
    const digest = createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
    expect(sha256Fingerprint(blob)).toBe(`SHA256:${digest}`);
  });

  it("matches plain, bracketed, wildcard, negated and hashed host patterns", () => {
    expect(knownHostsName("h", 22)).toBe("h");
    expect(knownHostsName("h", 2222)).toBe("[h]:2222");
    expect(patternsMatch("a,h,b", "h")).toBe(true);
    expect(patternsMatch("[h]:2222", "[h]:2222")).toBe(true);
    expect(patternsMatch("h", "[h]:2222")).toBe(false);
    expect(patternsMatch("*.example.org,!bad.example.org", "ok.example.org")).toBe(true);
    expect(patternsMatch("*.example.org,!bad.example.org", "bad.example.org")).toBe(false);
    const salt = randomBytes(20);
    const hash = createHmac("sha1", salt).update("[h]:2222").digest("base64");
    expect(patternsMatch(`|1|${salt.toString("base64")}|${hash}`, "[h]:2222")).toBe(true);
    expect(patternsMatch(`|1|${salt.toString("base64")}|${hash}`, "h")).toBe(false);
  });

  it("verifies against known_hosts and explains refusals", () => {
    const trust = (text: string) => ({ kind: "knownHosts" as const, file: "/kh", text });
    expect(verifyHostKey(trust(line("[h]:2222")), "h", 2222, blob).ok).toBe(true);
    const changed = verifyHostKey(trust(`# c\n${line("[h]:2222", other)}`), "h", 2222, blob);
    expect(changed.ok).toBe(false);
    expect(changed.reason).toContain(`HOST KEY CHANGED for [h]:2222: server presented ssh-ed25519 ${changed.seen}`);
    expect(changed.reason).toContain(`${sha256Fingerprint(other)} (line 2)`);
    const revoked = verifyHostKey(trust(`${line("[h]:2222")}\n@revoked ${line("*")}`), "h", 2222, blob);
    expect(revoked.reason).toMatch(/@revoked in \/kh:2/);
    expect(parseKnownHosts(`@cert-authority ${line("*")}\ngarbage\n`)).toEqual([]);
  });
});

describe("error classes", () => {
  const status = (code: number) => Object.assign(new Error("server says no"), { code });

  it("maps SFTP statuses", () => {
    expect(sftpError(status(SFTP_STATUS.PERMISSION_DENIED), "op")).toBeInstanceOf(PermanentError);
    expect(sftpError(status(SFTP_STATUS.OP_UNSUPPORTED), "op")).toBeInstanceOf(PermanentError);
    expect(sftpError(status(SFTP_STATUS.FAILURE), "op")).toBeInstanceOf(TransientError);
    expect(sftpError(new Error("No response from server"), "op")).toBeInstanceOf(TransientError);
  });

  it("maps connection failures", () => {
    const auth = Object.assign(new Error("All configured authentication methods failed"), {
      level: "client-authentication",
    });
    expect(connectionError(auth, "c")).toBeInstanceOf(DestinationError);
    expect(connectionError(Object.assign(new Error("x"), { code: "ECONNREFUSED" }), "c")).toBeInstanceOf(
      TransientError,
    );
    expect(connectionError(Object.assign(new Error("t"), { level: "client-timeout" }), "c")).toBeInstanceOf(
      TransientError,
    );
    expect(connectionError(Object.assign(new Error("d"), { code: 14 }), "c")).toBeInstanceOf(DestinationError);
  });
});

describe("rename without posix-rename@openssh.com", () => {
  /** A stand-in channel with plain SFTP rename semantics: the target must not exist. */
  function fakeSftp(files: Map<string, string>) {
    const fail = (code: number) => Promise.reject(Object.assign(new Error(`status ${code}`), { code }));
    return {
      isOpen: true,
      posixRename: async () => false,
      async rename(from: string, to: string) {
        if (!files.has(from)) return fail(SFTP_STATUS.NO_SUCH_FILE);
        if (files.has(to)) return fail(SFTP_STATUS.FAILURE);
        files.set(to, files.get(from)!);
        files.delete(from);
      },
      async unlink(path: string) {
        if (!files.delete(path)) return fail(SFTP_STATUS.NO_SUCH_FILE);
      },
    } as unknown as SftpChannel;
  }

  it("moves the old file aside, renames, and drops the backup", async () => {
    const files = new Map([
      ["/d/f", "old"],
      ["/d/.f.e.partial", "new"],
    ]);
    expect(await replace(fakeSftp(files), "/d/.f.e.partial", "/d/f", "/d/.f.e.old")).toBe("rename-swap");
    expect([...files]).toEqual([["/d/f", "new"]]);
  });

  it("works when there is no old file", async () => {
    const files = new Map([["/d/.f.e.partial", "new"]]);
    expect(await replace(fakeSftp(files), "/d/.f.e.partial", "/d/f", "/d/.f.e.old")).toBe("rename-swap");
    expect([...files]).toEqual([["/d/f", "new"]]);
  });
});
