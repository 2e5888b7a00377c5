/**
 * The operations page's Pause and Resume buttons in a real browser (Debian's Chromium, headless,
 * via playwright-core) against real servers: nats-server, the S3 double, one S3 uploader process
 * serving two destinations of one bucket (s3:e2e and s3:mirror) and the gateway, each in its own
 * process. An operator pauses s3:e2e from the page; what is logged meanwhile waits there while
 * s3:mirror takes it; a read token sees the pause and no button; Resume lets it land, shown
 * without a reload. Last, the gateway stops: the pages' streams and connections must not hold it.
 * Screenshots of each state go to a temp dir removed after the run; ARTIFACT_BUS_SCREENSHOTS=<dir>
 * keeps them in <dir>/ops-page-pause/ for a person to look at (test/harness/screenshots.ts).
 */
import { join } from "node:path";
import { hashToken } from "@artifact-bus/shared";
import { eventually, tempDirs } from "@artifact-bus/testkit";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { screenshotDir } from "./harness/screenshots.ts";

const CHROMIUM = process.env.ARTIFACT_BUS_CHROMIUM ?? "/usr/bin/chromium";
const DEST = "s3:e2e";
const MIRROR = "s3:mirror";

const temp = tempDirs();
let stack: GatewayStack;
let browser: Browser;
let shots: string;
let publish: string;
let reader: string;
let operator: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  stack = await GatewayStack.start({ mirrorPrefix: "mirror" });
  publish = stack.token(["alpha"], ["publish"]);
  reader = stack.token(["alpha"], ["read"]);
  operator = stack.token(["*"], ["admin"]);
  await stack.reload();
  shots = screenshotDir(temp, "ops-page-pause");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await stack?.dispose();
});

async function openPage(token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${stack.url}/ui/`);
  await page.getByLabel("Token (kept in this tab only)").fill(token);
  await page.getByRole("button", { name: "Open" }).click();
  await page.locator(`#dest-body tr[data-destination="${DEST}"]`).waitFor();
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  return page;
}

const row = (page: Page, dest = DEST) => page.locator(`#dest-body tr[data-destination="${dest}"]`);
const cell = (page: Page, field: string) => row(page).locator(`[data-field="${field}"]`);
const artifactState = (page: Page, name: string, dest: string, state: string) =>
  page.locator(`#artifact-body tr[data-name="${name}"] .dest-state[data-destination="${dest}"] [data-field="state"]`, {
    hasText: new RegExp(`^${state}$`),
  });
const pauseLines = () => stack.gateway.lines.filter((l) => l.msg === "destination paused");

