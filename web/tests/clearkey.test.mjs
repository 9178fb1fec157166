// dash.js 5 in headless Chromium plays the default content packaged with encryption
// (`dashcdn package --encrypt`, ISO/IEC 23001-7 `cenc` and `cbcs`) through W3C ClearKey, the
// keys given to dash.js as protectionData (index.html's ?clearkey=KID:KEY), from a real
// origin on another origin than the page. With a wrong key or no key, playback does not
// advance and dash.js reports the failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dashcdnBin, launchChromium, startServer, waitInPage, WEB_DIR } from './lib/harness.mjs';

// Test keys (examples/clearkey-test-keys.toml has the same pair).
const KID = '0123456789abcdef0123456789abcdef';
const KEY = '00112233445566778899aabbccddeeff';
const WRONG_KEY = 'ffeeddccbbaa99887766554433221100';
const SECS = 8;

describe('dash.js plays ClearKey-encrypted packages', () => {
  let dir, media, web, browser;

  before(async () => {
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    dir = mkdtempSync(join(tmpdir(), 'dashcdn-clearkey-'));
    const content = join(dir, 'content');
    for (const scheme of ['cenc', 'cbcs']) {
      execFileSync(dashcdnBin(), ['package', '--out', content, '--asset', scheme, '--duration', String(SECS),
        '--rungs', 'v180=320x180@300,v360=640x360@700',
        '--encrypt', '--key-id', KID, '--key', KEY, '--protection-scheme', scheme], { stdio: ['ignore', 'ignore', 'pipe'] });
      const mpd = readFileSync(join(content, scheme, 'manifest.mpd'), 'utf8');
      assert.match(mpd, new RegExp(`value="${scheme}"`), `the ${scheme} MPD has no mp4protection descriptor`);
    }
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

  async function open(asset, clearkey) {
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const mpdUrl = `${media.url}/${asset}/manifest.mpd`;
    const q = new URLSearchParams({ mpd: mpdUrl });
    if (clearkey) q.set('clearkey', clearkey);
    await page.goto(`${web.url}/index.html?${q}`);
    return { page, pageErrors };
  }

  for (const scheme of ['cenc', 'cbcs']) {
    it(`plays ${scheme} to the end with the key`, async () => {
      const { page, pageErrors } = await open(scheme, `${KID}:${KEY}`);
      await waitInPage(page, (secs) => {
        const v = document.getElementById('video');
        return v.ended || v.currentTime > secs - 1;
      }, SECS, { timeoutMs: 60000, what: `${scheme} playback to ${SECS - 1} s` });
      const state = await page.evaluate(() => {
        const v = document.getElementById('video');
        const q = v.getVideoPlaybackQuality();
        return { errors: window.playback.errors, width: v.videoWidth, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, t: v.currentTime, mediaKeys: !!v.mediaKeys };
      });
      assert.deepEqual(state.errors, [], 'dash.js reported errors');
      assert.deepEqual(pageErrors, [], 'the page threw');
      assert.ok(state.mediaKeys, 'no MediaKeys attached: the content was not played as encrypted');
      assert.ok(state.width > 0, 'no video decoded');
      assert.ok(state.frames - state.dropped > (SECS - 2) * 30 * 0.8, `too few frames decoded: ${JSON.stringify(state)}`);
      await page.close();
    });
  }

  for (const [what, clearkey] of [['a wrong key', `${KID}:${WRONG_KEY}`], ['no key', null]]) {
    it(`does not play cenc with ${what}`, async () => {
      const { page } = await open('cenc', clearkey);
      const errors = await waitInPage(page, () => (window.playback.errors.length ? window.playback.errors : null), null,
        { timeoutMs: 30000, what: 'a dash.js error' });
      // Give playback a few seconds to (wrongly) advance.
      await new Promise((r) => setTimeout(r, 3000));
      const state = await page.evaluate(() => {
        const v = document.getElementById('video');
        return { t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames, error: v.error && `${v.error.code} ${v.error.message}` };
      });
      assert.ok(state.t < 1, `playback advanced to ${state.t} s with ${what}`);
      // No key: dash.js cannot create a key session (DRM error). Wrong key: the CDM "decrypts"
      // into garbage and the decoder fails (MediaError 3, MEDIA_ERR_DECODE).
      const keyError = errors.some((e) => /KEY|DRM/.test(`${e.type} ${e.detail}`));
      const decodeError = errors.some((e) => e.type === 'PLAYBACK_ERROR' && /^MediaError 3:/.test(e.detail));
      assert.ok(keyError || decodeError, `neither a key nor a decode error: ${JSON.stringify({ errors, state })}`);
      console.log(`# ${what}: ${errors.map((e) => `${e.type} ${e.detail}`.slice(0, 160)).join(' | ').slice(0, 400)}; video.error ${state.error}; currentTime ${state.t}, frames ${state.frames}`);
      await page.close();
    });
  }
});
