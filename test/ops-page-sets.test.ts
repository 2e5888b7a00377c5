/**
 * A run's checkpoint sets on the operations page, in a real browser (Debian's Chromium, headless,
 * via playwright-core) against real servers: nats-server, the S3 server, an S3 uploader and the
 * gateway, each in its own process, and a trainer logging over NATS. One set completes; another
 * fails, one member's staged bytes corrupted before the uploader starts (it dies at once on the
 * sha256 check); a third has one member of two. The page, listing the run before anything
 * landed, shows them turn complete, failed (with the missing member and why) and open, and the
 * pointer naming the complete one, without a reload; another project's read token sees no set.
 * Screenshots of each state go to a temp dir removed after the run; ARTIFACT_BUS_SCREENSHOTS=<dir>
 * keeps them in <dir>/ops-page-sets/ for a person to look at (test/harness/screenshots.ts).
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LoggedArtifact } from "@artifact-bus/shared";
import { tempDirs } from "@artifact-bus/testkit";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Trainer } from "./harness/bus-stack.ts";
import { GatewayStack } from "./harness/gateway-stack.ts";
import { screenshotDir } from "./harness/screenshots.ts";

const CHROMIUM = process.env.ARTIFACT_BUS_CHROMIUM ?? "/usr/bin/chromium";
const DEST = "s3:e2e";
const RUN = "sets-page";

const temp = tempDirs();
let stack: GatewayStack;
let browser: Browser;
let trainer: Trainer;
let shots: string;
let reader: string;
let otherReader: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  stack = await GatewayStack.start({ uploader: false });
  reader = stack.token(["demo"], ["read"]);
  otherReader = stack.token(["beta"], ["read"]);
  await stack.reload();
  trainer = await stack.bus.trainer();
  shots = screenshotDir(temp, "ops-page-sets");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await trainer?.close();
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

async function listRun(page: Page, project: string, run: string): Promise<void> {
  await page.getByLabel("Project").fill(project);
  await page.getByLabel("Run").fill(run);
  await page.getByRole("button", { name: "List run" }).click();
}

/** Logs `<set>/<file>` as a member of a set of `members`, and waits until it is durable. */
async function logMember(set: string, file: string, data: string, members: number): Promise<LoggedArtifact> {
  const path = join(stack.bus.dir, `${RUN}-${set.replaceAll("/", "-")}-${file}`);
  writeFileSync(path, data);
  const handle = await trainer.publisher.logFile({
    project: "demo",
    run: RUN,
    name: `${set}/${file}`,
    path,
    set: { name: set, members },
  });
  return handle.durable;
}

const setRow = (page: Page, set: string) => page.locator(`#set-body tr[data-set="${set}"][data-destination="${DEST}"]`);

describe("checkpoint sets on the operations page", () => {
  it("a complete set, a failed one and an open one appear live: states, members landed, the missing member and why, the pointer", async () => {
    const complete = "ck/ep1";
    const failed = "ck/ep2";
    // Logged while no uploader runs; then one member's staged bytes are corrupted (same size).
    await logMember(complete, "rank0.pt", "ep1 rank 0", 2);
    await logMember(complete, "rank1.pt", "ep1 rank 1", 2);
    await logMember(failed, "rank0.pt", "ep2 rank 0", 2);
    const bad = await logMember(failed, "rank1.pt", "ep2 rank 1", 2);
    const open = "ck/ep3"; // one member of two logged yet
    await logMember(open, "rank0.pt", "ep3 rank 0", 2);
    const blob = trainer.blobs.get("fs").localPath(bad.blob)!;
    chmodSync(blob, 0o644);
    writeFileSync(blob, "EP2 RANK 1");

    const page = await openPage(reader);
    const other = await openPage(otherReader);
    await listRun(page, "demo", RUN);
    await page.locator("#artifacts-msg", { hasText: "5 artifact(s)" }).waitFor();
    expect(await page.locator("#sets").isHidden()).toBe(true); // nothing landed: no set record yet
    await page.evaluate("window.sameDocument = true");

    await stack.bus.startUploader();
    await stack.bus.ledgerReaches(bad, "dead", 30_000);
    await setRow(page, complete)
      .locator('[data-field="state"]', { hasText: /^complete$/ })
      .waitFor({ timeout: 20_000 });
    await setRow(page, failed)
      .locator('[data-field="state"]', { hasText: /^failed$/ })
      .waitFor({ timeout: 20_000 });
    await setRow(page, open)
      .locator('[data-field="state"]', { hasText: /^open$/ })
      .waitFor({ timeout: 20_000 });
    expect(await page.evaluate("window.sameDocument")).toBe(true);

    expect(await setRow(page, complete).locator('[data-field="members"]').textContent()).toBe("2/2");
    // The pointer moves after the set is complete (its manifest first): the page hears it later.
    await setRow(page, complete)
      .locator('[data-field="pointer"]', { hasText: /^names it$/ })
      .waitFor({ timeout: 20_000 });
    expect(await setRow(page, complete).locator('[data-field="missing"]').count()).toBe(0);
    expect(await setRow(page, failed).locator('[data-field="members"]').textContent()).toBe("1/2");
    expect(await setRow(page, open).locator('[data-field="members"]').textContent()).toBe("1/2");
    expect(await setRow(page, failed).locator('[data-field="pointer"]').textContent()).toBe("-");
    const missing = setRow(page, failed).locator('[data-field="missing"]');
    expect(await missing.count()).toBe(1);
    expect(await missing.getAttribute("data-member")).toBe(`${failed}/rank1.pt`);
    expect(await missing.textContent()).toContain(bad.id);
    expect(await missing.textContent()).toMatch(/sha256/);
    // The pointer names the complete set, not the failed one logged after it.
    const pointer = page.locator('#set-pointers [data-field="pointer-names"]');
    expect(await pointer.count()).toBe(1);
    expect(await pointer.getAttribute("data-set")).toBe(complete);
    expect(await pointer.textContent()).toMatch(new RegExp(`Pointer .*ck/latest at ${DEST} names ${complete}$`));
    expect(await stack.s3.getObject(`demo/${RUN}/ck/latest`)).toEqual(Buffer.from(complete));
    await page.screenshot({ path: join(shots, "1-sets.png"), fullPage: true });

    // Another project's token: the run is not its to list, and no set of it shows.
    await listRun(other, "demo", RUN);
    await other.locator("#artifacts-msg", { hasText: /./ }).waitFor();
    await expect
      .poll(async () => other.locator("#artifacts-msg").textContent(), { timeout: 10_000 })
      .not.toMatch(/^Listing/);
    expect(await other.locator("#set-body tr").count()).toBe(0);
    expect(await other.locator("#sets").isHidden()).toBe(true);
    const api = await stack.fetch(`/v1/projects/demo/runs/${RUN}/sets`, otherReader);
    expect(api.status).toBe(403);
    expect(JSON.stringify(await api.json())).not.toContain(complete);
    await other.screenshot({ path: join(shots, "2-other-project.png"), fullPage: true });
  });
});
