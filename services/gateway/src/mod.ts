/** artifact-bus HTTP gateway: the app plugin, the process around it, and the problem registry. */
export { API_VERSION, gatewayApp } from "./app.ts";
export type { GatewayDeps } from "./deps.ts";
export { PROBLEM_BASE, PROBLEMS, Problem, type ProblemKind } from "./problems.ts";
export { eventIdFor, sha256FromContentDigest } from "./request-parts.ts";
export { fastifyOptions, type GatewayServer, startGateway } from "./server.ts";
