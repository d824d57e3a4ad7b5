// Opens committed notebooks in a running JupyterLab, untrusted, in headless Chromium and
// checks that every figure output is shown as an image. Called by
// scripts/check-notebooks-browser.sh, which starts JupyterLab (token in $JUPYTER_TOKEN).
//
//   node check_notebooks_browser.mjs <JupyterLab base URL> <screenshot dir> <notebook.ipynb>...
//
// A figure output is a display_data / execute_result whose data holds image/png,
// image/svg+xml, or text/html with an <svg. A notebook fails when
//   - the server marks none of its figure cells untrusted (then this check proves nothing),
//   - a rich output (anything but text and streams) is shown as anything but an image
//     that loaded (e.g. sanitized text/html: the <svg> stripped, its labels as loose text),
//   - the number of images shown in a cell's outputs differs from its figure outputs,
//   - the page logs a console error or throws,
//   - it does not render within the time limits.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";

const [base, shotArg, ...notebooks] = process.argv.slice(2);
const shotDir = resolve(shotArg);
const token = process.env.JUPYTER_TOKEN ?? "";
const RENDER_TIMEOUT_MS = Number(process.env.RENDER_TIMEOUT_MS ?? 90_000); // JupyterLab's first load builds nothing, but 2 cores are shared
const IMAGE_TIMEOUT_MS = 30_000;

const text = (v) => (Array.isArray(v) ? v.join("") : String(v ?? ""));
const isFigure = (out) => {
  if (out.output_type !== "display_data" && out.output_type !== "execute_result") return false;
  const data = out.data ?? {};
  return "image/png" in data || "image/svg+xml" in data || text(data["text/html"]).includes("<svg");
};

