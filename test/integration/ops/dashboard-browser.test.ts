/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core): it loads,
 * shows the demo fleet, and reflects a plugin that stops and a health change, without a reload.
 */
import { existsSync, rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";
import { startDemoFleet, type DemoFleet } from "./dashboard-fleet.js";

const CHROMIUM = "/usr/bin/chromium";
// CI installs chromium (.ci/run); elsewhere the test runs wherever it is installed.
const available = existsSync(CHROMIUM);
if (!available && process.env["CI"]) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);

describe.skipIf(!available)("dashboard in headless Chromium", () => {
  let fleet: DemoFleet;
  let context: BrowserContext;
  let page: Page;
  let profile: string;

  beforeAll(async () => {
    fleet = await startDemoFleet();
    profile = makeTempDir("pb-chromium-");
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1280, height: 900 },
    });
    page = await context.newPage();
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await fleet?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("loads and shows the launched and in-process plugins, their services, calls and audit events", async () => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${fleet.ops.url}/`);
    await expect(page.title()).resolves.toBe("Plugboard");
    const launched = page.locator('#plugins tr[data-plugin="kv-provider"][data-state="ready"]');
    await launched.waitFor({ timeout: 20_000 });
    const row = await launched.innerText();
    expect(row).toContain("running");
    expect(row).toContain("launch_secret"); // how the name was proven
    expect(row).toContain("healthy");
    expect(row).toContain("kv.v1.KVService@1.0.0");
    expect(row).toMatch(/\b\d+\b/); // its pid
    const inProcess = await page.locator('#plugins tr[data-plugin="kv-cache"]').innerText();
    expect(inProcess).toContain("external or in-process");
    await page.locator('#services tr[data-service="kv.v1.KVService"]').waitFor();
    expect(await page.locator('#services tr[data-service="kv.v1.KVService"]').innerText()).toContain("5");
    expect(await page.locator("#audit").innerText()).toContain("plugin.start");
    expect(await page.locator("#connection").innerText()).toBe("live");
    expect(errors).toEqual([]);
    // docs/operations-dashboard.png is taken here: PLUGBOARD_DASHBOARD_SCREENSHOT=docs/operations-dashboard.png
    const screenshot = process.env["PLUGBOARD_DASHBOARD_SCREENSHOT"];
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  });

  it("shows a health change and its message, as text, without a reload", async () => {
    const message = '<img src=x onerror="document.title=1">cache cold';
    await fleet.host.store.setHealth(fleet.inProcess.runtimeId, HealthState.DEGRADED, message, Date.now());
    const row = page.locator('#plugins tr[data-plugin="kv-cache"]');
    await expect.poll(() => row.innerText(), { timeout: 20_000 }).toContain("degraded");
    expect(await row.innerText()).toContain(message);
    expect(await page.locator("#plugins img").count()).toBe(0);
  });

  it("reflects a launched plugin that stops, without a reload", async () => {
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await fleet.launcher.stop("kv-provider");
    await page.locator('#plugins tr[data-plugin="kv-provider"][data-state="stopped"]').waitFor({ timeout: 20_000 });
    const stopped = await page.locator('#plugins tr[data-plugin="kv-provider"]').innerText();
    expect(stopped).toContain("stopped");
    expect(stopped).toContain("no runtime");
    expect(await page.locator("#audit").innerText()).toContain("plugin.stop");
    // Same document: the page was updated in place, not reloaded.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
  });
});
