// dash.js 5 in headless Chromium plays the packaged default content from a real origin,
// with the page on a different origin than the media so CORS is exercised for real.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { contentDir, launchChromium, startServer, waitInPage, WEB_DIR } from './lib/harness.mjs';

const MPD = 'default/manifest.mpd';

describe('dash.js playback from the origin', () => {
  let media, web, browser;

  before(async () => {
    assert.ok(existsSync(join(contentDir(), MPD)), `no packaged default content at ${contentDir()}: run \`dashcdn package\` first`);
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    // Media on 127.0.0.1, page on 127.0.0.2: two different origins.
    media = await startServer(['origin', '--content', contentDir(), '--listen', '127.0.0.1:0'], { name: 'media origin' });
    web = await startServer(['origin', '--content', WEB_DIR, '--listen', '127.0.0.2:0'], { name: 'page server' });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    media?.stop();
    web?.stop();
  });

  it('plays past 10 s with decoded video and no dash.js errors', async () => {
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const mpdUrl = `${media.url}/${MPD}`;
    assert.notEqual(new URL(mpdUrl).origin, new URL(web.url).origin, 'page and media must be on different origins');
    await page.goto(`${web.url}/index.html?mpd=${encodeURIComponent(mpdUrl)}`);
    await waitInPage(page, () => document.getElementById('video').currentTime > 10, null, { timeoutMs: 60000, what: 'currentTime > 10 s' });
    const state = await page.evaluate(() => {
      const v = document.getElementById('video');
      const q = v.getVideoPlaybackQuality();
      return { errors: window.playback.errors, width: v.videoWidth, height: v.videoHeight, frames: q.totalVideoFrames, urls: window.playback.segmentUrls };
    });
    assert.deepEqual(state.errors, [], 'dash.js reported errors');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.ok(state.width > 0 && state.height > 0, `no video decoded (videoWidth=${state.width})`);
    assert.ok(state.frames > 200, `too few video frames decoded: ${state.frames}`);
    assert.ok(state.urls.some((u) => u.startsWith(media.url) && u.endsWith('.m4s')), 'segments were not fetched from the media origin');
    await page.screenshot({ path: join(WEB_DIR, 'tests', 'last-playback.png') });
    await page.close();
  });

  it('switches representations when the throughput limit changes', async () => {
    const page = await browser.context.newPage();
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Network.enable');
    // Start on a ~700 kbit/s link: dash.js must settle on a low rung.
    const limit = (kbps) => cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 20, uploadThroughput: -1, downloadThroughput: kbps < 0 ? -1 : (kbps * 1000) / 8,
    });
    await limit(700);
    const mpdUrl = `${media.url}/${MPD}`;
    await page.goto(`${web.url}/index.html?mpd=${encodeURIComponent(mpdUrl)}`);
    const low = await waitInPage(page, () => {
      const r = window.playback.renderedVideo;
      const last = r[r.length - 1];
      return document.getElementById('video').currentTime > 4 && last && last.bandwidth < 1000000 ? last : null;
    }, null, { timeoutMs: 60000, what: 'a low representation rendered under a 700 kbit/s limit' });
    // Lift the limit: dash.js must climb to a higher rung.
    await limit(-1);
    const high = await waitInPage(page, (lowBw) => {
      const r = window.playback.renderedVideo;
      return r.find((x) => x.bandwidth > lowBw) || null;
    }, low.bandwidth, { timeoutMs: 45000, what: 'a higher representation rendered after lifting the limit' });
    const state = await page.evaluate(() => window.playback);
    assert.deepEqual(state.errors, [], 'dash.js reported errors');
    assert.ok(high.bandwidth > low.bandwidth, `expected an up-switch from ${low.id}`);
    assert.ok(state.switches >= 1, 'no quality switch recorded');
    await page.close();
  });
});