async function api(path) {
  const res = await fetch(`${base}${path}`, {
    headers: { Authorization: `token ${token}` },
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return res.json();
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let failed = 0;
let shownTotal = 0;
for (const [n, file] of notebooks.entries()) {
  const name = basename(file);
  const t0 = Date.now();
  const nb = JSON.parse(readFileSync(file, "utf8"));
  const expected = nb.cells.map((c) => (c.outputs ?? []).filter(isFigure).length);
  const figures = expected.reduce((a, b) => a + b, 0);
  const problems = [];

  // What JupyterLab gets from the server: the trust marks of the cells.
  const model = await api(`/api/contents/${encodeURIComponent(name)}?content=1&type=notebook`);
  const untrusted = model.content.cells.filter((c, i) => expected[i] > 0 && c.metadata?.trusted === false).length;
  const figureCells = expected.filter((e) => e > 0).length;
  if (figureCells > 0 && untrusted === 0) problems.push("the server marks every figure cell trusted: not the untrusted case");

  // A fresh context per notebook: its own cookies and a reset workspace of its own.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  const url = `${base}/lab/workspaces/nbcheck-${n}/tree/${encodeURIComponent(name)}?reset&token=${token}`;
  let report = null;
  try {
    await page.goto(url, { waitUntil: "load", timeout: RENDER_TIMEOUT_MS });
    // Rendered: the notebook shows all its cells, and every cell with outputs in the file shows
    // output areas.
    const withOutputs = nb.cells.map((c) => (c.outputs ?? []).length > 0);
    await page.waitForFunction(
      ({ cells, withOutputs }) => {
        const panel = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden)");
        if (!panel) return false;
        const dom = panel.querySelectorAll(".jp-Notebook .jp-Cell");
        if (dom.length !== cells) return false;
        return withOutputs.every((w, i) => !w || dom[i].querySelector(".jp-OutputArea-output"));
      },
      { cells: nb.cells.length, withOutputs },
      { timeout: RENDER_TIMEOUT_MS, polling: 250 },
    );
    // Images decoded (a broken one stays complete with naturalWidth 0: reported below).
    await page
      .waitForFunction(
        () => [...document.querySelectorAll(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output img")]
          .every((img) => img.complete),
        null,
        { timeout: IMAGE_TIMEOUT_MS, polling: 250 },
      )
      .catch(() => problems.push(`images still loading after ${IMAGE_TIMEOUT_MS / 1000} s`));
    report = await page.evaluate(() => {
      const panel = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden)");
      const textual = /^(text\/plain|application\/vnd\.jupyter\.std(out|err))$/;
      return [...panel.querySelectorAll(".jp-Notebook .jp-Cell")].map((cell) => {
        const outputs = [...cell.querySelectorAll(".jp-OutputArea-output")];
        const images = outputs.flatMap((o) => [...o.querySelectorAll("img")]);
        return {
          shown: images.filter((img) => img.complete && img.naturalWidth > 0).length,
          broken: images.filter((img) => !(img.complete && img.naturalWidth > 0)).length,
          // Rich outputs that are not an image: what JupyterLab made of them.
          notImages: outputs
            .filter((o) => !textual.test(o.dataset.mimeType ?? ""))
            .filter((o) => !((o.dataset.mimeType ?? "").startsWith("image/") && o.querySelector("img")))
            .map((o) => ({
              mime: o.dataset.mimeType ?? "(none)",
              text: o.textContent.replace(/\s+/g, " ").trim().slice(0, 80),
            })),
        };
      });
    });
    // A look by eye: the first figure output, as the reader sees it (past the kernel dialog
    // that JupyterLab shows when the evcxr kernel is not installed).
    const dialog = page.locator(".jp-Dialog button", { hasText: "No Kernel" });
    if ((await dialog.count()) > 0) await dialog.first().click({ timeout: 5_000 }).catch(() => {});
    const firstFigure = expected.findIndex((e) => e > 0);
    if (firstFigure >= 0) {
      await page
        .locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
        .nth(firstFigure)
        .locator(".jp-OutputArea")
        .scrollIntoViewIfNeeded({ timeout: 5_000 })
        .catch(() => {});
    }
    await page.screenshot({ path: join(shotDir, name.replace(/\.ipynb$/, ".png")) });
  } catch (e) {
    const state = await page
      .evaluate(() => ({
        panels: document.querySelectorAll(".jp-NotebookPanel").length,
        cells: document.querySelectorAll(".jp-NotebookPanel .jp-Cell").length,
        outputs: document.querySelectorAll(".jp-NotebookPanel .jp-OutputArea-output").length,
        dialog: document.querySelector(".jp-Dialog")?.innerText.replace(/\s+/g, " ").slice(0, 120) ?? "",
      }))
      .catch(() => ({}));
    problems.push(`did not render: ${e.message.split("\n")[0]} (page: ${JSON.stringify(state)})`);
    await page.screenshot({ path: join(shotDir, name.replace(/\.ipynb$/, ".timeout.png")) }).catch(() => {});
  }

  let shown = 0;
  if (report) {
    report.forEach((cell, i) => {
      shown += cell.shown;
      for (const o of cell.notImages) {
        problems.push(`cell ${i}: a ${o.mime} output is shown as text, not an image: "${o.text}"`);
      }
      if (cell.broken > 0) problems.push(`cell ${i}: ${cell.broken} broken images`);
      if (cell.shown !== expected[i]) {
        problems.push(`cell ${i}: ${cell.shown} images shown, ${expected[i]} figure outputs in the file`);
      }
    });
  }
  shownTotal += shown;
  if (figures === 0) problems.push("no figure outputs in the file");
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(
    `check-notebooks-browser: ${name}: ${figures} figure outputs (${untrusted}/${figureCells} cells untrusted), ` +
      `${shown} images shown, ${secs} s${problems.length ? ", PROBLEMS" : ", ok"}`,
  );
  for (const p of problems) console.log(`    ${p}`);
  if (problems.length) failed += 1;
  await context.close();
}
await browser.close();
if (failed > 0) {
  console.error(`check-notebooks-browser: FAIL: ${failed} of ${notebooks.length} notebooks do not show their figures untrusted`);
  process.exit(1);
}
console.log(`check-notebooks-browser: ${notebooks.length} notebooks show all ${shownTotal} figures as images, untrusted, no console errors`);
