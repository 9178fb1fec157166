// Issue 14: an edge killed during a LIVE session — playback continues from another edge.
// dash.js 5 in headless Chromium plays the redirector's STEERED MPD of the looped live stream
// (`/steered/live/default/manifest.mpd`: one BaseURL per edge + DASH-IF ContentSteering), through
// two dashcdn edges; after ~15 s of playback the edge serving the segments is SIGKILLed and
// playback goes on ~25 s more. Processes: media origin 127.0.0.1, page 127.0.0.2, edges
// 127.0.0.3 / 127.0.0.4, redirector 127.0.0.5 (health every 250 ms, steering TTL 1 s).
// Checks: the playhead keeps up with the wall clock across the kill, segments come from the
// other edge after it, the longest stall is under STALL_BOUND_MS, no dash.js error but the
// non-fatal download errors for requests the dead edge refused, and the
// live latency is back within the target ± one segment at the end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { contentDir, installStallMonitor, startRedirector, startServer, startStack, waitInPage, WEB_DIR } from './lib/harness.mjs';

const ASSET = 'default';
const SEGMENT_SECONDS = 2; // the packager's default
const TARGET_LATENCY = 6; // the live MPD's suggestedPresentationDelay
const PLAY_BEFORE_KILL = 15;
const PLAY_AFTER_KILL = 25;
const STEERING_TTL = 1; // seconds: how often dash.js asks /steer
// Health (startRedirector): every 250 ms, 500 ms timeout, down after 2 failures: a dead edge is
// marked down at most 2 × (250 + 500) ms after it dies (a killed process refuses connections at
// once, so in practice ~0.5 s).
const HEALTH_FALL_MS = 2 * (250 + 500);
// Worst case for the player: it learns of the death at its next steering answer (≤ TTL), by
// which time health has dropped the edge (≤ fall time), and then fetches one segment from the
// other edge (≤ one segment duration at real time). Anything the buffer covers is not a stall.
const STALL_BOUND_MS = STEERING_TTL * 1000 + HEALTH_FALL_MS + SEGMENT_SECONDS * 1000;