describe("pausing a destination from the operations page", () => {
  it("an operator pauses it (a double click pauses once): what is logged meanwhile waits there, the other destination takes it; resume: it lands", async () => {
    const page = await openPage(operator);
    const read = await openPage(reader);
    expect(await row(page).locator('button[data-action="resume"]').count()).toBe(0);

    await row(page).locator('button[data-action="pause"]').dblclick();
    await cell(page, "paused").waitFor({ timeout: 10_000 });
    expect(await cell(page, "why").textContent()).toMatch(
      /paused by gateway token .*: paused from the operations page/,
    );
    // The other destination is not paused.
    expect(await row(page, MIRROR).locator('[data-field="paused"]').count()).toBe(0);
    await stack.gateway.waitForLog(() => pauseLines().length >= 1, 10_000);
    // Its replica holds to the pause (it polls the record every ~2 s) before anything is logged.
    await eventually(
      async () => {
        const res = await stack.fetch("/v1/destinations", reader);
        const body = (await res.json()) as {
          destinations: { name: string; replicas: { items: { paused?: boolean }[] } }[];
        };
        const d = body.destinations.find((x) => x.name === DEST);
        return d?.replicas.items.every((i) => i.paused === true) ? true : undefined;
      },
      15_000,
      "the replica holding to the pause",
    );

    await page.getByLabel("Project").fill("alpha");
    await page.getByLabel("Run").fill("paused");
    await page.getByRole("button", { name: "List run" }).click();
    await page.locator("#artifacts-msg", { hasText: "0 artifact(s)" }).waitFor();
    const res = await stack.fetch("/v1/projects/alpha/runs/paused/artifacts/held.pt", publish, {
      method: "PUT",
      body: "held while paused",
    });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { id: string }).id;
    // The other destination goes on; the paused one waits with the event in its backlog.
    await artifactState(page, "held.pt", MIRROR, "uploaded").waitFor({ timeout: 20_000 });
    // It shows in the mirror's upload rate; the paused one landed nothing.
    await row(page, MIRROR)
      .locator('[data-field="rate"]')
      .filter({ hasText: /^(?!0\/s)/ })
      .waitFor({ timeout: 10_000 });
    expect(await cell(page, "rate").textContent()).toMatch(/^0\/s, 0 B\/s$/);
    await cell(page, "pending")
      .filter({ hasText: /^[1-9]/ })
      .waitFor({ timeout: 15_000 });
    expect(await stack.bus.ledger({ id, project: "alpha", run: "paused" }, DEST)).toBeUndefined();
    expect(await stack.s3.getObject("alpha/paused/held.pt")).toBeUndefined();
    expect(await stack.s3.getObject("mirror/alpha/paused/held.pt")).toEqual(Buffer.from("held while paused"));
    // Paused once, though clicked twice; in the audit log with the token's id, never the token.
    expect(pauseLines()).toHaveLength(1);
    expect(pauseLines()[0]).toMatchObject({
      audit: true,
      tokenId: hashToken(operator).slice(0, 12),
      destination: DEST,
    });
    expect(JSON.stringify(stack.gateway.lines)).not.toContain(operator);

    // A read token sees the pause, and no button.
    await cell(read, "paused").waitFor({ timeout: 15_000 });
    expect(await row(read).locator("button").count()).toBe(0);
    await page.screenshot({ path: join(shots, "1-paused-operator.png"), fullPage: true });
    await read.screenshot({ path: join(shots, "1-paused-reader.png"), fullPage: true });

    await page.evaluate("window.sameDocument = true");
    await row(page).locator('button[data-action="resume"]').click();
    await artifactState(page, "held.pt", DEST, "uploaded").waitFor({ timeout: 30_000 });
    expect(await page.evaluate("window.sameDocument")).toBe(true);
    expect(await stack.s3.getObject("alpha/paused/held.pt")).toEqual(Buffer.from("held while paused"));
    await cell(page, "paused").waitFor({ state: "detached", timeout: 10_000 });
    await cell(read, "paused").waitFor({ state: "detached", timeout: 15_000 });
    await page.screenshot({ path: join(shots, "2-resumed.png"), fullPage: true });

    // Found by name: its version, with the attempt that landed it at each destination.
    await page.getByLabel("Name").fill("held.pt");
    await page.getByRole("button", { name: "Find name" }).click();
    await page.locator("#artifacts-msg", { hasText: "held.pt in alpha/paused: 1 version(s)" }).waitFor();
    const attempts = page.locator(
      `#artifact-body tr[data-id="${id}"] .dest-state[data-destination="${DEST}"] [data-field="attempt"]`,
    );
    await attempts.first().waitFor({ state: "attached" });
    expect(await attempts.first().getAttribute("data-outcome")).toBe("uploaded");
    await page.screenshot({ path: join(shots, "3-found-by-name.png"), fullPage: true });
  });

  // Last: it stops the gateway, with the pages above still open.
  it("the gateway stops at once with the pages still open after a pause and a resume", async () => {
    const started = Date.now();
    await stack.gateway.kill("SIGTERM");
    // shutdownGraceMs is 10 s here: anything left open would hold the stop that long.
    console.info(`gateway stopped in ${Date.now() - started} ms`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
