// test.mjs: the demo page (static/) end to end in Debian's headless Chromium,
// driven by playwright-core (never a downloaded browser), against a live
// `camserve serve` started here on a free port with ../shared/models.
//
// Prints "ok - name" / "FAIL - name: why" / "skip - name: why" and ends with
// "N passed, N failed, N skipped" like the C suites (tests/check.h), so that
// tests/run.sh adds it up.  Screenshots: build/screenshots/{desktop,phone}.png
// (the 1280x800 and 375x740 viewports) and *-full.png (the whole page).
//
// Environment: CAMSERVE_BIN (build/camserve), CAMSERVE_SHARED (../shared),
// CHROMIUM (/usr/bin/chromium), BROWSER_TEST_VERBOSE=1 for the server's log.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const BIN = process.env.CAMSERVE_BIN || join(REPO, 'build', 'camserve');
const SHARED = resolve(REPO, process.env.CAMSERVE_SHARED || '../shared');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(REPO, 'build', 'screenshots');
const CAT = join(SHARED, 'images', 'cat.png');
const MODEL = 'mobilenetv2-imagenet';
const CAM_URL = (u) => /\/v1\/models\/[^/]+\/cam\?/.test(u.href);   // the page's /cam requests

let passed = 0, failed = 0, skipped = 0;
const summary = () => console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);

class Skip extends Error {}
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    if (e instanceof Skip) {
      skipped++;
      console.log(`skip - ${name}: ${e.message}`);
    } else {
      failed++;
      console.log(`FAIL - ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
    }
  }
}
function check(cond, ...msg) {
  if (!cond) throw new Error(msg.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join(' '));
}

/* ---- preconditions: what is missing is a skip with its reason ------------------------------ */

const missing = [];
if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} not found (tools/install-deps installs Debian's chromium)`);
if (!existsSync(BIN)) missing.push(`${BIN} not built (make)`);
if (!existsSync(CAT) || !existsSync(join(SHARED, 'models', MODEL))) missing.push(`${SHARED}/images/cat.png or models/${MODEL} not found`);
let chromium;
if (!missing.length) {
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    console.log(`FAIL - browser: playwright-core is not installed: (cd tests/browser && npm ci): ${e.message}`);
    failed++;
    summary();
    process.exit(1);
  }
}
if (missing.length) {
  for (const m of missing) console.log(`skip - browser: ${m}`);
  skipped++;
  summary();
  process.exit(0);
}

/* ---- the server ------------------------------------------------------------------------------- */

