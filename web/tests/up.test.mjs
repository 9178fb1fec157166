// `dashcdn up` and its live page in headless Chromium, end to end:
// 1. `dashcdn up` on addresses of its own (127.0.77.x, ports + 3000: 10080 is a port Chromium refuses) with a temp run dir and
//    the packaged content; the page it serves plays through the redirector's steered MPD;
// 2. the panel shows a real edge id and non-zero hits (read from the edges' own /metrics),
//    and dash.js's CMCD (this page's sid in the segment URLs) counted by the serving edge:
//    the CMCD panel shows its sessions and bitrate mix, and its CMSD-Dynamic arrives;
// 3. "kill" on the serving edge: playback continues from another edge, no stall over 2 s;
// 4. the throttle (400 kbit/s on every edge): dash.js renders a lower rung;
// 5. the page without `up`'s API (served by a static server, URLs in the query): no controls;
// 6. `up` stops on SIGTERM with exit 0 and every child is gone.
// Screenshots go to web/test-artifacts/; with DASHCDN_UPDATE_SCREENSHOT=1 the last one also
// replaces docs/up.png (the README's).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentDir, launchChromium, REPO_DIR, startServer, startUp, waitInPage, WEB_DIR } from './lib/harness.mjs';

const ARTIFACTS = join(WEB_DIR, 'test-artifacts');
const IP_BASE = '127.0.77';

/** Installs a stall monitor in the page: the longest time currentTime did not advance. */
function installStallMonitor() {
  const v = document.getElementById('video');
  const m = window.stallMon = { lastT: v.currentTime, last: performance.now(), max: 0 };
  setInterval(() => {
    const now = performance.now();
    if (v.currentTime > m.lastT) { m.lastT = v.currentTime; m.last = now; } else { m.max = Math.max(m.max, now - m.last); }
  }, 50);
  return true;
}

const mediaSegs = () => window.upPage.segments.filter((s) => s.type === 'media' && s.mediaType === 'video');

