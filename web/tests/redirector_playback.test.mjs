// dash.js 5 in headless Chromium through `dashcdn redirector`:
// 1. the MPD URL is the redirector's: 302 to the nearest edge, then segments straight from it;
// 2. DASH-IF content steering: the steered MPD lists one BaseURL per edge; killing the serving
//    edge mid-playback moves playback to the other edge, with no stall longer than 2 s.
// Processes: media origin 127.0.0.1, page 127.0.0.2, edges 127.0.0.3 / 127.0.0.4,
// redirector 127.0.0.5. The browser is on loopback (no coverage zone): default location.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentDir, installStallMonitor, launchChromium, startServer, waitInPage, WEB_DIR } from './lib/harness.mjs';

const MPD = 'default/manifest.mpd';

function topology(e1, e2) {
  return `
default_location = "paris"
slack_km = 10

[health]
interval_ms = 250
timeout_ms = 250
fall = 2
rise = 2

[steering]
ttl = 1

[[edges]]
id = "e1"
url = "${e1}"
address = "127.0.0.3"
lat = 48.86
lon = 2.35

[[edges]]
id = "e2"
url = "${e2}"
address = "127.0.0.4"
lat = 50.11
lon = 8.68

[[locations]]
name = "paris"
lat = 48.85
lon = 2.35
networks = ["192.0.2.0/24"]
`;
}

describe('dash.js through the redirector', () => {
  let media, e1, e2, web, redirector, browser, dir;

  before(async () => {
    assert.ok(existsSync(join(contentDir(), MPD)), `no packaged default content at ${contentDir()}: run \`dashcdn package\` first`);
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    media = await startServer(['origin', '--content', contentDir(), '--listen', '127.0.0.1:0'], { name: 'media origin' });
    e1 = await startServer(['edge', '--upstream', media.url, '--listen', '127.0.0.3:0', '--id', 'e1'], { name: 'edge e1' });
    e2 = await startServer(['edge', '--upstream', media.url, '--listen', '127.0.0.4:0', '--id', 'e2'], { name: 'edge e2' });
    web = await startServer(['origin', '--content', WEB_DIR, '--listen', '127.0.0.2:0'], { name: 'page server' });
    dir = mkdtempSync(join(tmpdir(), 'dashcdn-redirector-'));
    const topo = join(dir, 'topology.toml');
    writeFileSync(topo, topology(e1.url, e2.url));
    redirector = await startServer(['redirector', '--topology', topo, '--http', '127.0.0.5:0'], { name: 'redirector' });
    // Wait until health has seen both edges.
    for (let i = 0; i < 40; i++) {
      const d = await (await fetch(`${redirector.url}/debug/route?client=192.0.2.1&path=/x`)).json();
      if (d.health.every((h) => h.state === 'up')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    for (const p of [redirector, e1, e2, media, web]) p?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('plays from the redirector URL: the MPD is redirected once, segments come from the edge', async () => {
    const page = await browser.context.newPage();
    const redirects = [];
    page.on('response', (res) => { if (res.status() === 302) redirects.push(res.url()); });
    const mpdUrl = `${redirector.url}/${MPD}`;
    await page.goto(`${web.url}/index.html?mpd=${encodeURIComponent(mpdUrl)}`);
    await waitInPage(page, () => document.getElementById('video').currentTime > 10, null, { timeoutMs: 60000, what: 'currentTime > 10 s' });
    const state = await page.evaluate(() => ({ errors: window.playback.errors, width: document.getElementById('video').videoWidth, urls: window.playback.segmentUrls }));
    assert.deepEqual(state.errors, [], 'dash.js reported errors');
    assert.ok(state.width > 0, 'no video decoded');
    const segs = state.urls.filter((u) => u.endsWith('.m4s'));
    assert.ok(segs.length > 3 && segs.every((u) => u.startsWith(e1.url)), `segments not straight from the nearest edge ${e1.url}: ${segs.slice(0, 3)}`);
    assert.deepEqual(redirects, [mpdUrl], 'exactly the MPD is redirected');
    await page.close();
  });

  it('content steering moves playback to another edge when the serving edge dies', async () => {
    const page = await browser.context.newPage();
    const mpdUrl = `${redirector.url}/steered/${MPD}`;
    const steers = [];
    page.on('response', (res) => { if (res.url().startsWith(`${redirector.url}/steer?`)) steers.push(res.status()); });
    await page.goto(`${web.url}/index.html?mpd=${encodeURIComponent(mpdUrl)}`);
    await waitInPage(page, () => document.getElementById('video').currentTime > 6, null, { timeoutMs: 60000, what: 'currentTime > 6 s' });
    const before = await page.evaluate(() => window.playback.segmentUrls.filter((u) => u.endsWith('.m4s')));
    const last = before[before.length - 1];
    assert.ok(last.startsWith(e1.url), `steering should start on e1 (${e1.url}), got ${last}`);
    await page.evaluate(installStallMonitor);
    const killedAt = await page.evaluate(() => document.getElementById('video').currentTime);
    const nBefore = before.length;
    e1.stop();
    // Playback continues well past the kill, with segments from e2.
    await waitInPage(page, (t) => document.getElementById('video').currentTime > t + 15, killedAt, { timeoutMs: 60000, what: 'playback 15 s past the kill' });
    const after = await page.evaluate(() => ({ urls: window.playback.segmentUrls.filter((u) => u.endsWith('.m4s')), stall: window.stallMon.max, errors: window.playback.errors }));
    const moved = after.urls.slice(nBefore).filter((u) => u.startsWith(e2.url));
    console.log(`content steering: killed e1 at t=${killedAt.toFixed(1)} s; ${moved.length} segments then came from e2; longest stall ${Math.round(after.stall)} ms; ${steers.length} steering requests`);
    assert.ok(moved.length > 3, 'playback did not move to e2');
    assert.ok(steers.length >= 3 && steers.every((s) => s === 200), `dash.js did not poll the steering server: ${steers}`);
    assert.ok(after.stall < 2000, `stall of ${Math.round(after.stall)} ms`);
    await page.close();
  });
});
