/**
 * The destinations the gateway can read artifacts back from, built from the same config entries
 * and adapters the uploaders use (S3, SFTP and dir; W&B has no read-back), or those `gateway.readBack`
 * names. They are opened lazily, on the first content request for them, with the credentials of
 * the gateway's own environment: read-only ones of its own, never an uploader's.
 */
import type { Destination, DestinationConfig, DestinationFactory, Logger } from "@artifact-bus/shared";
import { ConfigError, eventFilter, parseDestinationName, subjectMatches } from "@artifact-bus/shared";

/**
 * Loaded on first use: the AWS SDK and ssh2 cost the process tens of MB that a gateway serving
 * no content never needs.
 */
const FACTORIES: Record<string, () => Promise<DestinationFactory>> = {
  dir: async () => (await import("@artifact-bus/dir-uploader")).dirDestinationFactory,
  s3: async () => (await import("@artifact-bus/s3-uploader")).s3DestinationFactory,
  sftp: async () => (await import("@artifact-bus/sftp-uploader")).sftpDestinationFactory,
};

/** Loads every read-back adapter's modules (`--warm-up`: they go into Node's compile cache too). */
export async function loadReadBackAdapters(): Promise<void> {
  await Promise.all(Object.values(FACTORIES).map((load) => load()));
}

export class ReadBack {
  private readonly configs: Map<string, DestinationConfig>;
  private readonly log: Logger;
  private readonly open = new Map<string, Promise<Destination>>();

  /**
   * `only`: the names config `gateway.readBack` allows (default: every destination that can be
   * read). Throws ConfigError naming the entry that is no readable destination. Checked here, not
   * in parseConfig: uploaders share the config file with destinations of their own.
   */
  constructor(destinations: DestinationConfig[], log: Logger, only?: string[]) {
    only?.forEach((name, i) => {
      const d = destinations.find((x) => x.name === name);
      if (!d || !FACTORIES[parseDestinationName(name).kind]) {
        throw new ConfigError(
          `config field gateway.readBack.${i}: ${name} is not a destination the gateway can read back from (S3, SFTP, dir)`,
        );
      }
    });
    this.configs = new Map(
      destinations
        .filter((d) => FACTORIES[parseDestinationName(d.name).kind] && (only === undefined || only.includes(d.name)))
        .map((d) => [d.name, d]),
    );
    this.log = log;
  }

  /** Whether `name` is a destination this gateway can read from. */
  can(name: string): boolean {
    return this.configs.has(name);
  }

  /** Whether the configured filter of `name` takes events on `subject`: what it never takes is never there. */
  takes(name: string, subject: string): boolean {
    const d = this.configs.get(name);
    return d !== undefined && subjectMatches(eventFilter(d.filter.project, d.filter.run, d.filter.level), subject);
  }

  /** The `setPointer` template of destination `name`, if its config says one. */
  setPointer(name: string): string | undefined {
    return this.configs.get(name)?.setPointer;
  }

  /** Names it can read from, in config order. */
  get names(): string[] {
    return [...this.configs.keys()];
  }

  /** The adapter of `name`, opened on first use. */
  async get(name: string): Promise<Destination & Required<Pick<Destination, "openRead">>> {
    const config = this.configs.get(name);
    if (!config) throw new Error(`${name} cannot be read back here`);
    let d = this.open.get(name);
    if (!d) {
      const factory = FACTORIES[parseDestinationName(name).kind] as unknown as () => Promise<DestinationFactory>;
      d = factory().then((f) => f.create(config, this.log.child({ destination: name })));
      d.catch(() => this.open.delete(name));
      this.open.set(name, d);
    }
    return (await d) as Destination & Required<Pick<Destination, "openRead">>;
  }

  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map((d) => d.then((x) => x.close()).catch(() => undefined)));
  }
}