describe('dashcdn up: the live page', () => {
  let up, browser, page, runDir, pids = [];

  before(async () => {
    assert.ok(existsSync(join(contentDir(), 'default', 'manifest.mpd')), `no packaged default content at ${contentDir()}`);
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    mkdirSync(ARTIFACTS, { recursive: true });
    runDir = mkdtempSync(join(tmpdir(), 'dashcdn-up-'));
    up = await startUp(['--port-offset', '3000', '--ip-base', IP_BASE, '--run-dir', runDir, '--content', contentDir(), '--web', WEB_DIR]);
    const status = await (await fetch(new URL('/api/status', up.url))).json();
    pids = status.components.map((c) => c.pid);
    assert.equal(pids.length, 6, up.output());
    assert.ok(status.components.every((c) => c.state === 'running'), JSON.stringify(status.components));
    // Another viewer watched the first 20 s on edge-eu: the page's first segments are HITs.
    const eu = status.urls.edges.find((e) => e.id === 'edge-eu').url;
    const mpd = await (await fetch(`${eu}/default/manifest.mpd`)).text();
    for (const [, id] of mpd.matchAll(/<Representation id="(\w+)"/g)) {
      const urls = [`${eu}/default/${id}/init.${id.startsWith('a') ? 'm4a' : 'mp4'}`];
      for (let n = 1; n <= 10; n++) urls.push(`${eu}/default/${id}/${n}.m4s`);
      for (const u of urls) assert.equal((await fetch(u)).status, 200, u);
    }
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.goto(up.url);
  });

  after(async () => {
    await browser?.close();
    if (up && up.proc.exitCode === null) up.proc.kill('SIGKILL');
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  it('plays through the redirector, the panel shows the serving edge and its hits', async () => {
    await waitInPage(page, () => document.getElementById('video').currentTime > 6, null, { timeoutMs: 45000, what: 'currentTime > 6 s' });
    const serving = await waitInPage(page, () => {
      const s = window.upPage.serving;
      const e = s && window.upPage.edges[s];
      return e && e.hits > 0 && document.querySelector(`tr[data-edge="${s}"] td.HIT`)?.textContent !== '–' ? s : null;
    }, null, { timeoutMs: 20000, what: 'the serving edge with hits > 0 in the panel' });
    const state = await page.evaluate(() => ({ segs: window.upPage.segments.filter((s) => s.type === 'media'), errors: window.upPage.errors, local: window.upPage.local, controls: !document.querySelector('#throttle-low').closest('.controls-only').hidden }));
    assert.equal(serving, 'edge-eu', 'a browser on loopback is in the default location, eu');
    assert.ok(state.local && state.controls, 'local mode with controls');
    assert.deepEqual(state.errors, [], 'page or dash.js errors');
    assert.ok(state.segs.length > 3 && state.segs.every((s) => ['edge-eu', 'edge-us', 'edge-ap'].includes(s.edge)), `segments without a known X-Served-By: ${JSON.stringify(state.segs.slice(0, 3))}`);
    assert.ok(state.segs.every((s) => ['HIT', 'MISS', 'STALE', 'REVALIDATED'].includes(s.cache)), 'X-Cache on every segment');
    await waitInPage(page, () => window.upPage.decisions.length > 0 && document.querySelectorAll('#segments tr').length > 3, null, { timeoutMs: 10000, what: 'decisions and the segment list' });
    // dash.js sends CMCD (query mode, this page's sid) and the serving edge counts it: the
    // CMCD panel shows its sessions (from the edge's /metrics), and the edge's CMSD arrives.
    const sid = await page.evaluate(() => window.upPage.cmcd.sid);
    assert.ok(state.segs.some((s) => decodeURIComponent(s.url).includes(`sid="${sid}"`)), `no CMCD sid in ${state.segs[0]?.url}`);
    const cmcd = await waitInPage(page, (e) => {
      const c = window.upPage.cmcdPanel?.[e];
      const cell = document.querySelector(`tr[data-cmcd-edge="${e}"] td.sessions`);
      return c && c.sessions > 0 && c.requests > 0 && Number(cell?.textContent) > 0 ? { ...c, cmsd: document.getElementById('cmsd').textContent } : null;
    }, serving, { timeoutMs: 10000, what: `the CMCD panel with sessions > 0 on ${serving}` });
    console.log(`CMCD on ${serving}: ${JSON.stringify(cmcd)}`);
    assert.ok(cmcd.mix.length > 0, 'a bitrate mix');
    assert.notEqual(cmcd.cmsd, '–', 'the CMSD-Dynamic of the serving edge');
    await page.screenshot({ path: join(ARTIFACTS, 'up-playing.png') });
  });

  it('"kill" on the serving edge: playback moves to another edge without a stall over 2 s', async () => {
    const serving = await page.evaluate(() => window.upPage.serving);
    const nBefore = await page.evaluate(() => window.upPage.segments.length);
    await page.evaluate(installStallMonitor);
    const killedAt = await page.evaluate(() => document.getElementById('video').currentTime);
    await page.click(`#kill-${serving}`);
    await waitInPage(page, (t) => document.getElementById('video').currentTime > t + 12, killedAt, { timeoutMs: 45000, what: 'playback 12 s past the kill' });
    const after = await page.evaluate((n) => ({
      edges: window.upPage.segments.slice(n).filter((s) => s.type === 'media').map((s) => s.edge),
      stall: window.stallMon.max,
      events: window.upPage.events.map((e) => e.kind + ' ' + e.component),
    }), nBefore);
    const moved = after.edges.filter((e) => e && e !== serving);
    console.log(`kill ${serving} at t=${killedAt.toFixed(1)} s: ${moved.length} segments then from ${[...new Set(moved)]}; longest stall ${Math.round(after.stall)} ms`);
    assert.ok(moved.length > 3, `playback did not move off ${serving}: ${after.edges}`);
    assert.ok(after.stall < 2000, `stall of ${Math.round(after.stall)} ms`);
    assert.ok(after.events.includes(`killed ${serving}`), `the page shows the kill: ${after.events}`);
    const st = await (await fetch(new URL('/api/status', up.url))).json();
    assert.equal(st.components.find((c) => c.id === serving).state, 'killed', 'a killed edge stays down');
    await page.screenshot({ path: join(ARTIFACTS, 'up-after-kill.png') });
  });

  it('the throttle makes dash.js render a lower rung', async () => {
    const before = await page.evaluate(() => document.getElementById('video').videoHeight);
    await page.click('#throttle-low');
    const low = await waitInPage(page, (h) => { const v = document.getElementById('video'); return v.videoHeight > 0 && v.videoHeight < h ? v.videoHeight : null; }, before, { timeoutMs: 50000, what: `videoHeight below ${before}` });
    console.log(`throttle 400 kbit/s: videoHeight ${before} -> ${low}`);
    const status = await (await fetch(new URL('/api/status', up.url))).json();
    assert.equal(status.throttle_bits_per_sec, 400000);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(ARTIFACTS, 'up-throttled.png') });
    if (process.env.DASHCDN_UPDATE_SCREENSHOT) {
      mkdirSync(join(REPO_DIR, 'docs'), { recursive: true });
      copyFileSync(join(ARTIFACTS, 'up-throttled.png'), join(REPO_DIR, 'docs', 'up.png'));
    }
    await page.click('#throttle-off');
  });

  it('works without the control API: URLs from the query, edges from /debug/edges, no controls', async () => {
    const st = await (await fetch(new URL('/api/status', up.url))).json();
    const web = await startServer(['origin', '--content', WEB_DIR, '--listen', `${IP_BASE}.2:0`], { name: 'static page server' });
    try {
      const p2 = await browser.context.newPage();
      const q = new URLSearchParams({ redirector: st.urls.redirector, origin: st.urls.origin });
      await p2.goto(`${web.url}/up.html?${q}`);
      await waitInPage(p2, () => document.getElementById('video').currentTime > 3 && window.upPage.serving && Object.keys(window.upPage.edges).length >= 3, null,
        { timeoutMs: 30000, what: 'static-mode playback, and the edges listed from /debug/edges' });
      const s = await p2.evaluate(() => ({
        local: window.upPage.local, edges: Object.keys(window.upPage.edges).sort(), serving: window.upPage.serving,
        controlsHidden: [...document.querySelectorAll('.controls-only')].every((e) => e.hidden), buttons: document.querySelectorAll('#edges button').length,
      }));
      assert.equal(s.local, false);
      assert.deepEqual(s.edges, ['edge-ap', 'edge-eu', 'edge-us']);
      assert.ok(s.controlsHidden && s.buttons === 0, 'no controls without the API');
      assert.ok(['edge-us', 'edge-ap'].includes(s.serving), `served by a live edge: ${s.serving}`);
      await p2.screenshot({ path: join(ARTIFACTS, 'up-static.png') });
      await p2.close();
    } finally { web.stop(); }
  });

  it('SIGTERM stops up and every child, exit 0', async () => {
    const st = await (await fetch(new URL('/api/status', up.url))).json();
    pids.push(...st.components.map((c) => c.pid).filter(Boolean));
    up.proc.kill('SIGTERM');
    const { code } = await up.exited;
    assert.equal(code, 0, up.output());
    for (const pid of pids.filter(Boolean)) assert.ok(!existsSync(`/proc/${pid}`), `child ${pid} still running`);
  });
});
