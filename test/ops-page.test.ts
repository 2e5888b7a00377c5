/**
 * The operations page (/ui/) in a real browser: Debian's Chromium, headless, driven by
 * playwright-core (no browser download), against real servers (nats-server, the S3 double, an
 * S3 uploader and the gateway in their own processes). One failed attempt kills an artifact
 * (maxDeliver 1), so stopping S3 both opens the breaker and leaves dead letters to retry.
 * Screenshots of each state go to a temp dir removed after the run; ARTIFACT_BUS_SCREENSHOTS=<dir>
 * keeps them in <dir>/ops-page/ for a person to look at (test/harness/screenshots.ts).
 * OPS_PAGE_SCREENSHOT=<path> also writes the README's picture (docs/ops-page.png) there.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashToken } from "@artifact-bus/shared";
import { eventually, tempDirs, type UploaderProcess } from "@artifact-bus/testkit";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QUICK_BREAKER } from "./harness/bus-stack.ts";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { screenshotDir } from "./harness/screenshots.ts";

const CHROMIUM = process.env.ARTIFACT_BUS_CHROMIUM ?? "/usr/bin/chromium";
const DEST = "s3:e2e";

const temp = tempDirs();
let stack: GatewayStack;
let uploader: UploaderProcess;
let browser: Browser;
let shots: string;
let publishA: string;
let publishB: string;
let readA: string;
let adminA: string;
let adminB: string;
const contexts: BrowserContext[] = [];
const dead: { alpha: string[]; beta: string[] } = { alpha: [], beta: [] };

beforeAll(async () => {
  stack = await GatewayStack.start({ uploader: false, destination: { maxDeliver: 1, breaker: QUICK_BREAKER } });
  uploader = await stack.bus.startUploader();
  // Heartbeats every half second, so the test sees one soon (15 s in production).
  await stack.gateway.kill("SIGTERM");
  await stack.startGateway({ ARTIFACT_BUS_GATEWAY_SSE_HEARTBEAT_MS: "500" });
  publishA = stack.token(["alpha"], ["publish"]);
  publishB = stack.token(["beta"], ["publish"]);
  readA = stack.token(["alpha"], ["read"]);
  adminA = stack.token(["alpha"], ["admin"]);
  adminB = stack.token(["beta"], ["admin"]);
  await stack.reload();
  shots = screenshotDir(temp, "ops-page");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await stack?.dispose();
});

/** A new tab signed in with `token`, at 1280x800 unless told. */
async function openPage(token: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${stack.url}/ui/`);
  await page.getByLabel("Token (kept in this tab only)").fill(token);
  await page.getByRole("button", { name: "Open" }).click();
  await page.locator(`#dest-body tr[data-destination="${DEST}"]`).waitFor();
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  return page;
}

