// Push ingest end to end (issue 14): a real ffmpeg encodes a test pattern in real time and
// PUTs live DASH into a dashcdn origin (`--ingest`, bearer token from the environment);
// dash.js 5 in headless Chromium plays the pushed dynamic MPD THROUGH a dashcdn edge for
// 15 s with no stall: origin (127.0.0.1) → edge (127.0.0.3) → page on 127.0.0.2.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, startServer, waitInPage, WEB_DIR } from './lib/harness.mjs';

const TOKEN = `ingest-test-${process.pid}-0123456789abcdef`;
const STREAM = 'live1';
const PLAY_S = 15;
const LIVE_DELAY_S = 6;

describe('dash.js plays a stream pushed by ffmpeg into the origin, through an edge', () => {
  let dir, media, edge, web, browser, ffmpeg;
  let ffmpegLog = '';

  before(async () => {
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    dir = mkdtempSync(join(tmpdir(), 'dashcdn-ingest-'));
    // The token reaches the origin through its environment, never its command line.
    process.env.DASHCDN_INGEST_TOKEN = TOKEN;
    media = await startServer(['origin', '--content', dir, '--listen', '127.0.0.1:0', '--ingest'], { name: 'ingest origin' });
    delete process.env.DASHCDN_INGEST_TOKEN;
    edge = await startServer(['edge', '--upstream', media.url, '--listen', '127.0.0.3:0', '--id', 'edge-live-ingest', '--mem', '256MiB'], { name: 'edge' });
    web = await startServer(['origin', '--content', WEB_DIR, '--listen', '127.0.0.2:0'], { name: 'page server' });
    // At most 90 s of input: ffmpeg is killed in after() anyway.
    ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'warning', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', '90', '-map', '0:v', '-map', '1:a',
      '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-keyint_min', '50', '-b:v', '400k', '-c:a', 'aac', '-b:a', '64k',
      '-f', 'dash', '-seg_duration', '2', '-streaming', '1', '-window_size', '10', '-extra_window_size', '5',
      '-method', 'PUT', '-http_persistent', '1', '-http_opts', `headers=Authorization\\: Bearer ${TOKEN}`,
      `${media.url}/ingest/${STREAM}/manifest.mpd`], { stdio: ['ignore', 'ignore', 'pipe'] });
    ffmpeg.stderr.on('data', (c) => { ffmpegLog += c.toString(); });
    process.on('exit', () => ffmpeg.kill('SIGKILL'));
    browser = await launchChromium();
  });

  after(async () => {
    ffmpeg?.kill('SIGKILL');
    await browser?.close();
    edge?.stop();
    media?.stop();
    web?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`plays the live stream from the edge for ${PLAY_S} s with no stall`, async () => {
    // The edge serves the pushed MPD once ffmpeg has written three segments.
    const mpdUrl = `${edge.url}/ingest/${STREAM}/manifest.mpd`;
    const deadline = Date.now() + 30000;
    for (;;) {
      const r = await fetch(mpdUrl);
      const text = r.ok ? await r.text() : '';
      if ((text.match(/<S /g) || []).length + [...text.matchAll(/ r="(\d+)"/g)].reduce((a, m) => a + Number(m[1]), 0) >= 6) {
        assert.match(text, /type="dynamic"/);
        assert.equal(r.headers.get('content-type'), 'application/dash+xml');
        break;
      }
      assert.ok(Date.now() < deadline, `no live MPD with 3 segments after 30 s; ffmpeg: ${ffmpegLog}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    // Without the token the origin refuses a write.
    const refused = await fetch(`${media.url}/ingest/${STREAM}/x.m4s`, { method: 'PUT', body: 'x' });
    assert.equal(refused.status, 401);

    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // ffmpeg's MPD says suggestedPresentationDelay="PT2S" (one segment), and a pushed
    // segment is visible only once its upload completed: dash.js that close to the live
    // edge runs dry every few segments (measured: 4 stalls in 15 s), so the page plays
    // three segments behind.
    await page.goto(`${web.url}/index.html?livedelay=${LIVE_DELAY_S}&mpd=${encodeURIComponent(mpdUrl)}`);
    await waitInPage(page, () => document.getElementById('video').currentTime > 0.5, null, { timeoutMs: 30000, what: 'live playback start' });
    // From here on: count stalls (the buffer ran dry, the element waited) for PLAY_S seconds.
    await page.evaluate(() => {
      const v = document.getElementById('video');
      const s = window.stalls = { waiting: 0, bufferEmpty: 0, start: v.currentTime, wallStart: performance.now() };
      v.addEventListener('waiting', () => { s.waiting += 1; });
      window.player.on(dashjs.MediaPlayer.events.BUFFER_EMPTY, (e) => { if (e.mediaType === 'video' || e.mediaType === 'audio') s.bufferEmpty += 1; });
    });
    await new Promise((res) => setTimeout(res, PLAY_S * 1000));
    const state = await page.evaluate(() => {
      const v = document.getElementById('video');
      return {
        dynamic: window.player.isDynamic(),
        played: v.currentTime - window.stalls.start,
        wall: (performance.now() - window.stalls.wallStart) / 1000,
        stalls: window.stalls,
        latency: window.player.getCurrentLiveLatency(),
        width: v.videoWidth,
        frames: v.getVideoPlaybackQuality().totalVideoFrames,
        errors: window.playback.errors,
        urls: window.playback.segmentUrls,
      };
    });
    console.log(`live ingest via edge: played ${state.played.toFixed(2)} s in ${state.wall.toFixed(2)} s wall, live latency ${state.latency} s, ${state.frames} frames, stalls ${JSON.stringify(state.stalls)}`);
    assert.equal(state.dynamic, true, 'dash.js did not see a dynamic MPD');
    assert.deepEqual(state.errors, [], 'dash.js reported errors');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.equal(state.stalls.waiting, 0, 'the video element stalled');
    assert.equal(state.stalls.bufferEmpty, 0, 'dash.js ran out of buffer');
    assert.ok(state.played >= state.wall - 1, `played ${state.played} s of ${state.wall} s`);
    assert.equal(state.width, 320);
    assert.ok(state.latency >= LIVE_DELAY_S - 1 && state.latency < LIVE_DELAY_S + 4, `live latency ${state.latency}`);
    assert.ok(state.urls.filter((u) => u.startsWith(`${edge.url}/ingest/${STREAM}/`) && u.endsWith('.m4s')).length >= 8,
      `too few segments from the edge: ${state.urls.length}`);
    // The edge went upstream for them, and ffmpeg is still pushing fine.
    const metrics = await (await fetch(`${edge.url}/metrics`)).text();
    assert.match(metrics, /dashcdn_edge_upstream_requests_total/);
    assert.equal(ffmpeg.exitCode, null, `ffmpeg stopped: ${ffmpegLog}`);
    await page.close();
  });
});
