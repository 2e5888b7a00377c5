import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../src/config/config.ts";
import { inboxPrefixOf } from "../src/config/inbox-prefix.ts";
import { destinationFromToken, parseDestinationName } from "../src/contract/destination-name.ts";
import { checkPathTemplate, normalizePrefix, renderRemotePath } from "../src/contract/remote-path.ts";
import { backoffDelay, retryDelay } from "../src/delivery/backoff.ts";
import { subjectMatches } from "../src/nats/subject-match.ts";

const cfg = { initialMs: 1000, maxMs: 60_000, multiplier: 2, jitter: 0.25 };

describe("backoff", () => {
  it("grows exponentially up to the cap", () => {
    const none = () => 0;
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, cfg, none))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelay(30, cfg, none)).toBe(60_000);
  });
  it("jitter only shortens, by at most the jitter fraction", () => {
    expect(backoffDelay(3, cfg, () => 1)).toBe(3000);
    expect(backoffDelay(3, cfg, () => 0.5)).toBe(3500);
  });
  it("a longer Retry-After wins, still capped", () => {
    expect(retryDelay(1, { ...cfg, jitter: 0 }, 5000)).toBe(5000);
    expect(retryDelay(1, { ...cfg, jitter: 0 }, 10 * 60_000)).toBe(60_000);
    expect(retryDelay(4, { ...cfg, jitter: 0 }, 10)).toBe(8000);
  });
});

describe("remote paths", () => {
  const event = {
    project: "p",
    run: "r",
    name: "ckpt/ep1.pt",
    level: "fit" as const,
    producer: { host: "h", pid: 1, rank: 3 },
  };
  it("renders the default template under a normalised prefix", () => {
    expect(renderRemotePath("{project}/{run}/{name}", "/team//a/", event)).toBe("team/a/p/r/ckpt/ep1.pt");
    expect(renderRemotePath("{run}/rank{rank}/{name}", "", event)).toBe("r/rank3/ckpt/ep1.pt");
  });
  it("cannot escape its prefix", () => {
    expect(() => normalizePrefix("a/../../etc")).toThrow(/'\.\.'/);
    expect(() => renderRemotePath("/{name}", "safe", event)).toThrow(/relative/);
    expect(() => renderRemotePath("../{name}", "safe", event)).toThrow(/'\.\.'/);
    expect(() => checkPathTemplate("{project}/{oops}")).toThrow(/unknown placeholder \{oops\}/);
    expect(() => checkPathTemplate("{project}/fixed")).toThrow(/\{name\}/);
  });
});

describe("config", () => {
  it("works with no input, with defaults that run locally", () => {
    const c = parseConfig({});
    expect(c.nats.servers).toEqual(["nats://127.0.0.1:4222"]);
    expect(c.stream.replicas).toBe(1);
  });
  it("fails fast naming the bad field", () => {
    expect(() => parseConfig({ stream: { replicas: 0 } })).toThrow(/stream\.replicas/);
    expect(() => parseConfig({ destinations: [{ name: "s3 main" }] })).toThrow(/destinations\.0\.name/);
    expect(() => parseConfig({ destinations: [{ name: "s3:a" }, { name: "s3:a" }] })).toThrow(/appears twice/);
    expect(() => loadConfig({ ARTIFACT_BUS_STREAM_REPLICAS: "three" })).toThrow(ConfigError);
    expect(() => loadConfig({ ARTIFACT_BUS_CONFIG: "/nonexistent.json" })).toThrow(/ARTIFACT_BUS_CONFIG/);
  });
  it("takes Composer's per-rank symlink as a set pointer, and names the field of a bad one", () => {
    const composer = "{dir}/latest-rank{rank}.pt.symlink";
    expect(parseConfig({ destinations: [{ name: "s3:a", setPointer: composer }] }).destinations[0]?.setPointer).toBe(
      composer,
    );
    expect(() => parseConfig({ destinations: [{ name: "s3:a", setPointer: "{dir}/latest-{ranks}" }] })).toThrow(
      /config field destinations\.0\.setPointer: unknown placeholder \{ranks\} \(known: \{dir\}, \{set\}, \{base\}, \{rank\}\)/,
    );
  });
  it("gives each NATS user inboxes of its own, and names the field of a prefix no subject can start with", () => {
    expect(inboxPrefixOf(parseConfig({ nats: { user: "trainer-vision" } }).nats)).toBe("_INBOX_trainer-vision");
    expect(inboxPrefixOf(parseConfig({}).nats)).toBe("_INBOX");
    const custom = loadConfig({ ARTIFACT_BUS_NATS_USER: "u", ARTIFACT_BUS_NATS_INBOX_PREFIX: "_INBOX.tenants.u" });
    expect(inboxPrefixOf(custom.nats)).toBe("_INBOX.tenants.u");
    expect(() => parseConfig({ nats: { inboxPrefix: "_INBOX.>" } })).toThrow(
      /config field nats\.inboxPrefix: .*wildcard/,
    );
    expect(() => parseConfig({ nats: { user: "team a" } })).toThrow(/config field nats\.user: .*whitespace/);
  });
  it("takes overrides from the environment", () => {
    const c = loadConfig({
      ARTIFACT_BUS_NATS_URL: "nats://a:1, nats://b:2",
      ARTIFACT_BUS_DESTINATIONS: '[{"name":"s3:x"}]',
    });
    expect(c.nats.servers).toEqual(["nats://a:1", "nats://b:2"]);
    expect(c.destinations[0]?.concurrency).toBe(4);
  });
});

describe("names and subjects", () => {
  it("destination names round-trip through their token", () => {
    expect(parseDestinationName("s3:main").token).toBe("s3_main");
    expect(destinationFromToken("sftp_archive-1")).toBe("sftp:archive-1");
    expect(() => parseDestinationName("S3:main")).toThrow(/<kind>:<name>/);
  });
  it("matches subjects with wildcards", () => {
    expect(subjectMatches("artifacts.v1.events.p.*.*.*", "artifacts.v1.events.p.r.fit.k")).toBe(true);
    expect(subjectMatches("artifacts.v1.events.q.*.*.*", "artifacts.v1.events.p.r.fit.k")).toBe(false);
    expect(subjectMatches("artifacts.>", "artifacts.v1.events.p.r.fit.k")).toBe(true);
    expect(subjectMatches("artifacts.v1.events.p.*.*", "artifacts.v1.events.p.r.fit.k")).toBe(false);
  });
});