async function put(token: string, project: string, run: string, name: string, body: string): Promise<string> {
  const res = await stack.fetch(`/v1/projects/${project}/runs/${run}/artifacts/${name}`, token, {
    method: "PUT",
    body,
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** The gateway's log lines of replays (it logs each with the token's id). */
const replayLines = () => stack.gateway.lines.filter((l) => l.msg === "dead letters replayed");
/**
 * The replay lines after the first `before`: the log comes through a pipe and may trail the
 * answer, so wait for one; call it once the artifact landed, so a second one would be there too.
 */
async function replaysSince(before: number) {
  await stack.gateway.waitForLog(() => replayLines().length > before, 10_000);
  return replayLines().slice(before);
}

const destCell = (page: Page, field: string) =>
  page.locator(`#dest-body tr[data-destination="${DEST}"] [data-field="${field}"]`);
const artifactState = (page: Page, name: string, state: string) =>
  page.locator(`#artifact-body tr[data-name="${name}"] .dest-state[data-destination="${DEST}"] [data-field="state"]`, {
    hasText: new RegExp(`^${state}$`),
  });

describe("operations page", () => {
  it("a read token: every destination, no action buttons and no letters; fits a phone's width", async () => {
    const page = await openPage(readA);
    expect(await page.locator("#dest-body tr").count()).toBeGreaterThanOrEqual(1);
    await destCell(page, "breaker")
      .filter({ hasText: /^closed$/ })
      .waitFor();
    expect(await destCell(page, "replicas").textContent()).toBe("1 of 1");
    expect(await page.getByRole("button", { name: /retry|export/i }).count()).toBe(0);
    expect(await page.locator("#letters").isHidden()).toBe(true);
    expect(await page.locator("#who").textContent()).toContain(hashToken(readA).slice(0, 12));
    await page.screenshot({ path: join(shots, "1-read-token.png"), fullPage: true });

    // By keyboard alone: the token field is the first stop, Enter signs in.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const keys = await context.newPage();
    await keys.goto(`${stack.url}/ui/`);
    await keys.keyboard.press("Tab");
    expect(await keys.evaluate("document.activeElement.id")).toBe("token");
    await keys.keyboard.type(readA);
    await keys.keyboard.press("Enter");
    await keys.locator(`#dest-body tr[data-destination="${DEST}"]`).waitFor();

    const phone = await openPage(readA, { width: 390, height: 844 });
    const fits = await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth");
    expect(fits).toBe(true);
    await phone.screenshot({ path: join(shots, "1-phone.png"), fullPage: true });
  });

  it("a newly logged artifact appears in the run's listing and turns uploaded without a reload", async () => {
    const page = await openPage(readA);
    await page.getByLabel("Project").fill("alpha");
    await page.getByLabel("Run").fill("live1");
    await page.getByRole("button", { name: "List run" }).click();
    await page.locator("#artifacts-msg", { hasText: "0 artifact(s)" }).waitFor();
    await page.evaluate("window.sameDocument = true");
    const id = await put(publishA, "alpha", "live1", "ckpt/first.pt", "first checkpoint");
    await artifactState(page, "ckpt/first.pt", "uploaded").waitFor({ timeout: 20_000 });
    expect(await page.locator(`#artifact-body tr[data-id="${id}"]`).count()).toBe(1);
    expect(await page.evaluate("window.sameDocument")).toBe(true);
    await page.screenshot({ path: join(shots, "2-live-uploaded.png"), fullPage: true });
  });

  it("S3 stopped: the breaker shows open with the error within seconds; restarted: closed, and the backlog drains", async () => {
    const page = await openPage(readA);
    await stack.s3.s3.stop();
    try {
      // Each fails once and dies (maxDeliver 1). Three at once: all are attempted before the
      // third failure opens the breaker (volumeThreshold 3); what comes after it waits instead.
      const lost = [
        ["beta", publishB, "lost-b.txt", "lost b"],
        ["alpha", publishA, "lost-0.txt", "lost 0"],
        ["alpha", publishA, "lost-1.txt", "lost 1"],
      ] as const;
      const ids = await Promise.all(
        lost.map(([project, token, name, body]) => put(token, project, "down", name, body)),
      );
      for (const [i, [project]] of lost.entries()) {
        await stack.bus.ledgerReaches({ id: ids[i]!, project, run: "down" }, "dead", 60_000);
        dead[project].push(ids[i]!);
      }
      await destCell(page, "breaker")
        .filter({ hasText: /^open$/ })
        .waitFor({ timeout: 30_000 });
      await destCell(page, "why").filter({ hasText: /\S/ }).waitFor();
      const why = await destCell(page, "why").textContent();
      expect(why).not.toMatch(/no error seen/);
      await page.screenshot({ path: join(shots, "3-breaker-open.png"), fullPage: true });

      // Logged while the breaker is open: they wait (no attempt, so no ledger entry yet), and the
      // destination's backlog counts them.
      await page.getByLabel("Project").fill("alpha");
      await page.getByLabel("Run").fill("backlog");
      await page.getByRole("button", { name: "List run" }).click();
      await page.locator("#artifacts-msg", { hasText: "0 artifact(s)" }).waitFor();
      for (let i = 0; i < 5; i++) await put(publishA, "alpha", "backlog", `wait-${i}.txt`, `waiting ${i}`);
      const row = `#dest-body tr[data-destination="${DEST}"]`;
      // The page reads the run again when the backlog changes: they show, pending.
      for (let i = 0; i < 5; i++) await artifactState(page, `wait-${i}.txt`, "pending").waitFor({ timeout: 20_000 });
      await page.waitForFunction(
        (sel) => {
          const doc = (globalThis as unknown as { document: { querySelector(s: string): { textContent: string } } })
            .document;
          const n = (field: string) => Number(doc.querySelector(`${sel} [data-field=${field}]`).textContent);
          return n("pending") + n("inflight") >= 5;
        },
        row,
        { timeout: 10_000 },
      );
      await page.screenshot({ path: join(shots, "3-backlog.png"), fullPage: true });
    } finally {
      await stack.s3.s3.restart();
    }
    await destCell(page, "breaker")
      .filter({ hasText: /^closed$/ })
      .waitFor({ timeout: 30_000 });
    for (let i = 0; i < 5; i++) await artifactState(page, `wait-${i}.txt`, "uploaded").waitFor({ timeout: 30_000 });
    await destCell(page, "pending").filter({ hasText: /^0$/ }).waitFor({ timeout: 10_000 });
    await destCell(page, "inflight").filter({ hasText: /^0$/ }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(shots, "3-drained.png"), fullPage: true });
  });

  it("an admin token of project alpha sees alpha's letters, never beta's, and the recent failures strip", async () => {
    for (const id of [...dead.alpha, ...dead.beta]) {
      await stack.bus.ledgerReaches(
        { id, project: id === dead.beta[0] ? "beta" : "alpha", run: "down" },
        "dead",
        20_000,
      );
    }
    const page = await openPage(adminA);
    for (const id of dead.alpha) await page.locator(`#letter-groups tr[data-event-id="${id}"]`).waitFor();
    expect(await page.locator(`#letter-groups tr[data-event-id="${dead.beta[0]}"]`).count()).toBe(0);
    expect(await page.locator("#letter-groups").textContent()).not.toContain("beta/");
    await page.locator("#recent").waitFor({ state: "visible" });
    expect(await page.locator("#recent-list li").count()).toBe(dead.alpha.length);
    await page.screenshot({ path: join(shots, "4-admin-letters.png"), fullPage: true });
    if (process.env.OPS_PAGE_SCREENSHOT) await page.screenshot({ path: process.env.OPS_PAGE_SCREENSHOT });
  });

  it("a dead letter is retried from the page with one click; a double click replays it once, and it lands", async () => {
    const page = await openPage(adminA);
    const id = dead.alpha[0]!;
    const row = page.locator(`#letter-groups tr[data-event-id="${id}"]`);
    const seq = Number(await row.getAttribute("data-seq"));
    const before = replayLines().length;
    await row.getByRole("button", { name: `Retry letter ${seq}` }).dblclick();
    await row.locator('[data-field="replay"]', { hasText: "replayed" }).waitFor({ timeout: 20_000 });
    // Follow the letter to its artifact: it turns uploaded, live.
    await row.getByRole("link", { name: id }).click();
    await page.locator(`#artifact-body tr[data-id="${id}"]`).waitFor();
    await artifactState(page, "lost-0.txt", "uploaded").waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(shots, "5-retried.png"), fullPage: true });

    const replays = await replaysSince(before);
    expect(replays).toHaveLength(1);
    expect(replays[0]).toMatchObject({ tokenId: hashToken(adminA).slice(0, 12), replayed: [seq] });
    expect(JSON.stringify(stack.gateway.lines)).not.toContain(adminA);
    await uploader.waitForLog((l) => l.msg === "uploaded" && l.eventId === id, 10_000);
    expect(uploader.lines.filter((l) => l.msg === "uploaded" && l.eventId === id)).toHaveLength(1);
    expect(await stack.s3.getObject(`alpha/down/lost-0.txt`)).toEqual(Buffer.from("lost 0"));
  });

  it("export lists what is shown as JSON; retry selected replays the checked letters once each, and they land", async () => {
    const page = await openPage(adminA);
    const rest = dead.alpha.slice(1);
    for (const id of rest) await page.locator(`#letter-groups tr[data-event-id="${id}"]`).waitFor();

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export as JSON" }).click(),
    ]);
    const exported = JSON.parse(readFileSync((await download.path())!, "utf8")) as {
      items: { eventId: string; project: string }[];
    };
    expect(exported.items.map((l) => l.eventId).sort()).toEqual([...dead.alpha].sort());
    expect(exported.items.every((l) => l.project === "alpha")).toBe(true);

    const seqs: number[] = [];
    for (const id of rest) {
      const row = page.locator(`#letter-groups tr[data-event-id="${id}"]`);
      seqs.push(Number(await row.getAttribute("data-seq")));
      await row.getByRole("checkbox").check();
    }
    const before = replayLines().length;
    await page.getByRole("button", { name: "Retry selected" }).dblclick();
    for (const id of rest) {
      await page
        .locator(`#letter-groups tr[data-event-id="${id}"] [data-field="replay"]`, { hasText: "replayed" })
        .waitFor({ timeout: 20_000 });
    }
    for (const id of rest) await stack.bus.ledgerReaches({ id, project: "alpha", run: "down" }, "uploaded", 20_000);
    const replays = await replaysSince(before);
    expect(replays).toHaveLength(1);
    expect((replays[0]!.replayed as number[]).sort()).toEqual(seqs.sort());
    await page.screenshot({ path: join(shots, "6-retried-selected.png"), fullPage: true });
  });

  it("retry all of a destination, by an admin of beta: only beta's letter is replayed, once, and it lands", async () => {
    const page = await openPage(adminB);
    const id = dead.beta[0]!;
    const row = page.locator(`#letter-groups tr[data-event-id="${id}"]`);
    await row.waitFor();
    expect(await page.locator("#letter-groups tbody tr").count()).toBe(1);
    const before = replayLines().length;
    await page.getByRole("button", { name: `Retry all of ${DEST}` }).dblclick();
    await row.locator('[data-field="replay"]', { hasText: "replayed" }).waitFor({ timeout: 20_000 });
    await stack.bus.ledgerReaches({ id, project: "beta", run: "down" }, "uploaded", 20_000);
    const replays = await replaysSince(before);
    expect(replays).toHaveLength(1);
    expect(replays[0]).toMatchObject({
      tokenId: hashToken(adminB).slice(0, 12),
      seqs: "all",
      replayed: [Number(await row.getAttribute("data-seq"))],
    });
  });

  it("a live stream gets heartbeats (comment lines); a client that goes away leaves no stream behind", async () => {
    const open = async () =>
      Number(
        /^artifact_bus_gateway_live_streams (\d+)$/m.exec(await (await stack.fetch("/metrics", undefined)).text())?.[1],
      );
    const before = await open();
    const gone = new AbortController();
    const res = await stack.fetch("/v1/events/live", readA, { signal: gone.signal });
    const body = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/^: heartbeat /m.test(text)) text += (await body.read()).value ?? "";
    expect(await open()).toBe(before + 1);
    gone.abort();
    await eventually(async () => ((await open()) === before ? true : undefined), 10_000, "the stream to be closed");
  });

  it("a token taken out of the tokens file: its open stream ends at the reload, and it cannot open another", async () => {
    const doomed = stack.token(["alpha"], ["read"]);
    await stack.reload();
    const res = await stack.fetch("/v1/events/live", doomed);
    const body = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("event: ready")) text += (await body.read()).value ?? "";
    const hash = hashToken(doomed);
    const kept = readFileSync(stack.tokensFile, "utf8")
      .split("\n")
      .filter((line) => !line.includes(hash));
    writeFileSync(stack.tokensFile, kept.join("\n"));
    await stack.reload();
    while (!(await body.read()).done) {}
    expect((await stack.fetch("/v1/events/live", doomed)).status).toBe(401);
    await stack.gateway.waitForLog((l) => l.msg === "live streams of revoked or changed tokens ended", 10_000);
  });

  // Last: it stops the gateway.
  it("a stopping gateway ends its live streams at once instead of waiting out its grace period", async () => {
    const res = await stack.fetch("/v1/events/live", readA);
    const body = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("event: ready")) text += (await body.read()).value ?? "";
    const started = Date.now();
    const exited = stack.gateway.kill("SIGTERM");
    while (!(await body.read()).done) {}
    await exited;
    // shutdownGraceMs is 10 s here: a stream left open would hold the stop that long.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
