// Opens a report in Debian's headless Chromium (playwright-core drives the system browser;
// scripts/test.sh installs both) and prints, as one JSON object, what a test checks:
// console errors, page errors, every request the page made besides the file itself, and,
// per <section>, the text of each SVG and the thickness of each Sankey band; it also takes
// a full-page screenshot.
//
//   node tools/report-check/check.mjs REPORT.html SCREENSHOT.png
import { chromium } from 'playwright-core';
import path from 'node:path';

const [report, screenshot] = process.argv.slice(2);
if (!report || !screenshot) {
  console.error('usage: node check.mjs REPORT.html SCREENSHOT.png');
  process.exit(2);
}
const url = 'file://' + path.resolve(report);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
const consoleErrors = [];
const pageErrors = [];
const requests = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('request', (r) => { if (r.url() !== url) requests.push(r.url()); });
await page.goto(url, { waitUntil: 'load' });
await page.screenshot({ path: screenshot, fullPage: true });
const sections = await page.evaluate(() =>
  [...document.querySelectorAll('section')].map((s) => ({
    id: s.id,
    charts: [...s.querySelectorAll('svg')].map((svg) => ({
      texts: [...svg.querySelectorAll('text')].map((t) => t.textContent.trim()),
      rects: svg.querySelectorAll('rect').length,
      // A band's thickness: at its left end, from the top edge's first point to the bottom
      // edge's last (the polygon runs along the top, then back along the bottom).
      bands: [...svg.querySelectorAll('polygon')].map((p) => {
        const pts = p.getAttribute('points').trim().split(/\s+/).map((xy) => xy.split(',').map(Number));
        return Math.abs(pts[pts.length - 1][1] - pts[0][1]);
      }),
    })),
  })),
);
const title = await page.title();
await browser.close();
console.log(JSON.stringify({ title, consoleErrors, pageErrors, requests, sections }));
