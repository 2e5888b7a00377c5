/** Logins and host key pinning against the real sshd. */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DestinationError, silentLogger } from "@artifact-bus/shared";
import {
  fingerprintOf,
  generateKey,
  memoryArtifact,
  readRemoteFiles,
  SshdServer,
  testContext,
} from "@artifact-bus/testkit";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SftpDestination } from "../src/sftp-destination.ts";
import type { SftpSecrets } from "../src/sftp-options.ts";

const PASSPHRASE = "correct horse battery staple";
let server: SshdServer;
const destinations: SftpDestination[] = [];
let counter = 0;

beforeAll(async () => {
  server = await SshdServer.start({ keyPassphrase: PASSPHRASE });
});

afterAll(async () => {
  await Promise.all(destinations.map((d) => d.close()));
  await server?.dispose();
});

function destination(options: Record<string, unknown>, secrets: SftpSecrets, log = silentLogger) {
  const root = server.mkdirForUser(`d${++counter}`);
  const d = new SftpDestination({
    name: `sftp:d${counter}`,
    options: { host: server.host, port: server.port, username: server.username, root, ...options },
    secrets,
    log,
  });
  destinations.push(d);
  return { d, root };
}

async function roundTrip(d: SftpDestination): Promise<void> {
  const artifact = memoryArtifact(Buffer.from(`payload ${counter}`), { name: "a/b.txt" });
  await d.upload(artifact, testContext());
  const [back] = await readRemoteFiles(server, [d.pathsOf(artifact.event).final]);
  expect(back?.toString()).toBe(`payload ${counter}`);
}

async function failure(d: SftpDestination): Promise<Error> {
  const err = await d.upload(memoryArtifact(Buffer.from("x")), testContext()).catch((e: unknown) => e);
  // Credentials and host keys are the destination's trouble: it pauses until they are fixed.
  expect(err).toBeInstanceOf(DestinationError);
  return err as Error;
}

const pinned = () => ({ hostKeyFingerprint: server.hostKeySha256Fingerprint });
const keyed = () => ({ ...pinned(), privateKeyPath: server.privateKeyPath });

describe("authentication", () => {
  it("logs in with a passphrase-protected key", async () => {
    await roundTrip(destination(keyed(), { passphrase: PASSPHRASE }).d);
  });

  it("fails permanently on a wrong or missing passphrase, never echoing it", async () => {
    const wrong = await failure(destination(keyed(), { passphrase: "not it" }).d);
    expect(wrong.message).toMatch(/private key/);
    expect(wrong.message).not.toContain("not it");
    expect((await failure(destination(keyed(), {}).d)).message).toMatch(/private key/);
  });

  it("logs in with a password", async (t) => {
    if (!server.password) t.skip(); // only possible as root, which sets the test user's password
    await roundTrip(destination(pinned(), { password: server.password }).d);
  });

  it("fails permanently on a wrong password, never echoing it", async () => {
    const err = await failure(destination(pinned(), { password: "hunter2-wrong" }).d);
    expect(err.message).toMatch(/authentication failed/);
    expect(err.message).not.toContain("hunter2");
  });

  it("takes the key passphrase from ARTIFACT_BUS_SFTP_PASSPHRASE when no secrets are given", async () => {
    process.env.ARTIFACT_BUS_SFTP_PASSPHRASE = PASSPHRASE;
    try {
      const d = new SftpDestination({
        name: "sftp:env",
        options: { host: server.host, port: server.port, username: server.username, ...keyed(), root: server.rootDir },
        log: silentLogger,
      });
      destinations.push(d);
      await d.probe(AbortSignal.timeout(10_000));
    } finally {
      delete process.env.ARTIFACT_BUS_SFTP_PASSPHRASE;
    }
  });
});

