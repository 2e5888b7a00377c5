/**
 * What the HTTP gateway refuses a hostile tenant, under the committed sample permissions, with
 * the gateway in its own process. Two projects share one trainer filesystem (`files/a`,
 * `files/b`) and the bus; the gateway stages by path from `files/{project}`.
 *
 * - A token of project A stages no file of B's, in any mode, by path or through a symlink.
 * - A file the gateway's user does not own is never linked, moved or made read-only.
 * - An allowedDirs entry that every project would share stops the gateway at start-up.
 * - An Idempotency-Key's event id cannot be taken by another tenant before its owner uses it.
 * - A retry that re-stages under a published event id never replaces that event's blob.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { eventSubject, GATEWAY_INDEX_PREFIX, LEDGER_BUCKET } from "@artifact-bus/shared";
import { eventually } from "@artifact-bus/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY_MAIN, GatewayStack } from "./harness/gateway-stack.ts";

const PROBLEM = "https://artifact-bus.dev/problems/";
/** The part of a 202 answer the cases use. */
interface Accepted {
  id: string;
  project: string;
  run: string;
  name: string;
  sha256: string;
}
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let stack: GatewayStack;
let files: string;
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  // No uploader between cases (landed() runs one for its check): the re-staging cases need a
  // published blob that nothing consumed yet.
  stack = await GatewayStack.start({ secured: true, uploader: false });
  files = stack.filesRoot;
  tokenA = stack.token(["a"], ["publish"]);
  tokenB = stack.token(["b"], ["publish"]);
  await stack.reload();
  for (const p of ["a", "b"]) mkdirSync(join(files, p), { recursive: true });
});
afterAll(async () => stack?.dispose());

/** Runs an uploader until the event is final at S3; returns the bytes there, or fails with the reason. */
async function landed(event: Accepted): Promise<Buffer> {
  const uploader = await stack.bus.startUploader();
  try {
    const entry = await eventually(
      async () => {
        const e = await stack.bus.ledger(event);
        return e?.state === "uploaded" || e?.state === "dead" ? e : undefined;
      },
      20_000,
      `${event.name} final at S3`,
    );
    expect({ state: entry.state, error: entry.error }).toEqual({ state: "uploaded", error: undefined });
    return (await stack.s3.getObject(`${event.project}/${event.run}/${event.name}`)) ?? Buffer.alloc(0);
  } finally {
    await uploader.kill("SIGTERM");
  }
}

async function problem(r: Response, status: number, kind: string, field?: string) {
  const body = (await r.json()) as Record<string, unknown>;
  expect({ status: r.status, type: body.type }).toEqual({ status, type: `${PROBLEM}${kind}` });
  if (field !== undefined) expect(body.field).toBe(field);
  return body;
}

const post = (project: string, token: string, body: Record<string, unknown>) =>
  stack.fetch(`/v1/projects/${project}/runs/paths/artifacts`, token, {
    method: "POST",
    body: JSON.stringify({ name: "stolen.bin", ...body }),
    headers: { "content-type": "application/json" },
  });

/** A file of B's, 0640 as a private checkpoint would be, and how to see that nothing touched it. */
function filesOfB(name: string) {
  const path = join(files, "b", name);
  const bytes = randomBytes(100_000);
  writeFileSync(path, bytes, { mode: 0o640 });
  const untouched = () => {
    expect(existsSync(path), `${path} still there`).toBe(true);
    expect(statSync(path).mode & 0o777, `${path} keeps its mode`).toBe(0o640);
    expect(sha256(readFileSync(path))).toBe(sha256(bytes));
  };
  return { path, untouched };
}

