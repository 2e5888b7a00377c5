/**
 * The gateway's entry point. Start-up failures (a bad config field or tokens file, NATS
 * unreachable) print one line and exit 1. SIGHUP reloads the tokens file; SIGTERM and SIGINT
 * stop it gracefully. `--check-config` (ARTIFACT_BUS_CHECK_CONFIG=1) validates and exits;
 * `--warm-up` loads every module it may need (Node compile cache) and exits.
 */
import {
  createLogger,
  describeError,
  isConfigCheck,
  isWarmUp,
  loadConfig,
  persistCompileCache,
} from "@artifact-bus/shared";
import { TokenStore } from "./auth.ts";
import { loadReadBackAdapters, ReadBack } from "./read-back.ts";
import { fastifyOptions, startGateway } from "./server.ts";

if (isWarmUp(process.argv.slice(2))) {
  await loadReadBackAdapters();
  process.exit(0);
}
try {
  const config = loadConfig();
  const log = createLogger("gateway", config.logLevel);
  if (isConfigCheck(process.argv.slice(2), process.env)) {
    const tokens = new TokenStore(config.gateway.tokensFile, log);
    fastifyOptions(config, log); // reads the TLS files
    new ReadBack(config.destinations, log, config.gateway.readBack); // checks gateway.readBack
    const { host, port } = config.gateway;
    console.log(`gateway: config ok, ${host}:${port}, ${tokens.size} token(s), staging ${config.staging.store}`);
    process.exit(0);
  }
  const server = await startGateway(config, log, { ensureTopology: process.env.ARTIFACT_BUS_ENSURE_TOPOLOGY === "1" });
  log.info({ url: server.url, memory: process.memoryUsage() }, "gateway started");
  persistCompileCache();
  process.on("SIGHUP", () => server.reloadTokens());
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.once(sig, () => {
      log.info("stopping");
      server.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
    });
  }
} catch (err) {
  console.error(`gateway: ${describeError(err)}`);
  process.exit(1);
}
