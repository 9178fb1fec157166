// dash.js 5 in headless Chromium plays the LOOPED LIVE stream of the packaged default content
// (origin /live/default/manifest.mpd: dynamic MPD on the wall clock, segments rewritten on the
// fly) THROUGH the redirector and a dashcdn edge for 60 s: the MPD URL is the redirector's
// (127.0.0.5: a 302 to the edge for $Number$, the steered MPD for SegmentTimeline), then origin (127.0.0.1) → edge (127.0.0.3) → page
// (127.0.0.2). Checks: no dash.js error, no stall once playing, the playhead keeps up with
// the wall clock, dash.js synchronised its clock with the origin's UTCTiming endpoint, and
// dash.js's own live latency (player.getCurrentLiveLatency()) stays within its target
// (the MPD's suggestedPresentationDelay) ± one segment, in both addressings ($Number$ and
// SegmentTimeline/$Time$, two pages at once). 60 s of playback always crosses a loop
// boundary of the 60 s asset, so audio and video are played across the loop.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { contentDir, startRedirector, startStack, waitInPage, WEB_DIR } from './lib/harness.mjs';

const ASSET = 'default';
const PLAY_SECONDS = 60;
const SEGMENT_SECONDS = 2; // the packager's default
const LOOP_SECONDS = 60; // the packaged default asset's duration

describe('dash.js plays the looped live stream through the redirector and the edge', { timeout: (PLAY_SECONDS + 90) * 1000 }, () => {
  let stack, media, edge, web, browser, redirector;

  before(async () => {
    assert.ok(existsSync(join(contentDir(), ASSET, 'manifest.mpd')), `no packaged default content at ${contentDir()}: run \`dashcdn package\` first`);
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    stack = await startStack({ edge: { id: 'edge-live-test' } });
    ({ media, edge, web, browser } = stack);
    redirector = await startRedirector([{ id: 'edge-live-test', url: edge.url }]);
  });

  after(async () => {
    redirector?.stop();
    await stack?.stop();
  });

  /** Plays `path` (asked of the redirector) for PLAY_SECONDS + 2 s from the moment it runs; checks what it saw. */
  async function play(path, label) {
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const statuses = {};
    const mpdAges = [];
    let timeRequests = 0;
    page.on('response', (res) => {
      const u = res.url();
      if (u.endsWith('/live/time')) timeRequests += 1;
      if (!u.startsWith(edge.url)) return;
      statuses[res.status()] = (statuses[res.status()] || 0) + 1;
      if (u.endsWith('.mpd')) mpdAges.push(Number(res.headers()['age'] || 0));
    });
    const mpdUrl = `${redirector.url}${path}`;
    await page.goto(`${web.url}/index.html?mpd=${encodeURIComponent(mpdUrl)}`);
    // count stalls from the moment playback runs
    await waitInPage(page, () => {
      const v = document.getElementById('video');
      if (!(v && v.currentTime > 0 && !v.paused && v.readyState >= 3)) return false;
      if (!window.liveProbe) {
        window.liveProbe = { waiting: 0, samples: [] };
        v.addEventListener('waiting', () => { window.liveProbe.waiting += 1; });
      }
      return true;
    }, null, { timeoutMs: 30000, what: 'live playback to start' });
    const t0 = Date.now();
    const start = await page.evaluate(() => document.getElementById('video').currentTime);
    // 2 s more than the loop, so that what is played always spans a loop boundary.
    while (Date.now() - t0 < (PLAY_SECONDS + 2) * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      await page.evaluate(() => {
        const p = window.player;
        window.liveProbe.samples.push({
          latency: p.getCurrentLiveLatency(),
          target: p.getTargetLiveDelay ? p.getTargetLiveDelay() : NaN,
          buffer: p.getBufferLength('video'),
          t: document.getElementById('video').currentTime,
        });
      });
    }
    const wall = (Date.now() - t0) / 1000;
    const s = await page.evaluate(() => ({
      probe: window.liveProbe,
      errors: window.playback.errors,
      isDynamic: window.player.isDynamic(),
      urls: window.playback.segmentUrls.slice(-5),
      frames: document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames,
    }));
    const end = s.probe.samples.at(-1).t;
    const crossed = Math.floor(end / LOOP_SECONDS) > Math.floor(start / LOOP_SECONDS);
    const latencies = s.probe.samples.map((x) => x.latency).filter(Number.isFinite).sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)];
    const target = s.probe.samples.map((x) => x.target).find(Number.isFinite);
    console.log(`live loop ${label}: played ${(end - start).toFixed(1)} s in ${wall.toFixed(1)} s wall, stalls ${s.probe.waiting}, `
      + `latency min/median/max ${latencies[0].toFixed(2)}/${median.toFixed(2)}/${latencies.at(-1).toFixed(2)} s (target ${target} s), `
      + `edge statuses ${JSON.stringify(statuses)}, MPD ages ${JSON.stringify([...new Set(mpdAges)])}, time requests ${timeRequests}, frames ${s.frames}, `
      + `played ${start.toFixed(1)}..${end.toFixed(1)} (loop boundary crossed: ${crossed})`);
    assert.deepEqual(s.errors, [], 'dash.js reported errors');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.equal(s.isDynamic, true, 'dash.js did not see a dynamic MPD');
    assert.ok(crossed, `playback ${start}..${end} did not cross a loop boundary`);
    assert.equal(s.probe.waiting, 0, `playback stalled ${s.probe.waiting} times`);
    assert.ok(end - start >= wall - 1.5, `the playhead fell behind: ${(end - start).toFixed(1)} s played in ${wall.toFixed(1)} s`);
    // the redirector sent the player to the edge: segments come from there
    assert.ok(s.urls.some((u) => u.startsWith(`${edge.url}${path.replace(/^\/steered/, '').replace(/manifest\.mpd$/, '')}`) && u.endsWith('.m4s')), `live segments not fetched from the edge: ${s.urls}`);
    assert.ok(timeRequests >= 1, 'dash.js never asked the UTCTiming endpoint');
    assert.equal(target, 6, 'the target is the MPD suggestedPresentationDelay (6 s)');
    assert.ok(Math.abs(median - target) <= SEGMENT_SECONDS, `median live latency ${median} s is not within one segment of the ${target} s target`);
    assert.ok(latencies.at(-1) <= target + SEGMENT_SECONDS, `live latency reached ${latencies.at(-1)} s`);
    // the edge kept the MPD only briefly (max-age=1)
    assert.ok(mpdAges.every((a) => a <= 1), `MPD served with ages ${mpdAges}`);
    await page.close();
  }

  it(`plays ${PLAY_SECONDS} s across a loop boundary with no stall at dash.js's target latency, $Number$ and SegmentTimeline`, async () => {
    // Both addressings play at once, in two pages: $Number$ through the redirector's 302,
    // SegmentTimeline through its content steering (the steered MPD).
    await Promise.all([
      play(`/live/${ASSET}/manifest.mpd`, '$Number$'),
      // DASH-IF content steering: the redirector's steered MPD (BaseURL per edge) of the live MPD
      play(`/steered/live/segtimeline_1/${ASSET}/manifest.mpd`, 'SegmentTimeline, steered'),
    ]);
  });
});
