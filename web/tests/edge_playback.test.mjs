// dash.js 5 in headless Chromium plays the packaged default content THROUGH a dashcdn edge:
// origin (127.0.0.1) → edge (127.0.0.3) → player page on another origin (127.0.0.2).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { contentDir, startStack, waitInPage, WEB_DIR } from './lib/harness.mjs';

const MPD = 'default/manifest.mpd';

/** Reads one sample (first matching series) from a Prometheus text exposition. */
function sample(text, series) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(series)) continue;
    const next = line[series.length];
    if (next !== ' ' && next !== '{') continue;
    return Number(line.split(' ').pop());
  }
  return 0;
}

describe('dash.js playback through the edge', () => {
  let stack, media, edge, web, browser;

  before(async () => {
    assert.ok(existsSync(join(contentDir(), MPD)), `no packaged default content at ${contentDir()}: run \`dashcdn package\` first`);
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    stack = await startStack({ edge: { id: 'edge-browser-test', args: ['--prefetch', '2'] } });
    ({ media, edge, web, browser } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  it('plays past 10 s from the edge with no dash.js errors', async () => {
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // X-Cache / X-Served-By must be readable cross-origin (Access-Control-Expose-Headers)
    const seen = [];
    page.on('response', async (res) => {
      if (res.url().startsWith(edge.url) && res.url().endsWith('.m4s')) {
        seen.push({ url: res.url(), xCache: res.headers()['x-cache'], servedBy: res.headers()['x-served-by'] });
      }
    });
    const mpdUrl = `${edge.url}/${MPD}`;
    assert.notEqual(new URL(mpdUrl).origin, new URL(web.url).origin, 'page and edge must be on different origins');
    await page.goto(`${web.url}/index.html?mpd=${encodeURIComponent(mpdUrl)}`);
    await waitInPage(page, () => document.getElementById('video').currentTime > 10, null, { timeoutMs: 60000, what: 'currentTime > 10 s' });
    const state = await page.evaluate(() => {
      const v = document.getElementById('video');
      const q = v.getVideoPlaybackQuality();
      return { errors: window.playback.errors, width: v.videoWidth, frames: q.totalVideoFrames, urls: window.playback.segmentUrls };
    });
    assert.deepEqual(state.errors, [], 'dash.js reported errors');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.ok(state.width > 0, 'no video decoded');
    assert.ok(state.frames > 200, `too few video frames decoded: ${state.frames}`);
    assert.ok(state.urls.some((u) => u.startsWith(edge.url) && u.endsWith('.m4s')), 'segments were not fetched from the edge');
    // the page could read the cache headers
    const exposed = await page.evaluate(async (u) => {
      const r = await fetch(u);
      return { xCache: r.headers.get('x-cache'), servedBy: r.headers.get('x-served-by') };
    }, `${edge.url}/${MPD}`);
    assert.ok(['HIT', 'MISS', 'REVALIDATED', 'STALE'].includes(exposed.xCache), `X-Cache not readable: ${JSON.stringify(exposed)}`);
    assert.equal(exposed.servedBy, 'edge-browser-test');
    assert.ok(seen.length > 0 && seen.every((s) => s.servedBy === 'edge-browser-test'), 'segment responses lack X-Served-By');
    // the edge served them: hits + misses counted in its metrics
    const metrics = await (await fetch(`${edge.url}/metrics`)).text();
    const hits = sample(metrics, 'dashcdn_edge_hits_total');
    const misses = sample(metrics, 'dashcdn_edge_misses_total');
    assert.ok(hits + misses > 0, `edge metrics show no cache traffic: hits=${hits} misses=${misses}`);
    assert.ok(sample(metrics, 'dashcdn_edge_upstream_requests_total') > 0, 'the edge never went upstream');
    await page.close();
  });
});