let server = null, serverLog = '';
function startServer() {
  return new Promise((resolveStart, rejectStart) => {
    const args = ['serve', '--models', join(SHARED, 'models'), '--static', join(REPO, 'static'),
      '--host', '127.0.0.1', '--port', '0', '--default-model', MODEL, '--drain-seconds', '2'];
    server = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => rejectStart(new Error(`no "listening" line within 20 s: ${serverLog}`)), 20000);
    const onData = (d) => {
      serverLog += d;
      if (process.env.BROWSER_TEST_VERBOSE) process.stderr.write(d);
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(serverLog);
      if (m) { clearTimeout(timer); resolveStart(Number(m[1])); }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => { clearTimeout(timer); rejectStart(new Error(`server exited ${code}: ${serverLog}`)); });
  });
}
async function waitReady(base) {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(base + 'readyz');
      if (r.ok) return;
    } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready within 20 s: ${serverLog}`);
}
function stopServer() {
  if (!server || server.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    server.removeAllListeners('exit');
    server.on('exit', () => r());
    server.kill('SIGTERM');
    setTimeout(() => { if (server.exitCode === null) server.kill('SIGKILL'); }, 5000);
  });
}
process.on('exit', () => { if (server && server.exitCode === null) server.kill('SIGKILL'); });

/* ---- the page ----------------------------------------------------------------------------------- */

const consoleErrors = [];   // console.error and uncaught exceptions, unless expected at the time
let expectErrors = null;    // a RegExp of console errors a test provokes on purpose
function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (expectErrors && expectErrors.test(m.text())) return;
    consoleErrors.push(`${label}: console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${label}: uncaught: ${e.message}`));
  page.on('response', (r) => {
    // every file of the page itself must load
    if (r.status() >= 400 && !/\/v1\//.test(r.url())) consoleErrors.push(`${label}: ${r.status()} for ${r.url()}`);
  });
}

const canvasData = (page) => page.$eval('#overlay', (c) => c.toDataURL());
const boxAttrs = (page) => page.$$eval('#boxes rect.box', (rs) => rs.map((r) => ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a)))));
const state = (page) => page.$eval('#result', (e) => e.dataset.state);

async function upload(page, file) {
  // The state left by the previous test may already be 'done' or 'error': mark it so the wait below
  // sees this upload's answer, not the last one's (the page only ever compares the state to 'error').
  await page.evaluate(() => { document.getElementById('result').dataset.state = 'test-pending'; });
  await page.setInputFiles('#image', file);
  await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('result').dataset.state)
    && document.getElementById('result').dataset.state !== 'busy', null, { timeout: 15000 });
}

// The server's own answer for the photo the page holds, with the given query, asked from the page.
function serverAnswer(page, query) {
  return page.evaluate(async ({ model, query }) => {
    const inp = window.camserveDemo.state.input;
    const r = await fetch(`v1/models/${model}/cam?${query}`, { method: 'POST', body: inp.blob, headers: { 'Content-Type': inp.type } });
    return r.json();
  }, { model: MODEL, query });
}

// max |page canvas - server overlay_png| over all channels, decoded in the page
function overlayDiff(page, b64) {
  return page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const cv = document.getElementById('overlay');
    if (bmp.width !== cv.width || bmp.height !== cv.height) return { size: [bmp.width, bmp.height, cv.width, cv.height] };
    const c = document.createElement('canvas');
    c.width = bmp.width; c.height = bmp.height;
    const x = c.getContext('2d', { willReadFrequently: true });
    x.drawImage(bmp, 0, 0);
    const a = x.getImageData(0, 0, c.width, c.height).data;
    const b = cv.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, cv.width, cv.height).data;
    let max = 0, off = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      if (d > max) max = d;
      if (d > 1) off++;
    }
    return { max, off, n: a.length };
  }, b64);
}

function sameBox(client, server, tol) {
  const s = [server.x0, server.y0, server.x1 - server.x0 + 1, server.y1 - server.y0 + 1];
  return client.length === 4 && client.every((v, i) => Math.abs(v - s[i]) <= tol);
}

/* ---- the run ------------------------------------------------------------------------------------ */

const t0 = Date.now();
mkdirSync(SHOTS, { recursive: true });
let browser, base, desk;
try {
  const port = await startServer();
  base = `http://127.0.0.1:${port}/`;
  await waitReady(base);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  desk = await ctx.newPage();
  watch(desk, 'desktop');
} catch (e) {
  console.log(`FAIL - setup: ${e.message}`);
  failed++;
  await stopServer();
  if (browser) await browser.close();
  summary();
  process.exit(1);
}

await test('page loads, model list filled with the default selected', async () => {
  await desk.goto(base);
  await desk.waitForFunction(() => !document.getElementById('model').disabled);
  const models = await desk.$$eval('#model option', (os) => os.map((o) => o.value));
  check(models.includes(MODEL) && models.length >= 2, 'models:', models);
  check(await desk.$eval('#model', (s) => s.value) === MODEL, 'default preselected');
  check(await state(desk) === 'idle', 'state idle:', await state(desk));
  check(await desk.isVisible('#dropzone'), 'drop zone shown');
  check(await desk.isHidden('#error'), 'no error');
});

await test('every control has a label', async () => {
  const unlabelled = await desk.$$eval('input, select, button, textarea', (es) => es.filter((e) => {
    const name = (e.labels && Array.from(e.labels).map((l) => l.textContent.trim()).join('')) ||
      e.getAttribute('aria-label') ||
      (e.getAttribute('aria-labelledby') || '').split(/\s+/).map((id) => (document.getElementById(id) || {}).textContent || '').join('').trim() ||
      (e.tagName === 'BUTTON' ? e.textContent.trim() : '');
    return !name;
  }).map((e) => e.outerHTML.slice(0, 80)));
  check(unlabelled.length === 0, 'unlabelled:', unlabelled);
});