describe('an edge killed during a live session: playback continues from the other edge', { timeout: 90000 }, () => {
  let stack, web, browser, e1, e2, redirector;

  before(async () => {
    assert.ok(existsSync(join(contentDir(), ASSET, 'manifest.mpd')), `no packaged default content at ${contentDir()}: run \`dashcdn package\` first`);
    assert.ok(existsSync(join(WEB_DIR, 'vendor', 'dash.all.min.js')), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    stack = await startStack({ edge: { id: 'e1' } });
    ({ web, browser } = stack);
    e1 = stack.edge;
    e2 = await startServer(['edge', '--upstream', stack.media.url, '--listen', '127.0.0.4:0', '--id', 'e2', '--mem', '256MiB'], { name: 'edge e2' });
    redirector = await startRedirector([{ id: 'e1', url: e1.url }, { id: 'e2', url: e2.url }], { steeringTtl: STEERING_TTL });
  });

  after(async () => {
    redirector?.stop();
    e2?.stop();
    await stack?.stop();
  });

  it(`SIGKILL of the serving edge after ${PLAY_BEFORE_KILL} s: playback goes on from the other edge, stall < ${STALL_BOUND_MS} ms, latency back at target`, async () => {
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // every media segment response, with the wall time it arrived
    const segs = [];
    const steers = [];
    const failed = []; // segment requests that got no response (the dead edge refusing connections)
    page.on('requestfailed', (req) => { if (req.url().endsWith('.m4s')) failed.push({ at: Date.now(), url: req.url() }); });
    page.on('response', (res) => {
      const u = res.url();
      if (u.startsWith(`${redirector.url}/steer?`)) steers.push(res.status());
      if (u.endsWith('.m4s')) segs.push({ at: Date.now(), url: u, status: res.status() });
    });
    const mpdUrl = `${redirector.url}/steered/live/${ASSET}/manifest.mpd`;
    await page.goto(`${web.url}/index.html?mpd=${encodeURIComponent(mpdUrl)}`);
    await waitInPage(page, () => {
      const v = document.getElementById('video');
      return v && v.currentTime > 0 && !v.paused && v.readyState >= 3;
    }, null, { timeoutMs: 30000, what: 'live playback to start' });
    await page.evaluate(installStallMonitor);
    const sample = () => page.evaluate(() => ({
      t: document.getElementById('video').currentTime,
      latency: window.player.getCurrentLiveLatency(),
      target: window.player.getTargetLiveDelay(),
    }));
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

    // ~15 s of playback, then kill whichever edge the last segments came from.
    const t0 = Date.now();
    const start = await sample();
    const beforeKill = [];
    while (Date.now() - t0 < PLAY_BEFORE_KILL * 1000) { await sleep(1000); beforeKill.push(await sample()); }
    const last = segs.filter((s) => s.status === 200).at(-1);
    assert.ok(last, 'no segment fetched before the kill');
    const [victim, survivor] = last.url.startsWith(e1.url) ? [e1, e2] : [e2, e1];
    assert.ok(last.url.startsWith(victim.url), `last segment ${last.url} from neither edge`);
    const atKill = await sample();
    const errorsBeforeKill = await page.evaluate(() => window.playback.errors.slice());
    const killedAt = Date.now();
    victim.proc.kill('SIGKILL');

    const afterKill = [];
    while (Date.now() - killedAt < PLAY_AFTER_KILL * 1000) { await sleep(1000); afterKill.push(await sample()); }
    const end = afterKill.at(-1);
    const wallAfter = (Date.now() - killedAt) / 1000;
    const s = await page.evaluate(() => ({ stall: window.stallMon.max, errors: window.playback.errors, dynamic: window.player.isDynamic() }));

    const firstOther = segs.find((x) => x.at >= killedAt && x.status === 200 && x.url.startsWith(survivor.url));
    const fromVictimAfter = segs.filter((x) => x.at > killedAt + 1000 && x.status === 200 && x.url.startsWith(victim.url));
    const latBefore = atKill.latency;
    const latEnd = end.latency;
    console.log(`live failover: killed ${victim === e1 ? 'e1' : 'e2'} (${victim.url}) at t=${atKill.t.toFixed(1)} s after ${((killedAt - t0) / 1000).toFixed(1)} s of playback; `
      + `first segment from the other edge ${firstOther ? `${firstOther.at - killedAt} ms` : 'never'} after the kill; `
      + `${segs.filter((x) => x.at >= killedAt && x.url.startsWith(survivor.url)).length} segments from it after; `
      + `played ${(end.t - atKill.t).toFixed(1)} s in ${wallAfter.toFixed(1)} s wall after the kill; longest stall ${Math.round(s.stall)} ms (bound ${STALL_BOUND_MS} ms); `
      + `latency before kill ${latBefore.toFixed(2)} s, min/max after ${Math.min(...afterKill.map((x) => x.latency)).toFixed(2)}/${Math.max(...afterKill.map((x) => x.latency)).toFixed(2)} s, end ${latEnd.toFixed(2)} s (target ${end.target} s); `
      + `${steers.length} steering requests, ${failed.filter((x) => x.at >= killedAt).length} segment requests failed after the kill, `
      + `${s.errors.length - errorsBeforeKill.length} dash.js download errors for them`);

    assert.equal(s.dynamic, true, 'dash.js did not see a dynamic MPD');
    // Before the kill: no error at all. After it: dash.js reports each request the dead edge
    // refused as a non-fatal download error (code 27, DOWNLOAD_ERROR_ID_CONTENT) before it
    // retries on the other BaseURL; any other error, or one naming the survivor, fails.
    assert.deepEqual(errorsBeforeKill, [], 'dash.js reported errors before the kill');
    const unexpected = s.errors.slice(errorsBeforeKill.length).filter((e) => {
      const err = (() => { try { return JSON.parse(e.detail); } catch { return null; } })();
      return !(e.type === 'ERROR' && err?.code === 27 && typeof err.message === 'string' && err.message.startsWith(victim.url));
    });
    assert.deepEqual(unexpected.map((e) => `${e.type} ${e.detail}`.slice(0, 300)), [], 'dash.js reported errors other than refused requests to the killed edge');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.ok(atKill.t - start.t >= (killedAt - t0) / 1000 - 1.5, `playhead fell behind before the kill: ${(atKill.t - start.t).toFixed(1)} s played`);
    // playback continues: the playhead keeps up with the wall clock across the kill
    assert.ok(end.t - atKill.t >= wallAfter - 1.5 - STALL_BOUND_MS / 1000, `the playhead fell behind after the kill: ${(end.t - atKill.t).toFixed(1)} s played in ${wallAfter.toFixed(1)} s`);
    for (let i = 1; i < afterKill.length; i++) {
      assert.ok(afterKill[i].t >= afterKill[i - 1].t, 'currentTime went backwards');
    }
    assert.ok(afterKill.slice(-5).every((x, i, a) => i === 0 || x.t > a[i - 1].t), 'playback not advancing at the end');
    // segments come from the other edge after the kill (and never again from the dead one)
    assert.ok(firstOther, `no segment from ${survivor.url} after the kill`);
    assert.ok(segs.filter((x) => x.at >= killedAt && x.status === 200 && x.url.startsWith(survivor.url)).length >= 5, 'too few segments from the other edge');
    assert.deepEqual(fromVictimAfter, [], 'segments from the killed edge after the kill');
    assert.ok(steers.length >= 3 && steers.every((x) => x === 200), `dash.js did not poll the steering server: ${steers}`);
    assert.ok(s.stall < STALL_BOUND_MS, `stall of ${Math.round(s.stall)} ms (bound ${STALL_BOUND_MS} ms)`);
    // latency: within target ± one segment before the kill and again at the end
    assert.equal(end.target, TARGET_LATENCY, 'the target is the MPD suggestedPresentationDelay');
    assert.ok(Math.abs(latBefore - TARGET_LATENCY) <= SEGMENT_SECONDS, `latency before the kill ${latBefore} s`);
    assert.ok(Math.abs(latEnd - TARGET_LATENCY) <= SEGMENT_SECONDS, `latency at the end ${latEnd} s not within ${TARGET_LATENCY} ± ${SEGMENT_SECONDS} s`);
    await page.close();
  });
});