describe("host key pinning", () => {
  const secrets = { passphrase: PASSPHRASE };

  it("refuses a server whose key differs from the pinned fingerprint, writing nothing", async () => {
    const other = fingerprintOf(await generateKey(join(server.dir, "other_host_key")));
    const { d, root } = destination({ privateKeyPath: server.privateKeyPath, hostKeyFingerprint: other }, secrets);
    const err = await failure(d);
    expect(err.message).toContain(server.hostKeySha256Fingerprint);
    expect(err.message).toContain(`pins ${other}`);
    expect(readdirSync(root)).toEqual([]);
    await expect(d.probe(AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(DestinationError);
  });

  it("accepts a matching plain or hashed known_hosts entry", async () => {
    const plain = server.writeKnownHosts("kh.plain");
    await roundTrip(destination({ privateKeyPath: server.privateKeyPath, knownHostsFile: plain }, secrets).d);
    const hashed = server.writeKnownHosts("kh.hashed");
    execFileSync("ssh-keygen", ["-H", "-f", hashed], { stdio: "ignore" });
    expect(readFileSync(hashed, "utf8")).toMatch(/^\|1\|/);
    await roundTrip(destination({ privateKeyPath: server.privateKeyPath, knownHostsFile: hashed }, secrets).d);
  });

  it("refuses a changed host key and a host missing from known_hosts", async () => {
    const otherKey = await generateKey(join(server.dir, "rotated_host_key"));
    const changed = join(server.dir, "kh.changed");
    writeFileSync(changed, `# rotated\n[${server.host}]:${server.port} ${otherKey}\n`);
    const err = await failure(
      destination({ privateKeyPath: server.privateKeyPath, knownHostsFile: changed }, secrets).d,
    );
    expect(err.message).toMatch(/HOST KEY CHANGED/);
    expect(err.message).toContain(server.hostKeySha256Fingerprint);
    expect(err.message).toContain(`${fingerprintOf(otherKey)} (line 2)`);

    const unrelated = join(server.dir, "kh.unrelated");
    writeFileSync(unrelated, `[${server.host}]:1 ${server.hostPublicKey}\nexample.org ${otherKey}\n`);
    const missing = await failure(
      destination({ privateKeyPath: server.privateKeyPath, knownHostsFile: unrelated }, secrets).d,
    );
    expect(missing.message).toMatch(/has no entry for \[127\.0\.0\.1\]:\d+/);
    expect(missing.message).toContain(server.hostKeySha256Fingerprint);
  });

  it("fails permanently when the known_hosts file is missing", async () => {
    const err = await failure(
      destination({ privateKeyPath: server.privateKeyPath, knownHostsFile: join(server.dir, "nope") }, secrets).d,
    );
    expect(err.message).toMatch(/cannot read knownHostsFile .*nope \(ENOENT\)/);
  });

  it("with insecureAcceptAnyHostKey, connects but warns loudly at every connect", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    const { d } = destination({ privateKeyPath: server.privateKeyPath, insecureAcceptAnyHostKey: true }, secrets, log);
    await roundTrip(d);
    const warnings = lines.filter((l) => l.includes("INSECURE"));
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings.join("\n")).toContain(server.hostKeySha256Fingerprint);
  });
});

describe("the OpenSSH transport", () => {
  // ssh runs in BatchMode and cannot ask for a passphrase: it logs in with the unencrypted key.
  const plain = () => ({ privateKeyPath: server.plainKeyPath, transport: "openssh" });

  it("logs in with a pinned fingerprint or a known_hosts file, through an ssh child", async () => {
    const byFingerprint = destination({ ...plain(), ...pinned() }, {}).d;
    await roundTrip(byFingerprint);
    expect(byFingerprint.transport).toBe("openssh");
    await roundTrip(destination({ ...plain(), knownHostsFile: server.writeKnownHosts("kh.openssh") }, {}).d);
  });

  it("refuses a server whose key differs from the pinned fingerprint, naming both, writing nothing", async () => {
    const other = fingerprintOf(await generateKey(join(server.dir, "other_host_key_openssh")));
    const { d, root } = destination({ ...plain(), hostKeyFingerprint: other }, {});
    const err = await failure(d);
    expect(err.message).toContain(server.hostKeySha256Fingerprint);
    expect(err.message).toContain(`pins ${other}`);
    expect(readdirSync(root)).toEqual([]);
    await expect(d.probe(AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(DestinationError);
  });

  it("refuses a changed host key in known_hosts", async () => {
    const otherKey = await generateKey(join(server.dir, "rotated_host_key_openssh"));
    const changed = join(server.dir, "kh.changed.openssh");
    writeFileSync(changed, `[${server.host}]:${server.port} ${otherKey}\n`);
    const err = await failure(destination({ ...plain(), knownHostsFile: changed }, {}).d);
    expect(err.message).toMatch(/HOST KEY CHANGED/);
    expect(err.message).toContain(server.hostKeySha256Fingerprint);
  });

  it("fails as the destination's trouble when the server refuses the key, with ssh's words", async () => {
    const stranger = join(server.dir, "stranger_key");
    await generateKey(stranger);
    const err = await failure(destination({ ...pinned(), privateKeyPath: stranger, transport: "openssh" }, {}).d);
    expect(err.message).toMatch(/authentication failed \(.*Permission denied/);
  });

  it("takes an inline key through a 0600 file that is gone after close", async () => {
    const { d } = destination({ ...pinned(), transport: "openssh" }, { privateKey: readFileSync(server.plainKeyPath) });
    const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith("artifact-bus-ssh-")));
    await roundTrip(d);
    // Other test files' destinations make such dirs too, at the same time, but without a key file.
    const dir = readdirSync(tmpdir()).find(
      (f) => f.startsWith("artifact-bus-ssh-") && !before.has(f) && existsSync(join(tmpdir(), f, "identity")),
    );
    expect(dir).toBeDefined();
    expect(statSync(join(tmpdir(), dir!, "identity")).mode & 0o777).toBe(0o600);
    await d.close();
    expect(existsSync(join(tmpdir(), dir!))).toBe(false);
  });

  it("auto picks OpenSSH for a plain key and ssh2 for a passphrase-protected one, saying why", async () => {
    expect(destination({ ...pinned(), privateKeyPath: server.plainKeyPath, transport: "auto" }, {}).d.transport).toBe(
      "openssh",
    );
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const { d } = destination({ ...keyed(), transport: "auto" }, { passphrase: PASSPHRASE }, log);
    expect(d.transport).toBe("ssh2");
    expect(lines.join("\n")).toMatch(/sftp transport auto: ssh2, because the private key is passphrase-protected/);
    expect(lines.join("\n")).not.toContain(PASSPHRASE);
    await roundTrip(d);
  });
});