await test('colormap tables are the server\'s (core/colormap_data.c)', async () => {
  const src = readFileSync(join(REPO, 'core', 'colormap_data.c'), 'utf8');
  const page = await desk.evaluate(() => Object.fromEntries(Object.entries(window.camserveDemo.luts).map(([k, v]) => [k, Array.from(v)])));
  const re = /cam__cmap_(\w+)\[256 \* 3\] = \{([^}]*)\}/g;
  let n = 0;
  for (let m; (m = re.exec(src));) {
    const want = m[2].match(/\d+/g).map(Number);
    check(want.length === 768, m[1], 'has', want.length, 'values');
    check(page[m[1]] && page[m[1]].length === 768 && page[m[1]].every((v, i) => v === want[i]), 'table differs:', m[1]);
    n++;
  }
  check(n === 5 && Object.keys(page).length === 5, 'five tables, page has', Object.keys(page));
});

await test('cat.png: Egyptian cat first, a box, the overlay visible', async () => {
  await upload(desk, CAT);
  check(await state(desk) === 'done', 'state', await state(desk), await desk.textContent('#error'));
  const preds = await desk.$$eval('#predictions li', (ls) => ls.map((l) => l.textContent));
  check(preds.length === 5, 'five predictions:', preds);
  check(/Egyptian cat/.test(preds[0]) && /\d+\.\d %/.test(preds[0]), 'first:', preds[0]);
  check(await desk.$$eval('.box', (b) => b.length) >= 1, 'at least one .box');
  check(await desk.isVisible('#overlay'), '#overlay visible');
  const bb = await desk.locator('#overlay').boundingBox();
  check(bb.width > 300 && Math.abs(bb.width / bb.height - 512 / 341) < 0.02, 'aspect ratio of the photo:', bb);
  const sb = await desk.locator('#boxes').boundingBox();
  check(Math.abs(sb.x - bb.x) < 1 && Math.abs(sb.width - bb.width) < 1 && Math.abs(sb.height - bb.height) < 1, 'boxes layer covers the image', sb, bb);
  check(await desk.$eval('#predictions li:first-child .pred', (b) => b.getAttribute('aria-pressed')) === 'true', 'first shown');
  check(/^[A-Za-z0-9._:-]{8,64}$/.test(await desk.textContent('#request-id')), 'request id:', await desk.textContent('#request-id'));
  const timings = await desk.textContent('#timings');
  for (const s of ['Decode', 'Forward pass', 'Server total', 'ms']) check(timings.includes(s), 'timings lack', s, timings);
  await desk.screenshot({ path: join(SHOTS, 'desktop.png') });
  await desk.screenshot({ path: join(SHOTS, 'desktop-full.png'), fullPage: true });
});

await test('the page draws what the server draws: overlay pixels and box', async () => {
  const j = await serverAnswer(desk, 'class=286&threshold=0.2&alpha=0.5&colormap=jet');
  const d = await overlayDiff(desk, j.cams[0].overlay_png);
  check(!d.size && d.max <= 2 && d.off <= d.n / 1000, 'overlay differs from the server\'s:', d);
  const boxes = await boxAttrs(desk);
  check(boxes.length === 1 && sameBox(boxes[0], j.cams[0].boxes[0], 2), 'box', boxes, 'server', j.cams[0].boxes);
});

let second = null;
await test('choosing the second prediction changes the map', async () => {
  const before = await canvasData(desk);
  second = await desk.$eval('#predictions li:nth-child(2) .pred', (b) => Number(b.dataset.index));
  await desk.click('#predictions li:nth-child(2)');
  await desk.waitForFunction((i) => document.getElementById('overlay').dataset.class === String(i), second);
  check(await canvasData(desk) !== before, 'canvas unchanged');
  check(await desk.$eval('#predictions li:nth-child(2) .pred', (b) => b.getAttribute('aria-pressed')) === 'true', 'second marked shown');
  check(await desk.$eval('#predictions li:nth-child(1) .pred', (b) => b.getAttribute('aria-pressed')) === 'false', 'first no longer');
  check(/tabby/.test(await desk.textContent('#shown-title')), 'heading:', await desk.textContent('#shown-title'));
});

