// Opens every page of the built book in headless Chromium with the network
// cut off, and fails when a page cannot load a resource (CSS, KaTeX fonts,
// scripts, figures), logs a console error, throws, has a broken image, or shows
// formulas whose KaTeX fonts are not in use. Called by scripts/check-browser.sh.
//
//   node check_browser.mjs <book dir> <screenshot dir>
import { chromium } from "playwright-core";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";

const [bookDir, shotDir] = process.argv.slice(2).map((p) => resolve(p));
const pages = readdirSync(bookDir)
  .filter((f) => f.endsWith(".html") && !["print.html", "404.html", "toc.html"].includes(f))
  .sort();

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ offline: true, viewport: { width: 1200, height: 900 } });
let failures = 0;
for (const file of pages) {
  const page = await context.newPage();
  const problems = [];
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  await page.goto("file://" + join(bookDir, file), { waitUntil: "load" });
  await page.evaluate(() => document.fonts.ready);
  await page.waitForTimeout(300);
  const report = await page.evaluate(() => {
    const katex = [...document.querySelectorAll(".katex")];
    const errors = document.querySelectorAll(".katex-error").length;
    const brokenImages = [...document.images]
      .filter((img) => !(img.complete && img.naturalWidth > 0))
      .map((img) => img.getAttribute("src"));
    // A formula rendered with KaTeX's own fonts: the computed font of a math
    // glyph names KaTeX, and the browser holds that font as loaded.
    const glyph = document.querySelector(".katex .mord, .katex .mathnormal");
    const family = glyph ? getComputedStyle(glyph).fontFamily : "";
    const loaded = [...document.fonts].filter((f) => f.status === "loaded").map((f) => f.family);
    const mainText = document.querySelector("main")?.innerText.length ?? 0;
    return { formulas: katex.length, errors, brokenImages, family, loaded, mainText };
  });
  if (report.errors > 0) problems.push(`${report.errors} KaTeX error boxes`);
  if (report.brokenImages.length > 0) problems.push(`broken images: ${report.brokenImages.join(", ")}`);
  if (report.mainText < 200) problems.push(`almost no text in <main> (${report.mainText} characters)`);
  if (report.formulas > 0) {
    if (!/KaTeX/.test(report.family)) problems.push(`math glyphs use font "${report.family}", not KaTeX's`);
    if (!report.loaded.some((f) => /KaTeX/.test(f))) problems.push("no KaTeX font was loaded");
  }
  if (file === "numerical_example.html" || file === "forward_sde.html") {
    await page.screenshot({ path: join(shotDir, file.replace(".html", ".png")), fullPage: false });
  }
  const images = await page.evaluate(() => document.images.length);
  console.log(`check-browser: ${file}: ${report.formulas} formulas, ${images} images${problems.length ? ", PROBLEMS" : ", ok"}`);
  for (const p of problems) console.log(`    ${p}`);
  failures += problems.length;
  await page.close();
}
await browser.close();
if (failures > 0) {
  console.error(`check-browser: FAIL: ${failures} problems`);
  process.exit(1);
}
console.log(`check-browser: ${pages.length} pages rendered offline with KaTeX fonts, no failed loads or errors`);
