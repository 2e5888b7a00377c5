/**
 * Least-privilege NATS permissions per role, built from the names the runtime uses, and the
 * conventional users holding them. Each role's grants have a file of their own
 * (trainer-grants.ts, uploader-grants.ts, gateway-grants.ts; common-grants.ts holds the ones they
 * share); this file says who holds them. server-config.ts renders users as nats-server config;
 * sample-config.ts is the committed sample's text.
 *
 * Every subject is one that the v3 clients (@nats-io/jetstream, kv, obj) send for a call
 * artifact-bus makes; each grant names that call, and the sample file carries it as a comment.
 */

import { destinationFromToken, parseDestinationName } from "../../contract/destination-name.ts";
import type { RolePermissions } from "./common-grants.ts";
import { GATEWAY_USER, gatewayPermissions } from "./gateway-grants.ts";
import { trainerPermissions, trainerUserName } from "./trainer-grants.ts";
import { uploaderPermissions, uploaderUserName } from "./uploader-grants.ts";

export type { Grant, RolePermissions } from "./common-grants.ts";
export { gatewayPermissions, trainerPermissions, uploaderPermissions };

/** A user of the artifact-bus account. */
export interface NatsUser {
  user: string;
  /** `{ env }` renders `$NAME`, read from the server's environment at start; `{ value }` inlines it. */
  password: { env: string } | { value: string };
  /** One line saying who this user is. */
  role: string;
  permissions: RolePermissions;
}

/** Operators: topology (streams, consumers, buckets), DLQ inspection and replay. The whole account. */
export function adminPermissions(): RolePermissions {
  const why = "topology, DLQ and any repair: everything in this account (not the system account)";
  return { publish: [{ subject: ">", why }], subscribe: [{ subject: ">", why }] };
}

/** Conventional user `trainer-<project>` with password from `NATS_TRAINER_<PROJECT>_PASSWORD`. */
export function trainerUser(project: string): NatsUser {
  return {
    user: trainerUserName(project),
    password: { env: envName("TRAINER", project) },
    role: `trainer of project ${project}`,
    permissions: trainerPermissions(project),
  };
}

/** Conventional user `uploader-<token>` with password from `NATS_UPLOADER_<TOKEN>_PASSWORD`. */
export function uploaderUser(destinationToken: string): NatsUser {
  return {
    user: uploaderUserName(destinationToken),
    password: { env: envName("UPLOADER", destinationToken) },
    role: `uploader of destination ${destinationFromToken(destinationToken)}`,
    permissions: uploaderPermissions(destinationToken),
  };
}

/** Conventional user `gateway` with password from `NATS_GATEWAY_PASSWORD`. */
export function gatewayUser(): NatsUser {
  return {
    user: GATEWAY_USER,
    password: { env: "NATS_GATEWAY_PASSWORD" },
    role: "HTTP gateway (services/gateway)",
    permissions: gatewayPermissions(),
  };
}

/** Conventional user `admin` with password from `NATS_ADMIN_PASSWORD`. */
export function adminUser(): NatsUser {
  return { user: "admin", password: { env: "NATS_ADMIN_PASSWORD" }, role: "operator", permissions: adminPermissions() };
}

/**
 * The users of a deployment: `admin`, `gateway`, a trainer per project and an uploader per
 * destination (names like `s3:main`).
 */
export function deploymentUsers(projects: string[], destinations: string[]): NatsUser[] {
  return [
    adminUser(),
    gatewayUser(),
    ...projects.map(trainerUser),
    ...destinations.map((d) => uploaderUser(parseDestinationName(d).token)),
  ];
}

/** Users of the committed sample: the ones the docker-compose stack runs with. */
export function sampleUsers(): NatsUser[] {
  return deploymentUsers(["demo"], ["s3:minio", "sftp:archive", "wandb:team", "dir:archive"]);
}

function envName(role: string, token: string): string {
  return `NATS_${role}_${token.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_PASSWORD`;
}
