// Shaka Player in headless Chromium plays the packaged default content through a dashcdn
// edge (origin 127.0.0.1 → edge 127.0.0.3 → page on 127.0.0.2) and its CMSD handling sees
// the edge's CMSD: the headers reach Shaka cross-origin (its `downloadheadersreceived`
// event), the edge's entry is the last of CMSD-Dynamic, and with
// `cmsd.estimatedThroughputWeightRatio = 1` Shaka's bandwidth estimate IS the edge's `etp`
// (kbit/s × 1000), which the edge caps at its --limit-rate; lowering the limit at run time
// lowers Shaka's estimate and makes it switch down.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { contentDir, startStack, waitInPage, WEB_DIR } from './lib/harness.mjs';

const MPD = 'default/manifest.mpd';
const EDGE_ID = 'edge-shaka-test';
const LIMIT_BPS = 6_000_000;
const LOW_BPS = 1_000_000;
const SHAKA = join(WEB_DIR, 'node_modules', 'shaka-player', 'dist', 'shaka-player.compiled.js');

/** The closest (last) entry of a CMSD-Dynamic value: { server, params }. */
function closest(value) {
  const entries = value.split(/,\s*(?=")/);
  const [server, ...params] = entries[entries.length - 1].split(';');
  return {
    server: server.replace(/"/g, ''),
    params: Object.fromEntries(params.map((p) => { const [k, v] = p.split('='); return [k, v === undefined ? true : Number(v)]; })),
  };
}

describe('Shaka Player reads the edge CMSD', () => {
  let stack, media, edge, web, browser;

  before(async () => {
    assert.ok(existsSync(join(contentDir(), MPD)), `no packaged default content at ${contentDir()}: run \`dashcdn package\` first`);
    assert.ok(existsSync(SHAKA), 'shaka-player missing: run `npm ci` in web/');
    stack = await startStack({ edge: { id: EDGE_ID, args: ['--limit-rate', String(LIMIT_BPS), '--admin-token', 'shaka-test'] } });
    ({ media, edge, web, browser } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  it('plays through the edge and takes its etp as the bandwidth estimate', async () => {
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // A page on its own origin (not the edge's): a blank document with a video element.
    await page.goto(`${web.url}/healthz`);
    await page.setContent('<!doctype html><video id="video" muted playsinline></video>');
    await page.addScriptTag({ path: SHAKA });
    const mpdUrl = `${edge.url}/${MPD}`;
    await page.evaluate(async (url) => {
      const s = window.shaka;
      s.polyfill.installAll();
      const player = new s.Player();
      window.player = player;
      window.seen = [];
      window.shakaErrors = [];
      player.addEventListener('error', (e) => window.shakaErrors.push(String(e.detail && e.detail.code)));
      player.addEventListener('downloadheadersreceived', (e) => {
        const h = e.headers || {};
        if (h['cmsd-dynamic']) window.seen.push({ dynamic: h['cmsd-dynamic'], static: h['cmsd-static'] || null });
      });
      player.configure({
        cmsd: { enabled: true, applyMaximumSuggestedBitrate: true, estimatedThroughputWeightRatio: 1 },
        abr: { useNetworkInformation: false },
      });
      await player.attach(document.getElementById('video'));
      await player.load(url);
      document.getElementById('video').play();
    }, mpdUrl);
    await waitInPage(page, () => document.getElementById('video').currentTime > 8 && window.seen.length > 6, null, { timeoutMs: 90000, what: 'Shaka playing past 8 s' });
    const state = await page.evaluate(() => ({
      seen: window.seen,
      errors: window.shakaErrors,
      estimate: window.player.getStats().estimatedBandwidth,
      width: document.getElementById('video').videoWidth,
    }));
    assert.deepEqual(state.errors, [], 'Shaka reported errors');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.ok(state.width > 0, 'no video decoded');
    // Shaka read the headers cross-origin (Access-Control-Expose-Headers), the edge's entry last.
    const entries = state.seen.map((s) => closest(s.dynamic));
    assert.ok(entries.every((e) => e.server === EDGE_ID), `entries: ${JSON.stringify(state.seen.slice(0, 3))}`);
    assert.ok(entries.every((e) => Number.isInteger(e.params.rd)), 'rd on every response');
    assert.ok(entries.every((e) => e.params.du === undefined), 'an idle edge is not in duress');
    const etps = entries.map((e) => e.params.etp).filter((x) => x !== undefined);
    assert.ok(etps.length > 0, 'no etp seen');
    assert.ok(etps.every((x) => x > 0 && x <= LIMIT_BPS / 1000), `etp above the edge's limit: ${etps}`);
    const statics = state.seen.map((s) => s.static).filter(Boolean);
    assert.ok(statics.some((s) => /(^|,)ot=v(,|$)/.test(s)), `no video CMSD-Static: ${statics}`);
    assert.ok(statics.some((s) => /(^|,)ot=m(,|$)/.test(s)), `no manifest CMSD-Static: ${statics}`);
    // Shaka's ABR took the edge's etp as its estimate (weight ratio 1).
    assert.ok(etps.includes(state.estimate / 1000), `Shaka estimate ${state.estimate} bit/s is not an etp the edge sent (${etps})`);
    // The edge's limit drops: its etp follows, Shaka's estimate follows, Shaka switches down.
    const r = await fetch(`${edge.url}/_dashcdn/limit-rate`, {
      method: 'POST', headers: { authorization: 'Bearer shaka-test', 'content-type': 'application/json' },
      body: JSON.stringify({ bits_per_sec: LOW_BPS }),
    });
    assert.equal(r.status, 200, await r.text());
    const low = await waitInPage(page, (max) => {
      const s = window.player.getStats();
      return s.estimatedBandwidth <= max && s.streamBandwidth < max ? { estimate: s.estimatedBandwidth, stream: s.streamBandwidth } : null;
    }, LOW_BPS, { timeoutMs: 60000, what: 'Shaka estimate and stream under the lowered edge limit' });
    console.log(`shaka: ${state.seen.length} responses with CMSD, etp kbit/s ${Math.min(...etps)}..${Math.max(...etps)} (limit ${LIMIT_BPS / 1000}), Shaka estimate ${state.estimate} bit/s; after the limit dropped to ${LOW_BPS}: estimate ${low.estimate}, stream ${low.stream} bit/s`);
    await page.close();
  });
});
