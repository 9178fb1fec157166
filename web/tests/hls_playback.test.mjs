// hls.js in headless Chromium plays the HLS side of packages (master.m3u8 + media playlists
// over the same CMAF segments as the MPD) THROUGH a dashcdn edge:
// origin (127.0.0.1) → edge (127.0.0.3) → hls.html on another origin (127.0.0.2).
// Two packages made at test time into a temporary content root: (a) the embedded default
// (test pattern + tone, two small rungs) and (b) an imported file (a 320x240 H.264/AAC MP4
// made with ffmpeg, B-frames and an AAC priming edit list).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dashcdnBin, startStack, waitInPage, WEB_DIR } from './lib/harness.mjs';

const SECS = 12;
const PLAY_PAST = 6;
const EDGE_ID = 'edge-hls-test';

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

describe('hls.js playback through the edge', () => {
  let dir, content, stack, media, edge, web, browser;

  before(async () => {
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'hls.min.js')), 'web/vendor/hls.min.js missing: run `npm ci && npm run vendor` in web/');
    dir = mkdtempSync(join(tmpdir(), 'dashcdn-hls-'));
    content = join(dir, 'content');
    const quiet = { stdio: ['ignore', 'ignore', 'pipe'] };
    execFileSync(dashcdnBin(), ['package', '--out', content, '--duration', String(SECS),
      '--rungs', 'v180=320x180@300,v360=640x360@700'], quiet);
    const input = join(dir, 'clip.mp4');
    execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(SECS), '-pix_fmt', 'yuv420p',
      '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0',
      '-c:a', 'aac', '-b:a', '96k', '-ac', '2', input], quiet);
    execFileSync(dashcdnBin(), ['package', input, '--out', content], quiet);
    stack = await startStack({ content, edge: { id: EDGE_ID, mem: '128MiB', args: ['--prefetch', '2'] } });
    ({ media, edge, web, browser } = stack);
  });

  after(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const asset of ['default', 'clip']) {
    it(`plays ${asset}/master.m3u8 past ${PLAY_PAST} s from the edge with no fatal hls.js error`, async () => {
      const master = readFileSync(join(content, asset, 'master.m3u8'), 'utf8');
      const variants = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
      const page = await browser.context.newPage();
      const pageErrors = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      const responses = [];
      page.on('response', (res) => {
        if (!res.url().startsWith(edge.url)) return;
        const h = res.headers();
        responses.push({ path: new URL(res.url()).pathname, status: res.status(), type: h['content-type'], xCache: h['x-cache'], servedBy: h['x-served-by'] });
      });
      const src = `${edge.url}/${asset}/master.m3u8`;
      assert.notEqual(new URL(src).origin, new URL(web.url).origin, 'page and edge must be on different origins');
      await page.goto(`${web.url}/hls.html?src=${encodeURIComponent(src)}`);
      await waitInPage(page, (t) => {
        const v = document.getElementById('video');
        return window.playback.fatal.length > 0 || v.currentTime > t;
      }, PLAY_PAST, { timeoutMs: 60000, what: `currentTime > ${PLAY_PAST} s` });
      const state = await page.evaluate(() => {
        const v = document.getElementById('video');
        return { t: v.currentTime, width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames, playback: window.playback };
      });
      await page.close();
      console.log(`${asset}: at ${state.t.toFixed(1)} s, ${state.frames} frames, ${state.playback.segmentUrls.length} segments, hls.js non-fatal errors: ${JSON.stringify(state.playback.errors)}`);
      assert.deepEqual(state.playback.fatal, [], 'hls.js reported a fatal error');
      // Non-fatal errors other than a stall while the buffer fills mean a bad playlist or segment.
      const bad = state.playback.errors.filter((e) => !['bufferStalledError', 'bufferNudgeOnStall'].includes(e.details));
      assert.deepEqual(bad, [], 'hls.js reported playlist/segment errors');
      assert.deepEqual(pageErrors, [], 'the page threw');
      assert.ok(state.t > PLAY_PAST, `playback stopped at ${state.t} s`);
      assert.ok(state.width > 0 && state.frames > 100, `too little video decoded: ${JSON.stringify(state)}`);
      // hls.js saw every variant of the multivariant playlist, with audio in its group.
      assert.equal(state.playback.levels.length, variants.length);
      assert.ok(state.playback.levels.every((l) => /^avc1\./.test(l.codecs) && l.codecs.includes('mp4a.40.')), JSON.stringify(state.playback.levels));
      assert.equal(state.playback.audioTracks.length, 1);
      // Segments (video and audio) and playlists came through the edge, with their MIME types.
      const segs = responses.filter((r) => r.path.endsWith('.m4s'));
      assert.ok(segs.length >= 4, `few segments through the edge: ${JSON.stringify(responses)}`);
      assert.ok(responses.every((r) => r.servedBy === EDGE_ID && ['HIT', 'MISS', 'REVALIDATED', 'STALE'].includes(r.xCache)), JSON.stringify(responses));
      assert.ok(segs.some((r) => r.type === 'audio/mp4') && segs.some((r) => r.type === 'video/mp4'), `segment types: ${JSON.stringify(segs)}`);
      const playlists = responses.filter((r) => r.path.endsWith('.m3u8'));
      assert.ok(playlists.length >= 3 && playlists.every((r) => r.type === 'application/vnd.apple.mpegurl'), JSON.stringify(playlists));
      // Every fetched segment is one the MPD also names: no HLS-only media.
      assert.ok(state.playback.segmentUrls.every((u) => /\/(init\.(mp4|m4a)|\d+\.m4s)$/.test(u)), JSON.stringify(state.playback.segmentUrls));
    });
  }

  it('caches playlists at the edge like the MPD', async () => {
    const url = `${edge.url}/clip/master.m3u8`;
    await fetch(url).then((r) => r.text());
    const again = await fetch(url);
    const body = await again.text();
    assert.equal(again.headers.get('x-cache'), 'HIT');
    assert.equal(again.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    assert.match(again.headers.get('cache-control'), /max-age=2\b/);
    assert.ok(body.startsWith('#EXTM3U'));
    const metrics = await (await fetch(`${edge.url}/metrics`)).text();
    assert.ok(sample(metrics, 'dashcdn_edge_hits_total') > 0, 'no edge hits counted');
  });
});
