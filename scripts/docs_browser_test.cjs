// Browser checks of the `pipec docs` site, run by scripts/docs_browser_test.sh (which sets the
// environment: PLAYWRIGHT_DIR, CHROMIUM, USER_DATA_DIR, BASE_URL). Exits non-zero on failure.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_DIR);

const base = process.env.BASE_URL;
const problems = [];

function check(ok, what) {
  if (!ok) problems.push(what);
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
}

async function main() {
  const context = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  let errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  // Nothing may leave localhost.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith("data:")) return route.continue();
    errors.push(`request outside the site: ${url}`);
    return route.abort();
  });

  // Every page: index, then every pipeline, relation and sink page named by the search index.
  const index = await (await context.request.get(base + "search.json")).json();
  const pages = ["index.html"].concat(
    [...new Set(index.filter((e) => e.kind !== "column").map((e) => e.url))].sort());
  check(pages.length > 10, `search.json names ${pages.length - 1} pages`);
  for (const p of pages) {
    errors = [];
    await page.goto(base + p, { waitUntil: "load" });
    const h1 = await page.locator("h1").first().textContent();
    check(errors.length === 0 && h1 && h1.trim().length > 0,
      `${p} loads without console errors${errors.length ? ": " + errors.join("; ") : ""}`);
  }

  // The DAG: an SVG whose nodes link to relation pages.
  errors = [];
  await page.goto(base + "index.html");
  const nodeLinks = await page.locator("svg.dag a").count();
  check(nodeLinks > 10, `the index's DAG has ${nodeLinks} linked nodes`);
  await page.locator('svg.dag a[href="relations/bike_share.station_daily.html"]').first().click();
  await page.waitForURL(/relations\/bike_share\.station_daily\.html$/);
  check(true, "clicking the DAG's station_daily node opens its page");

  // Search for a column as one types.
  await page.goto(base + "index.html");
  await page.locator("#search").pressSequentially("avg_minutes", { delay: 20 });
  const hit = page.locator('#results a.hit-column[href*="bike_share.station_daily.html#col-avg_minutes"]');
  await hit.first().waitFor({ state: "visible", timeout: 5000 });
  const label = await hit.first().textContent();
  check(label.includes("bike_share.station_daily.avg_minutes"), `search shows "${label}"`);
  await hit.first().click();
  await page.waitForURL(/bike_share\.station_daily\.html#col-avg_minutes$/);
  check(await page.locator("#col-avg_minutes").isVisible() && await page.locator("#col-avg_minutes").evaluate((e) => e.matches(":target")),
    "the search hit opens station_daily at #col-avg_minutes (visible, the :target)");

  // Lineage upstream: station_daily.avg_minutes -> a column of rentals.
  const up = page.locator('tr:has(#col-avg_minutes) ul.upstream a[href*="bike_share.rentals.html#col-"]');
  check((await up.count()) > 0, "station_daily.avg_minutes lists upstream columns of rentals");
  const upHref = await up.first().getAttribute("href");
  await up.first().click();
  await page.waitForURL(/relations\/bike_share\.rentals\.html#col-[a-z_]+$/);
  const anchor = new URL(page.url()).hash.slice(1);
  check(upHref.endsWith("#" + anchor), `the lineage link navigates to rentals ${page.url()}`);
  check(await page.locator(`[id="${anchor}"]`).count() === 1, `rentals has the anchor #${anchor}`);
  const title = await page.locator("h1").first().textContent();
  check(title.startsWith("rentals"), `the page is rentals' ("${title.trim()}")`);

  // ... and back downstream to station_daily.avg_minutes.
  const down = page.locator(`tr:has([id="${anchor}"]) ul.downstream a[href$="bike_share.station_daily.html#col-avg_minutes"]`);
  check((await down.count()) === 1, `rentals.${anchor.slice(4)} lists station_daily.avg_minutes downstream`);
  await down.first().click();
  await page.waitForURL(/bike_share\.station_daily\.html#col-avg_minutes$/);
  check(true, "the downstream link navigates back to station_daily#col-avg_minutes");
  check(errors.length === 0, `no console errors while searching and navigating${errors.length ? ": " + errors.join("; ") : ""}`);

  await context.close();
  if (problems.length) {
    console.error(`docs browser test: ${problems.length} failed:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`docs browser test: ${pages.length} pages, all checks passed`);
}

main().catch((e) => {
  console.error(`docs browser test failed: ${e.stack || e}`);
  process.exit(1);
});