await test('moving the threshold changes the boxes, as the server would draw them', async () => {
  const before = await boxAttrs(desk);
  await desk.focus('#threshold');
  for (let i = 0; i < 30; i++) await desk.keyboard.press('ArrowRight');   // 0.20 -> 0.50
  check(await desk.textContent('#threshold-out') === '0.50', 'output', await desk.textContent('#threshold-out'));
  // The page redraws after the key presses settle, and may first draw an intermediate threshold:
  // wait until its one box is the server's box at 0.50 (or time out and report what it shows).
  const j = await serverAnswer(desk, `class=${second}&threshold=0.5&overlay=false`);
  const sb = j.cams[0].boxes[0];
  const want = [sb.x0, sb.y0, sb.x1 - sb.x0 + 1, sb.y1 - sb.y0 + 1];
  await desk.waitForFunction((w) => {
    const got = Array.from(document.querySelectorAll('#boxes rect.box'))
      .map((r) => ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a))));
    return got.length === 1 && got[0].every((v, i) => Math.abs(v - w[i]) <= 2);
  }, want, { timeout: 10000 }).catch(() => {});
  const after = await boxAttrs(desk);
  check(after.length >= 1, 'a box at 0.5');
  const area = (b) => b[2] * b[3];
  check(area(after[0]) < area(before[0]), 'a higher threshold gives a smaller box', before, after);
  check(sameBox(after[0], sb, 2), 'box', after, 'server', j.cams[0].boxes);
  const ja = await serverAnswer(desk, `class=${second}&threshold=0.5&boxes=all&overlay=false`);
  await desk.selectOption('#boxes-mode', 'all');
  // the page redraws asynchronously: wait for it (a loaded machine can take long), then compare
  await desk.waitForFunction((n) => document.querySelectorAll('#boxes rect.box').length === n,
    ja.cams[0].boxes.length, { timeout: 5000 }).catch(() => {});
  const all = await boxAttrs(desk);
  check(all.length === ja.cams[0].boxes.length, 'boxes=all', all, ja.cams[0].boxes);
  await desk.selectOption('#boxes-mode', 'largest');
});

await test('opacity, colormap and the three views change the picture', async () => {
  const seen = new Set([await canvasData(desk)]);
  // each step must change the picture; poll for it (up to 5 s) instead of a fixed wait
  const step = async (what, fn) => {
    await fn();
    let d;
    for (const t0 = Date.now(); ; await desk.waitForTimeout(25)) {
      d = await canvasData(desk);
      if (!seen.has(d) || Date.now() - t0 > 5000) break;
    }
    check(!seen.has(d), what, 'did not change the picture');
    seen.add(d);
  };
  await step('alpha', () => desk.fill('#alpha', '0.8'));
  await step('colormap', () => desk.selectOption('#colormap', 'viridis'));
  await step('heatmap view', () => desk.click('label[for=view-heatmap]'));
  await step('photo view', () => desk.click('label[for=view-original]'));
  await desk.click('label[for=view-overlay]');
  await desk.waitForFunction(() => document.querySelector('#overlay').dataset.view === 'overlay', null,
    { timeout: 5000 }).catch(() => {});
  check(await desk.$eval('#overlay', (c) => c.dataset.view) === 'overlay', 'back to the overlay');
  check(await desk.$$eval('.box', (b) => b.length) >= 1, 'boxes stay');
});

