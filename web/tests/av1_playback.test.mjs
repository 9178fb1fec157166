// dash.js 5 in headless Chromium plays an AV1 asset packaged without re-encoding: a 6 s
// 320x180 SVT-AV1 + AAC MP4 made with ffmpeg at test time, `dashcdn package`d into a
// temporary content root and served by a real origin (page on another origin, as in
// playback.test.mjs). Chromium decodes AV1 in software (dav1d), so this runs anywhere.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dashcdnBin, launchChromium, startServer, waitInPage, WEB_DIR } from './lib/harness.mjs';

const SECS = 6;
const FPS = 25;

describe('dash.js plays a packaged AV1 asset', () => {
  let dir, media, web, browser, codecs;

  before(async () => {
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    dir = mkdtempSync(join(tmpdir(), 'dashcdn-av1-'));
    const input = join(dir, 'av1clip.mp4');
    execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=320x180:rate=${FPS}`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(SECS), '-pix_fmt', 'yuv420p',
      '-c:v', 'libsvtav1', '-preset', '12', '-g', String(2 * FPS), '-svtav1-params', 'scd=0',
      '-c:a', 'aac', '-b:a', '96k', '-ac', '2', input], { stdio: ['ignore', 'ignore', 'pipe'] });
    const content = join(dir, 'content');
    execFileSync(dashcdnBin(), ['package', input, '--out', content], { stdio: ['ignore', 'ignore', 'pipe'] });
    const mpd = readFileSync(join(content, 'av1clip', 'manifest.mpd'), 'utf8');
    codecs = [...mpd.matchAll(/codecs="([^"]+)"/g)].map((m) => m[1]);
    media = await startServer(['origin', '--content', content, '--listen', '127.0.0.1:0'], { name: 'media origin' });
    web = await startServer(['origin', '--content', WEB_DIR, '--listen', '127.0.0.2:0'], { name: 'page server' });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    media?.stop();
    web?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('plays to the end with decoded AV1 video and no dash.js errors', async () => {
    const video = codecs.find((c) => c.startsWith('av01.'));
    assert.ok(video, `no av01 codecs in the MPD: ${codecs}`);
    assert.ok(codecs.includes('mp4a.40.2'), `no AAC in the MPD: ${codecs}`);
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${web.url}/index.html`);
    const supported = await page.evaluate((c) => MediaSource.isTypeSupported(`video/mp4; codecs="${c}"`), video);
    assert.ok(supported, `this Chromium's MSE does not take ${video}`);
    const mpdUrl = `${media.url}/av1clip/manifest.mpd`;
    await page.goto(`${web.url}/index.html?mpd=${encodeURIComponent(mpdUrl)}`);
    await waitInPage(page, (secs) => {
      const v = document.getElementById('video');
      return v.ended || v.currentTime > secs - 0.5;
    }, SECS, { timeoutMs: 60000, what: `playback to ${SECS} s` });
    const state = await page.evaluate(() => {
      const v = document.getElementById('video');
      const q = v.getVideoPlaybackQuality();
      return { errors: window.playback.errors, width: v.videoWidth, height: v.videoHeight, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, urls: window.playback.segmentUrls, t: v.currentTime };
    });
    assert.deepEqual(state.errors, [], 'dash.js reported errors');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.deepEqual([state.width, state.height], [320, 180], 'decoded picture size');
    // Frames that reached the compositor: most of the 150 (a headless tab drops a few).
    assert.ok(state.frames - state.dropped > (SECS - 1) * FPS * 0.8, `too few AV1 frames decoded: ${JSON.stringify(state)}`);
    const fetched = state.urls.filter((u) => u.startsWith(media.url) && u.endsWith('.m4s'));
    assert.ok(fetched.length >= 6, `segments of both tracks were not fetched: ${state.urls}`);
    await page.close();
  });
});
