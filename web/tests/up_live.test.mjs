// `dashcdn up --live` end to end (issue 14, "done means"): one command starts the CDN and a
// live stream, watched in the up page with its latency shown.
// 1. `dashcdn up --live` on addresses of its own (127.0.78.x, ports + 3000): the encoder is a
//    supervised child, the ingest token is a 0600 file in the run dir and on no command line
//    (/proc/<pid>/cmdline of every child), /api/status offers both live MPDs;
// 2. the page switched to the low-latency stream (through the redirector): dash.js's live
//    latency shown and under 3 s after ~20 s of playing, the picture clock read;
// 3. switched to the origin's looped live stream: latency shown, near its target;
// 4. SIGTERM stops up and every child (the encoder too), exit 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentDir, launchChromium, startUp, waitInPage, WEB_DIR } from './lib/harness.mjs';

const ARTIFACTS = join(WEB_DIR, 'test-artifacts');
const IP_BASE = '127.0.78';

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

/** Waits until the page has played `secs` of `stream` with latency samples, returns the last `tail` seconds of them. */
async function liveSamples(page, stream, secs, tail) {
  await waitInPage(page, (s) => window.upPage.live?.stream === s && window.upPage.live.samples.length > 0, stream, { timeoutMs: 30000, what: `latency samples of ${stream}` });
  const t0 = await page.evaluate(() => window.upPage.live.samples[0].at);
  await waitInPage(page, ([s, t, d]) => window.upPage.live?.stream === s && Date.now() > t + d * 1000, [stream, t0, secs], { timeoutMs: secs * 1000 + 30000, what: `${secs} s of ${stream}` });
  return page.evaluate(([t]) => {
    const now = Date.now();
    return {
      samples: window.upPage.live.samples.filter((x) => x.at > now - t * 1000),
      shown: ['live-latency', 'live-target', 'live-rate', 'live-glass'].map((id) => document.getElementById(id).textContent),
      errors: window.upPage.errors,
      panelHidden: document.getElementById('live-panel').hidden,
    };
  }, [tail]);
}

