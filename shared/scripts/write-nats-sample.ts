/** Writes the committed least-privilege NATS sample (deploy/nats/nats-server.conf) from the role grants. */
import { writeFileSync } from "node:fs";
import { SAMPLE_CONFIG_PATH, sampleServerConfig } from "../src/nats/permissions/sample-config.ts";

writeFileSync(SAMPLE_CONFIG_PATH, sampleServerConfig());
console.log(`wrote ${SAMPLE_CONFIG_PATH}`);
