/**
 * The bus stack with the SFTP destination: the real OpenSSH sshd on a free port with throwaway
 * host and user keys. Reads for checks go around the uploader: the server's own disk (sshd runs
 * on this machine) or the OpenSSH `sftp` CLI, never the ssh2 client under test.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type DestinationConfig, hashFile, parseDestinationName } from "@artifact-bus/shared";
import { readRemoteFiles, SshdServer, type SshdServerOptions } from "@artifact-bus/testkit";
import { BusStack } from "./bus-stack.ts";

const SFTP_MAIN = resolve(import.meta.dirname, "../../services/sftp-uploader/src/main.ts");

export interface SftpStackOptions {
  /** Destination name; default `sftp:e2e`. Its token also names the remote root directory. */
  name?: string;
  destination?: Partial<DestinationConfig>;
  /** Merged over the generated SFTP options (host, port, user, root, pinned key, user key). */
  sftpOptions?: Record<string, unknown>;
  /** Serve from this running sshd (the caller keeps owning it) instead of starting one. */
  sshd?: SshdServer;
  sshdOptions?: SshdServerOptions;
}

export class SftpStack {
  readonly bus: BusStack;
  readonly sshd: SshdServer;
  /** The destination's remote root: an absolute path on the server, owned by the login user. */
  readonly root: string;
  private readonly ownsSshd: boolean;

  private constructor(bus: BusStack, sshd: SshdServer, root: string, ownsSshd: boolean) {
    this.bus = bus;
    this.sshd = sshd;
    this.root = root;
    this.ownsSshd = ownsSshd;
  }

  /**
   * Starts sshd (unless given one), nats-server and the topology for one destination that pins
   * the server's host key and logs in with the user key. Uploaders are started by the caller.
   */
  static async start(o: SftpStackOptions = {}): Promise<SftpStack> {
    const name = o.name ?? "sftp:e2e";
    const sshd = o.sshd ?? (await SshdServer.start(o.sshdOptions));
    try {
      // One root per destination, so stacks sharing an sshd never see each other's files.
      const root = sshd.mkdirForUser(parseDestinationName(name).token);
      const bus = await BusStack.start({
        main: SFTP_MAIN,
        env: sshd.passphrase ? { ARTIFACT_BUS_SFTP_PASSPHRASE: sshd.passphrase } : {},
        destination: {
          name,
          ...o.destination,
          options: sshd.sftpOptions(root, { connectTimeoutMs: 5_000, ...o.sftpOptions }),
        },
      });
      return new SftpStack(bus, sshd, root, o.sshd === undefined);
    } catch (err) {
      if (o.sshd === undefined) await sshd.dispose();
      throw err;
    }
  }

  /** Absolute server path of `relative` (e.g. `project/run/name`, the default template) under root. */
  path(relative: string): string {
    return join(this.root, relative);
  }

  /** A file's bytes as on the server's disk; undefined when absent. */
  readFile(relative: string): Buffer | undefined {
    const p = this.path(relative);
    return existsSync(p) ? readFileSync(p) : undefined;
  }

  /** sha256 of a file on the server's disk, streamed (for large files); undefined when absent. */
  async sha256Of(relative: string): Promise<string | undefined> {
    const p = this.path(relative);
    return existsSync(p) ? (await hashFile(p)).sha256 : undefined;
  }

  /** Downloads files with the OpenSSH `sftp` CLI in one session; undefined for a missing one. */
  readViaSftpCli(relatives: string[]): Promise<(Buffer | undefined)[]> {
    return readRemoteFiles(
      this.sshd,
      relatives.map((r) => this.path(r)),
    );
  }

  /** Every file under `root/prefix` (temp files included), relative to root, sorted; [] if absent. */
  listFiles(prefix = ""): string[] {
    const dir = this.path(prefix);
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((p) => statSync(join(dir, p), { throwIfNoEntry: false })?.isFile()) // a temp may be renamed meanwhile
      .map((p) => join(prefix, p))
      .sort();
  }

  /** The location the ledger records for a path under root. */
  location(relative: string): string {
    return `sftp://${this.sshd.host}:${this.sshd.port}${encodeURI(this.path(relative))}`;
  }

  /** Stops uploaders and nats-server; sshd too unless it was lent by the caller. */
  async dispose(): Promise<void> {
    await this.bus.dispose();
    if (this.ownsSshd) await this.sshd.dispose();
  }
}
