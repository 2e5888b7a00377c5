/**
 * `artifact-bus nats-users`: the nats-server config of a deployment's own projects and
 * destinations, run by a real nats-server. Two projects' trainers each do their own job and
 * nothing of the other's; bad names are refused naming them.
 */
import { randomBytes } from "node:crypto";
import { connectNats, ensureTopology, parseConfig } from "@artifact-bus/shared";
import { NatsServer } from "@artifact-bus/testkit";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./harness/cli.ts";

// Letters first: the server parses an env value as config, and digits alone would be a number.
const pw = () => `pw-${randomBytes(12).toString("hex")}`;
const PASSWORDS: Record<string, string> = {
  NATS_ADMIN_PASSWORD: pw(),
  NATS_GATEWAY_PASSWORD: pw(),
  NATS_TRAINER_DEMO_PASSWORD: pw(),
  NATS_TRAINER_VISION_PASSWORD: pw(),
  NATS_UPLOADER_S3_MAIN_PASSWORD: pw(),
};
let server: NatsServer;
let config = "";
let stderr = "";
const open: NatsConnection[] = [];

async function as(user: string, env: string): Promise<NatsConnection> {
  const nc = await connectNats(
    { servers: [server.url], user },
    { name: user, env: { ARTIFACT_BUS_NATS_PASSWORD: PASSWORDS[env] } },
  );
  open.push(nc);
  return nc;
}

beforeAll(async () => {
  const r = await runCli(["nats-users", "--project", "demo", "--project", "vision", "--destination", "s3:main"], {});
  expect(r.code, r.stderr).toBe(0);
  ({ stdout: config, stderr } = r);
  server = await NatsServer.start({ config, env: PASSWORDS });
  const admin = await as("admin", "NATS_ADMIN_PASSWORD");
  const c = parseConfig({ destinations: [{ name: "s3:main" }] });
  await ensureTopology(admin, { stream: c.stream, destinations: c.destinations });
});
afterAll(async () => {
  await Promise.all(open.map((nc) => nc.close()));
  await server?.dispose();
});

describe("artifact-bus nats-users", () => {
  it("writes a user per role, and says where the server reads each password", () => {
    for (const user of ["admin", "gateway", "trainer-demo", "trainer-vision", "uploader-s3_main"]) {
      expect(config).toContain(`user: "${user}"`);
    }
    expect(stderr).toContain("trainer-vision: NATS_TRAINER_VISION_PASSWORD");
    expect(config).not.toContain(PASSWORDS.NATS_TRAINER_VISION_PASSWORD);
  });

  it("lets each project's trainer log its own events and nothing of the other's, nor hear its replies", async () => {
    const vision = await as("trainer-vision", "NATS_TRAINER_VISION_PASSWORD");
    const js = jetstream(vision);
    const ack = await js.publish("artifacts.v1.events.vision.r1.fit.k1", "{}", {
      msgID: randomBytes(8).toString("hex"),
    });
    expect(ack.stream).toBe("ARTIFACTS");
    await expect(js.publish("artifacts.v1.events.demo.r1.fit.k1", "{}")).rejects.toThrow(
      'Permissions Violation for Publish to "artifacts.v1.events.demo.r1.fit.k1"',
    );
    const status = vision.status();
    vision.subscribe("_INBOX_trainer-demo.>");
    for await (const s of status) {
      if (s.type !== "error" || !(s.error instanceof PermissionViolationError)) continue;
      expect(s.error.message).toContain('Permissions Violation for Subscription to "_INBOX_trainer-demo.>"');
      break;
    }
  });

  it("refuses a bad name, naming it, and writes nothing", async () => {
    const bad = await runCli(["nats-users", "--project", "demo", "--destination", "s3 main"], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("s3 main");
    expect(bad.stdout).toBe("");
    const none = await runCli(["nats-users"], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--project.*--destination/);
  });
});
