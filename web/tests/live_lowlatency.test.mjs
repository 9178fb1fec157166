// Low-latency live end to end (issue 14): `dashcdn live` (ffmpeg, real time, the capture
// time burned into the picture) pushes chunked CMAF into `dashcdn origin --ingest`; the
// origin relays each segment to its readers as it is uploaded; dash.js 5 in low-latency
// mode (web/live.html: the MPD's availabilityTimeComplete="false" and ServiceDescription,
// live catch-up on) plays it THROUGH the redirector and a dashcdn edge for PLAY_S seconds:
// the MPD URL is the redirector's (127.0.0.5, 302 to the edge), then
// origin (127.0.0.1) → edge (127.0.0.3) → page on 127.0.0.2.
// Checked: no stall, no error; dash.js's own live latency under 3 s at every presented
// frame; and the clock read from every presented frame's pixels (a binary strip of the ms
// since midnight UTC) agrees with the page's clock (synced with the origin's /live/time,
// as dash.js's) minus dash.js's latency within a frame interval (40 ms at 25 fps), median.
// PLAY_S is 60 (LL_PLAY_S overrides it, e.g. 30 on a slow CI); LL_CATCHUP=lolp plays with
// dash.js's LoL+ catch-up and ABR instead of the default catch-up.
const CATCHUP = process.env.LL_CATCHUP === 'lolp' ? 'lolp' : 'default';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dashcdnBin, launchChromium, startRedirector, startServer, waitInPage, WEB_DIR } from './lib/harness.mjs';

const PLAY_S = Number(process.env.LL_PLAY_S || 60);
const FRAME_MS = 40;
const TOKEN = `lowlatency-${process.pid}-0123456789abcdef`;

function pct(values, p) {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.round((v.length - 1) * p)];
}

describe('dash.js low-latency mode plays `dashcdn live` through the redirector and an edge', { timeout: (PLAY_S + 120) * 1000 }, () => {
  let dir, media, edge, web, browser, live, redirector;
  let liveLog = '';

  before(async () => {
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    dir = mkdtempSync(join(tmpdir(), 'dashcdn-lowlatency-'));
    const content = join(dir, 'content');
    mkdirSync(content);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, TOKEN);
    media = await startServer(['origin', '--content', content, '--listen', '127.0.0.1:0', '--ingest-token-file', tokenFile], { name: 'ingest origin' });
    edge = await startServer(['edge', '--upstream', media.url, '--listen', '127.0.0.3:0', '--id', 'edge-lowlatency', '--mem', '256MiB'], { name: 'edge' });
    web = await startServer(['origin', '--content', WEB_DIR, '--listen', '127.0.0.2:0'], { name: 'page server' });
    redirector = await startRedirector([{ id: 'edge-lowlatency', url: edge.url }]);
    // Bounded: it stops by itself after PLAY_S + 90 s, and is killed in after().
    live = spawn(dashcdnBin(), ['live', '--origin', media.url, '--token-file', tokenFile, '--duration', String(PLAY_S + 90)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    live.stdout.on('data', (c) => { liveLog += c.toString(); });
    live.stderr.on('data', (c) => { liveLog += c.toString(); });
    process.on('exit', () => live.kill('SIGKILL'));
    browser = await launchChromium();
  });

  after(async () => {
    live?.kill('SIGTERM');
    redirector?.stop();
    await browser?.close();
    edge?.stop();
    media?.stop();
    web?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`plays ${PLAY_S} s with no stall, latency under 3 s, the picture's clock within a frame`, async () => {
    const mpdUrl = `${redirector.url}/ingest/live/manifest.mpd`;
    const deadline = Date.now() + 30000;
    for (;;) {
      const r = await fetch(mpdUrl);
      if (r.ok) {
        const text = await r.text();
        assert.match(text, /availabilityTimeComplete="false"/);
        assert.match(text, /<Latency min="500" max="3000" target="1500"/);
        break;
      }
      assert.ok(Date.now() < deadline, `no MPD after 30 s; dashcdn live: ${liveLog}`);
      await new Promise((res) => setTimeout(res, 250));
    }
    // Two segments exist before the player joins.
    await new Promise((res) => setTimeout(res, 4000));

    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${web.url}/live.html?catchup=${CATCHUP}&mpd=${encodeURIComponent(mpdUrl)}`);
    await waitInPage(page, () => window.ll.ready && window.ll.samples.length > 10, null, { timeoutMs: 30000, what: 'live playback with clock samples' });
    const from = await page.evaluate(() => window.ll.samples.length);
    await new Promise((res) => setTimeout(res, PLAY_S * 1000));
    const state = await page.evaluate(() => ({
      ll: { ...window.ll, samples: undefined },
      samples: window.ll.samples,
      rate: document.getElementById('video').playbackRate,
      frames: document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames,
      height: document.getElementById('video').videoHeight,
    }));
    const s = state.samples.slice(from);
    const lat = s.map((x) => x.latency);
    const diff = s.map((x) => x.diff);
    const glass = s.map((x) => x.glass);
    const placed = s.map((x) => x.placedDiff);
    const f = (v) => v.toFixed(3);
    console.log(`low-latency live via edge (${CATCHUP} catch-up), ${PLAY_S} s, ${s.length} frames sampled (${state.height}p): ` +
      `dash.js latency p50 ${f(pct(lat, 0.5))} s p95 ${f(pct(lat, 0.95))} s max ${f(Math.max(...lat))} s; ` +
      `glass-to-glass p50 ${f(pct(glass, 0.5) / 1000)} s p95 ${f(pct(glass, 0.95) / 1000)} s; ` +
      `picture clock − (page clock − latency) p5 ${pct(diff, 0.05).toFixed(0)} ms p50 ${pct(diff, 0.5).toFixed(0)} ms p95 ${pct(diff, 0.95).toFixed(0)} ms; ` +
      `picture clock − (availabilityStartTime + presentation time) p50 ${pct(placed, 0.5).toFixed(0)} ms; ` +
      `clock offset ${state.ll.offsetMs?.toFixed(1)} ms (rtt ${state.ll.rttMs?.toFixed(1)} ms); stalls ${JSON.stringify(state.ll.stalls)}`);
    assert.deepEqual(state.ll.errors, [], 'dash.js reported errors');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.equal(state.ll.stalls.waiting, 0, 'the video element stalled');
    assert.equal(state.ll.stalls.bufferEmpty, 0, 'dash.js ran out of buffer');
    // At least 90% of the frames were presented and read (25 fps).
    assert.ok(s.length >= PLAY_S * 25 * 0.9, `${s.length} frames sampled in ${PLAY_S} s`);
    assert.ok(Math.max(...lat) < 3, `dash.js live latency reached ${Math.max(...lat)} s`);
    assert.ok(Math.abs(pct(diff, 0.5)) <= FRAME_MS, `the picture's clock is ${pct(diff, 0.5)} ms off (median)`);
    // Every segment came through the edge, which went upstream once per object.
    const metrics = await (await fetch(`${edge.url}/metrics`)).text();
    assert.match(metrics, /dashcdn_edge_upstream_requests_total \d+/);
    assert.equal(live.exitCode, null, `dashcdn live stopped: ${liveLog}`);
    await page.close();
  });
});
