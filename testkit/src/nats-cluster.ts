/**
 * A three-node JetStream cluster of real nats-server processes on loopback, for fault tests: each
 * node has its own store dir and ports, routes to the others, and can be killed, stopped
 * (SIGSTOP, a partition as the others see it) and restarted with its data.
 */

import type { ClusterNode } from "@artifact-bus/shared";
import type { JetStreamManager } from "@nats-io/jetstream";
import { eventually } from "./files.ts";
import { NatsServer } from "./nats-server.ts";
import { freePort } from "./sshd-setup.ts";

export interface NatsClusterOptions {
  size?: number;
  /** Config appended to every node's (accounts and users, e.g. the permission sample). */
  config?: string;
  env?: Record<string, string>;
  verbose?: boolean;
}

export class NatsCluster {
  readonly nodes: NatsServer[];
  readonly names: string[];

  private constructor(nodes: NatsServer[], names: string[]) {
    this.nodes = nodes;
    this.names = names;
  }

  /** Starts every node and resolves once they are all listening (JetStream elects a leader after). */
  static async start(o: NatsClusterOptions = {}): Promise<NatsCluster> {
    const size = o.size ?? 3;
    const nodes: ClusterNode[] = [];
    for (let i = 1; i <= size; i++) {
      nodes.push({ name: `n${i}`, host: "127.0.0.1", clientPort: await freePort(), clusterPort: await freePort() });
    }
    const servers = await Promise.all(
      nodes.map((node) =>
        NatsServer.start({
          cluster: { name: "artifact-bus-test", node, nodes },
          ...(o.config ? { config: o.config } : {}),
          ...(o.env ? { env: o.env } : {}),
          ...(o.verbose ? { verbose: true } : {}),
        }),
      ),
    );
    return new NatsCluster(
      servers,
      nodes.map((n) => n.name),
    );
  }

  /** Every node's client URL: what clients get as their server list. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  node(name: string): NatsServer {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`no node ${name}`);
    return this.nodes[i]!;
  }

  /** The node leading `stream`'s Raft group (what a leader-kill test kills). */
  async leaderOf(jsm: JetStreamManager, stream: string): Promise<string> {
    return eventually(
      async () => (await jsm.streams.info(stream)).cluster?.leader || undefined,
      30_000,
      `a leader of ${stream}`,
    );
  }

  async dispose(): Promise<void> {
    for (const n of this.nodes) n.resume();
    await Promise.all(this.nodes.map((n) => n.dispose()));
  }
}