await test('downloads: the overlay PNG and the JSON of what is shown', async () => {
  const [png] = await Promise.all([desk.waitForEvent('download'), desk.click('#download-png')]);
  const pngPath = join(SHOTS, 'download-overlay.png');
  await png.saveAs(pngPath);
  const head = readFileSync(pngPath).subarray(0, 8);
  check(head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'PNG signature');
  check(/\.png$/.test(png.suggestedFilename()), png.suggestedFilename());
  const [json] = await Promise.all([desk.waitForEvent('download'), desk.click('#download-json')]);
  const jsonPath = join(SHOTS, 'download.json');
  await json.saveAs(jsonPath);
  const j = JSON.parse(readFileSync(jsonPath, 'utf8'));
  check(j.cams[0].index === second, 'class', j.cams[0].index, second);
  check(j.params.threshold === 0.5 && j.params.colormap === 'viridis' && j.params.alpha === 0.8, 'params', j.params);
  check(j.predictions[0].label === 'Egyptian cat', 'predictions');
  const d = await overlayDiff(desk, j.cams[0].overlay_png);
  check(!d.size && d.max <= 2, 'downloaded overlay is the one shown:', d);
  // a class switch may still be answering on a loaded machine: wait for the page to settle
  await desk.waitForFunction(() => document.getElementById('result').dataset.state !== 'busy', null,
    { timeout: 15000 }).catch(() => {});
  check(await state(desk) === 'done', 'state', await state(desk));
});

await test('keyboard only: Tab reaches the photo, the model, the predictions; Enter picks one', async () => {
  await desk.click('#predictions li:first-child');
  await desk.evaluate(() => document.activeElement && document.activeElement.blur());
  await desk.click('.tagline');        // Tab starts from the top of the page
  const reached = new Set();
  for (let i = 0; i < 40 && !reached.has('pred-3'); i++) {
    await desk.keyboard.press('Tab');
    const id = await desk.evaluate(() => {
      const a = document.activeElement;
      if (a.classList.contains('pred')) return `pred-${Array.from(a.closest('ol').children).indexOf(a.closest('li')) + 1}`;
      return a.id || a.tagName;
    });
    reached.add(id);
  }
  for (const id of ['image', 'model', 'pred-1', 'pred-3']) check(reached.has(id), 'Tab never reached', id, [...reached]);
  const third = await desk.$eval('#predictions li:nth-child(3) .pred', (b) => b.dataset.index);
  await desk.keyboard.press('Enter');
  await desk.waitForFunction((i) => document.getElementById('overlay').dataset.class === i, third);
  const visible = await desk.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  check(visible !== 'none', 'focus is visible on the prediction');
});

await test('another model: the same photo explained again', async () => {
  const id = await desk.textContent('#request-id');
  await desk.selectOption('#model', 'tv-resnet18');
  await desk.waitForFunction((id) => document.getElementById('result').dataset.state === 'done' &&
    document.getElementById('request-id').textContent !== id, id, { timeout: 15000 });
  check((await desk.$$eval('#predictions li', (l) => l.length)) === 5, 'predictions');
  check(/tv-resnet18/.test(await desk.textContent('#shown-sub')), await desk.textContent('#shown-sub'));
  await desk.selectOption('#model', MODEL);
  await desk.waitForFunction((id) => document.getElementById('result').dataset.state === 'done', null, { timeout: 15000 });
});

await test('a busy state while the server works', async () => {
  let release;
  const gate = new Promise((r) => { release = r; });
  await desk.route(CAM_URL, async (route) => { await gate; await route.continue(); });
  await desk.setInputFiles('#image', CAT);
  await desk.waitForFunction(() => document.getElementById('result').dataset.state === 'busy');
  check(await desk.isVisible('.busy'), 'busy indicator visible');
  check(await desk.$eval('#result', (e) => e.getAttribute('aria-busy')) === 'true', 'aria-busy');
  release();
  await desk.waitForFunction(() => document.getElementById('result').dataset.state === 'done');
  await desk.unroute(CAM_URL);
});