describe("logging a file by path: a project reaches only its own directory", () => {
  it("stages A's own file, and answers 403 path-not-allowed for B's file, in every mode", async () => {
    for (const mode of ["copy", "link", "move"]) {
      const own = join(files, "a", `own-${mode}.bin`);
      writeFileSync(own, randomBytes(70_000));
      expect((await post("a", tokenA, { path: own, mode })).status, mode).toBe(202);
    }
    const b = filesOfB("secret.pt");
    for (const mode of ["copy", "link", "move"]) {
      await problem(await post("a", tokenA, { path: b.path, mode }), 403, "path-not-allowed", "path");
      b.untouched();
    }
  });

  it("refuses a symlink in A's directory to B's file, and a symlinked directory leading into B's", async () => {
    const b = filesOfB("linked.pt");
    symlinkSync(b.path, join(files, "a", "link-to-b.pt"));
    symlinkSync(join(files, "b"), join(files, "a", "dir-to-b"));
    for (const mode of ["copy", "link", "move"]) {
      for (const path of [join(files, "a", "link-to-b.pt"), join(files, "a", "dir-to-b", "linked.pt")]) {
        await problem(await post("a", tokenA, { path, mode }), 403, "path-not-allowed", "path");
        b.untouched();
      }
    }
  });

  // The suite runs as root (as the sshd tests need), so the gateway does too: chown makes a file
  // that is not the gateway's.
  it.skipIf(process.getuid?.() !== 0)(
    "links or moves only files the gateway's user owns: another user's file is refused, and copied on request",
    async () => {
      const path = join(files, "a", "other-user.pt");
      writeFileSync(path, randomBytes(100_000), { mode: 0o640 });
      chownSync(path, 65534, 65534);
      for (const mode of ["link", "move"]) {
        const body = await problem(await post("a", tokenA, { path, mode }), 403, "mode-not-allowed", "mode");
        expect(body.detail).toMatch(/owned by uid 65534/);
        expect(statSync(path).mode & 0o777).toBe(0o640);
      }
      expect((await post("a", tokenA, { path, mode: "copy" })).status).toBe(202);
      expect(statSync(path).mode & 0o777).toBe(0o640);
    },
  );

  it("does not start with an allowedDirs entry every project would share, naming the field", () => {
    const run = spawnSync(process.execPath, [GATEWAY_MAIN, "--check-config"], {
      encoding: "utf8",
      env: { ...process.env, ARTIFACT_BUS_CONFIG: stack.configPath, ARTIFACT_BUS_GATEWAY_ALLOWED_DIRS: files },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/gateway\.allowedDirs\.0: .*\{project\}/);
  });
});

describe("re-staging under an event id that is already published", () => {
  const put = (url: string, run: string, body: Buffer | ReadableStream<Uint8Array>, key: string) =>
    fetch(`${url}/v1/projects/b/runs/${run}/artifacts/ckpt.pt`, {
      method: "PUT",
      body,
      headers: { authorization: `Bearer ${tokenB}`, "idempotency-key": key },
      duplex: "half",
    } as RequestInit);

  it("a retry after the gateway lost its record (a crash between publish and record) leaves the blob", async () => {
    const first = randomBytes(100_000);
    const r = await put(stack.url, "crash", first, "k1");
    expect(r.status).toBe(202);
    const accepted = (await r.json()) as Accepted;
    const { id } = accepted;
    // What a gateway killed between the PubAck and its record leaves: the event, no record.
    await (await new Kvm(stack.bus.nc).open(LEDGER_BUCKET)).delete(`${GATEWAY_INDEX_PREFIX}.${id}`);
    await problem(await put(stack.url, "crash", randomBytes(100_000), "k1"), 422, "idempotency-key-reused");
    expect(sha256(await landed(accepted))).toBe(sha256(first));
    const again = await put(stack.url, "crash", first, "k1");
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(((await again.json()) as { id: string }).id).toBe(id);
  });

  it("a retry on another replica while the first still receives the body leaves the published blob", async () => {
    // A second gateway process on the same bus and staging dir.
    const [firstGateway, firstUrl] = [stack.gateway, stack.url];
    const second = await stack.startGateway();
    const secondUrl = stack.url;
    [stack.gateway, stack.url] = [firstGateway, firstUrl];
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      const slow = randomBytes(200_000);
      const body = new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(slow.subarray(0, 100_000));
          await held;
          c.enqueue(slow.subarray(100_000));
          c.close();
        },
      });
      const slowAnswer = put(firstUrl, "replicas", body, "k2");
      const runDir = join(stack.bus.config.staging.dir, "b", "replicas");
      const receiving = () => existsSync(runDir) && readdirSync(runDir).some((n) => n.startsWith(".tmp-"));
      await eventually(() => (receiving() ? true : undefined), 10_000, "the first gateway receiving the body");
      const fast = randomBytes(100_000);
      const published = await put(secondUrl, "replicas", fast, "k2");
      expect(published.status).toBe(202);
      release();
      await problem(await slowAnswer, 422, "idempotency-key-reused", "Idempotency-Key");
      expect(sha256(await landed((await published.json()) as Accepted))).toBe(sha256(fast));
    } finally {
      await second.kill("SIGKILL");
    }
  });
});

describe("event ids from an Idempotency-Key", () => {
  /**
   * The id as the gateway derived it from (project, run, key) alone, as the README documented:
   * what a tenant who knows B's project, run and key scheme (rank and step) computes.
   */
  function publicDerivation(project: string, run: string, key: string): string {
    const digest = createHash("sha256").update(`${project}\n${run}\n${key}`).digest().subarray(0, 20);
    let bits = "";
    for (const byte of digest) bits += byte.toString(2).padStart(8, "0");
    const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    return `ik-${bits
      .match(/.{5}/g)
      ?.map((b) => alphabet[Number.parseInt(b, 2)])
      .join("")}`;
  }

  it("cannot be occupied by another tenant first: B's artifact lands under B's own event", async () => {
    const key = "rank0-step500";
    const squatted = publicDerivation("b", "ids", key);
    // trainer-demo publishes first, on its own project's subject, with the id B's request would get.
    const trainer = await stack.bus.trainer();
    try {
      const decoy = { schema: 1, id: squatted, project: "demo", run: "ids", name: "x", level: "fit" } as const;
      await jetstream(trainer.nc).publish(eventSubject(decoy), JSON.stringify(decoy), { msgID: squatted });
    } finally {
      await trainer.close();
    }
    const bytes = randomBytes(5_000);
    const r = await stack.fetch("/v1/projects/b/runs/ids/artifacts/ckpt.pt", tokenB, {
      method: "PUT",
      body: bytes,
      headers: { "idempotency-key": key },
    });
    expect(r.status).toBe(202);
    expect(r.headers.get("idempotent-replayed")).toBeNull();
    const accepted = (await r.json()) as Accepted;
    expect(accepted).toMatchObject({ project: "b", run: "ids", sha256: sha256(bytes) });
    expect(accepted.id).not.toBe(squatted);
    expect(sha256(await landed(accepted))).toBe(sha256(bytes));
  });
});