describe('dashcdn up --live: a live stream through the CDN, latency on the page', () => {
  let up, browser, page, runDir, status;

  before(async () => {
    assert.ok(existsSync(join(contentDir(), 'default', 'manifest.mpd')), `no packaged default content at ${contentDir()}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    runDir = mkdtempSync(join(tmpdir(), 'dashcdn-up-live-'));
    // A content root of its own (the packaged asset hard-linked in, copied across file
    // systems; the origin serves no symlinks): the origin stores the ingested stream under
    // <content>/ingest/, which another `up --live` must not share.
    const content = join(runDir, 'content');
    mkdirSync(content);
    try { execFileSync('cp', ['-al', join(contentDir(), 'default'), content]); } catch { cpSync(join(contentDir(), 'default'), join(content, 'default'), { recursive: true }); }
    up = await startUp(['--live', '--port-offset', '3000', '--ip-base', IP_BASE, '--run-dir', runDir, '--content', content, '--web', WEB_DIR], 90000);
    status = await (await fetch(new URL('/api/status', up.url))).json();
    browser = await launchChromium();
    page = await browser.context.newPage();
  });

  after(async () => {
    await browser?.close();
    if (up && up.proc.exitCode === null) up.proc.kill('SIGKILL');
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  it('runs the encoder as a child, the ingest token in a 0600 file and on no command line', async () => {
    const enc = status.components.find((c) => c.role === 'encoder');
    assert.ok(enc, `no encoder among ${status.components.map((c) => c.id)}`);
    assert.equal(status.components.length, 7);
    assert.ok(status.components.every((c) => c.state === 'running'), JSON.stringify(status.components));
    assert.match(up.output(), /^encoder\s+encoder\s+http:\/\/\S+\/ingest\/live\/manifest\.mpd/m, 'the table lists the encoder');
    assert.match(up.output(), /^low-latency live: http:\/\/127\.0\.78\.1:11053\/ingest\/live\/manifest\.mpd/m, 'the table gives the live URL');
    assert.equal(status.urls.low_latency_mpd, `${status.urls.redirector}/ingest/live/manifest.mpd`);
    assert.equal(status.urls.looped_live_mpd, `${status.urls.redirector}/live/default/manifest.mpd`);
    const tokenFile = join(runDir, 'ingest.token');
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600, 'token file mode');
    const token = readFileSync(tokenFile, 'utf8').trim();
    assert.ok(token.length >= 16, 'a real token');
    for (const c of status.components) {
      const cmd = readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(!cmd.some((a) => a.includes(token)), `${c.id}'s command line holds the token`);
      if (c.id === 'encoder') assert.ok(cmd.includes('--token-file') && cmd.includes(tokenFile), cmd.join(' '));
      if (c.id === 'origin') assert.ok(cmd.includes('--ingest-token-file'), cmd.join(' '));
    }
    // Publishing through the CDN: the MPD via the redirector's 302 and an edge is dynamic.
    const res = await fetch(status.urls.low_latency_mpd);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /type="dynamic"/);
  });

  it('the low-latency stream plays in the page with its latency shown, under 3 s after ~20 s', async () => {
    await page.goto(up.url);
    await waitInPage(page, () => window.upPage.ready && document.getElementById('video').currentTime > 1, null, { timeoutMs: 45000, what: 'VoD playing' });
    const options = await page.evaluate(() => [...document.querySelectorAll('#stream option')].map((o) => o.value));
    assert.deepEqual(options, ['vod', 'looped', 'll']);
    assert.equal(await page.evaluate(() => document.getElementById('live-panel').hidden), true, 'no live panel for VoD');
    await page.selectOption('#stream', 'll');
    const r = await liveSamples(page, 'll', 20, 5);
    const lat = r.samples.map((x) => x.latency);
    const glass = r.samples.map((x) => x.glass).filter((g) => g !== null);
    console.log(`low-latency live in the up page: latency p50 ${median(lat).toFixed(2)} s, p95 ${pct(lat, 0.95).toFixed(2)} s, target ${r.samples.at(-1).target} s, picture clock ${glass.length ? median(glass).toFixed(2) : '-'} s behind; shown ${JSON.stringify(r.shown)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'up-live-lowlatency.png') });
    assert.deepEqual(r.errors, [], 'page or dash.js errors');
    assert.equal(r.panelHidden, false);
    assert.ok(lat.length > 10, `${lat.length} samples in the last 5 s`);
    assert.ok(pct(lat, 0.95) < 3, `latency p95 ${pct(lat, 0.95)} s`);
    assert.match(r.shown[0], /^\d+\.\d\d s$/, 'latency shown');
    assert.match(r.shown[1], /^\d+\.\d\d s$/, 'target shown');
    assert.match(r.shown[2], /^\d\.\d{3}×$/, 'playback rate shown');
    assert.match(r.shown[3], /^\d+\.\d\d s behind$/, 'picture clock vs page clock shown');
    assert.ok(glass.length > 0 && median(glass) > 0 && median(glass) < 4, `picture clock ${median(glass)} s behind the page clock`);
    const segs = await page.evaluate(() => window.upPage.segments.filter((s) => s.url.includes('/ingest/live/')).map((s) => s.edge));
    assert.ok(segs.length > 3 && segs.every((e) => /^edge-/.test(e)), `live segments served by edges: ${segs}`);
  });

  it('the looped live stream: latency shown, near its target', async () => {
    await page.selectOption('#stream', 'looped');
    const r = await liveSamples(page, 'looped', 20, 5);
    const lat = r.samples.map((x) => x.latency);
    const target = r.samples.at(-1).target;
    console.log(`looped live in the up page: latency p50 ${median(lat).toFixed(2)} s, p95 ${pct(lat, 0.95).toFixed(2)} s, target ${target} s; shown ${JSON.stringify(r.shown)}`);
    await page.screenshot({ path: join(ARTIFACTS, 'up-live-looped.png') });
    assert.deepEqual(r.errors, [], 'page or dash.js errors');
    assert.ok(lat.length > 10, `${lat.length} samples in the last 5 s`);
    assert.ok(Number.isFinite(target) && target > 0, `target ${target}`);
    assert.ok(Math.abs(median(lat) - target) < Math.max(1, 0.25 * target), `latency ${median(lat)} s vs target ${target} s`);
    assert.match(r.shown[0], /^\d+\.\d\d s$/, 'latency shown');
    assert.equal(r.shown[3], 'no clock in this picture');
  });

  it('SIGTERM stops up and every child (the encoder too), exit 0', async () => {
    const pids = status.components.map((c) => c.pid).filter(Boolean);
    up.proc.kill('SIGTERM');
    const { code } = await up.exited;
    assert.equal(code, 0, up.output());
    for (const pid of pids) assert.ok(!existsSync(`/proc/${pid}`), `child ${pid} still running`);
  });
});