await test('a text file: #error says so, state error', async () => {
  await desk.setInputFiles('#image', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo\n') });
  await desk.waitForFunction(() => document.getElementById('result').dataset.state === 'error');
  check(await desk.isVisible('#error'), '#error visible');
  const text = await desk.textContent('#error');
  check(/not an image/.test(text) && /notes\.txt/.test(text), text);
  check(await desk.isHidden('#retry'), 'no retry for a bad file');
  check(await desk.isHidden('#figure'), 'old result hidden');
});

await test('a file over the limit is refused before upload', async () => {
  let posted = 0;
  const onReq = (r) => { if (r.method() === 'POST') posted++; };
  desk.on('request', onReq);
  const dir = mkdtempSync(join(tmpdir(), 'camserve-browser-'));
  const big = join(dir, 'huge.png');   // a PNG signature, then zeros: 16 MB + 1 byte (sparse)
  writeFileSync(big, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  truncateSync(big, 16 * 1048576 + 1);
  await desk.setInputFiles('#image', big);
  rmSync(dir, { recursive: true, force: true });
  await desk.waitForFunction(() => /too large/.test(document.getElementById('error').textContent));
  desk.off('request', onReq);
  check(await state(desk) === 'error', 'state');
  check(/16 MB/.test(await desk.textContent('#error')), await desk.textContent('#error'));
  check(posted === 0, 'nothing uploaded');
});

await test('503 overloaded: said so, with a retry that works', async () => {
  expectErrors = /Failed to load resource.*503/;
  await desk.route(CAM_URL, (route) => route.fulfill({
    status: 503, contentType: 'application/json', headers: { 'Retry-After': '1' },
    body: '{"error":{"code":"OVERLOADED","message":"the queue is full"}}',
  }));
  await upload(desk, CAT);
  check(await state(desk) === 'error', 'state');
  const text = await desk.textContent('#error');
  check(/overloaded/i.test(text) && /503/.test(text), text);
  check(await desk.isVisible('#retry'), 'retry offered');
  await desk.unroute(CAM_URL);
  expectErrors = null;
  await desk.click('#retry');
  await desk.waitForFunction(() => document.getElementById('result').dataset.state === 'done');
  check(await desk.isHidden('#error'), 'error gone after the retry');
});

await test('network failure: said so, with a retry that works', async () => {
  expectErrors = /Failed to load resource.*ERR_FAILED|ERR_FAILED/;
  await desk.route(CAM_URL, (route) => route.abort('failed'));
  await upload(desk, CAT);
  check(await state(desk) === 'error', 'state');
  check(/Could not reach/.test(await desk.textContent('#error')), await desk.textContent('#error'));
  check(await desk.isVisible('#retry'), 'retry offered');
  await desk.unroute(CAM_URL);
  expectErrors = null;
  await desk.focus('#retry');          // the retry button works from the keyboard
  await desk.keyboard.press('Enter');
  await desk.waitForFunction(() => document.getElementById('result').dataset.state === 'done');
});

await test('phone, 375 px: no sideways scrolling, the overlay fits', async () => {
  const ctx = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const phone = await ctx.newPage();
  watch(phone, 'phone');
  await phone.goto(base);
  await phone.waitForFunction(() => !document.getElementById('model').disabled);
  await upload(phone, CAT);
  check(await state(phone) === 'done', 'state');
  const sw = await phone.evaluate(() => document.documentElement.scrollWidth);
  check(sw <= 375, 'page is', sw, 'px wide');
  const bb = await phone.locator('#overlay').boundingBox();
  check(bb.x >= 0 && bb.x + bb.width <= 375 && bb.width > 250, 'overlay', bb);
  check(await phone.$$eval('.box', (b) => b.length) >= 1, 'a box');
  // the answer is scrolled into view (one column: the photo card comes first)
  await phone.waitForFunction(() => new Promise((r) => {
    const y = scrollY;
    setTimeout(() => r(y > 0 && scrollY === y), 150);
  }));
  const vb = await phone.locator('#overlay').boundingBox();   // relative to the viewport
  check(vb.y >= 0 && vb.y + vb.height <= 740, 'overlay in view after the answer', vb);
  await phone.screenshot({ path: join(SHOTS, 'phone.png') });
  await phone.screenshot({ path: join(SHOTS, 'phone-full.png'), fullPage: true });
  await ctx.close();
});

await test('no console errors, every page file loads', async () => {
  check(consoleErrors.length === 0, consoleErrors);
});

await test('screenshots saved', async () => {
  for (const f of ['desktop.png', 'phone.png']) {
    const p = join(SHOTS, f);
    check(existsSync(p) && statSync(p).size > 10000, p);
  }
  console.log(`# screenshots: ${join(SHOTS, 'desktop.png')} ${join(SHOTS, 'phone.png')} (and *-full.png)`);
});

await browser.close();
await stopServer();
console.log(`# browser test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
summary();
process.exit(failed ? 1 : 0);
