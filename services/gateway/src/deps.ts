/**
 * What the routes use, built by server.ts from the process's config and connections. The app
 * plugin only registers routes; it touches these at request time, so the OpenAPI document can
 * be generated from the routes with none of them present.
 */
import type { ArtifactPublisher, BlobStore, DestinationDirectory, GatewayConfig, Ledger } from "@artifact-bus/shared";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { TokenStore } from "./auth.ts";
import type { DestinationActivity } from "./destination-activity.ts";
import type { EventIndex } from "./event-index.ts";
import type { GatewayMetrics } from "./gateway-metrics.ts";
import type { LedgerHub } from "./ledger-hub.ts";
import type { LiveFeed } from "./live-feed.ts";
import type { ReadBack } from "./read-back.ts";

export interface GatewayDeps {
  config: GatewayConfig;
  tokens: TokenStore;
  publisher: ArtifactPublisher;
  /** The store bodies and files are staged into. */
  blobStore: BlobStore;
  directory: DestinationDirectory;
  ledger: Ledger;
  index: EventIndex;
  hub: LedgerHub;
  /** The live streams' share of the hub's watch. */
  live: LiveFeed;
  /** Each destination's upload rate and newest error, from the hub's watch, always. */
  activity: DestinationActivity;
  readBack: ReadBack;
  js: JetStreamClient;
  jsm: JetStreamManager;
  metrics: GatewayMetrics;
  /** Why the gateway cannot serve now (NATS away, shutting down); empty when it can. */
  notReady(): string[];
}
