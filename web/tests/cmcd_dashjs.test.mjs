// dash.js 5 with CMCD on, in headless Chromium, plays the packaged default content through
// a dashcdn edge (origin 127.0.0.1 → edge 127.0.0.3 → page on 127.0.0.2), once in query
// mode (`?CMCD=...`) and once in header mode (`CMCD-*` headers, with their CORS preflight):
// the edge answers every request normally, counts the CMCD requests by mode, never finds
// dash.js's CMCD malformed nor its `nor` hint hostile, keeps each session (sid) with its
// reports on /debug/cmcd, and every bitrate it counts is one of the MPD's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contentDir, startStack, waitInPage, WEB_DIR } from './lib/harness.mjs';

const MPD = 'default/manifest.mpd';
const DASHJS = join(WEB_DIR, 'vendor', 'dash.all.min.js');

/** Every sample of `name` in a Prometheus exposition: [{ labels, value }]. */
function samples(text, name) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const labels = Object.fromEntries([...rest.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    out.push({ labels, value: Number(line.split(' ').pop()) });
  }
  return out;
}
const value = (text, name, labels = {}) => samples(text, name)
  .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  .reduce((a, s) => a + s.value, 0);

describe('dash.js CMCD through the edge', () => {
  let stack, media, edge, web, browser;

  before(async () => {
    assert.ok(existsSync(join(contentDir(), MPD)), `no packaged default content at ${contentDir()}: run \`dashcdn package\` first`);
    assert.ok(existsSync(DASHJS), 'web/vendor/dash.all.min.js missing: run `npm run vendor` in web/');
    stack = await startStack({ edge: { id: 'edge-cmcd-test' } });
    ({ media, edge, web, browser } = stack);
  });

  after(async () => {
    await stack?.stop();
  });

  /** Plays the MPD through the edge with CMCD in `mode` and session `sid` past 8 s. */
  async function play(mode, sid) {
    const page = await browser.context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const failed = [];
    page.on('response', (res) => { if (res.url().startsWith(edge.url) && res.status() >= 400) failed.push(`${res.status()} ${res.url()}`); });
    const cmcdSent = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(edge.url) || req.method() !== 'GET') return;
      const h = req.headers();
      if (req.url().includes('CMCD=') || Object.keys(h).some((k) => k.startsWith('cmcd-'))) cmcdSent.push(req.url());
    });
    await page.goto(`${web.url}/healthz`);
    await page.setContent('<!doctype html><video id="video" muted playsinline></video>');
    await page.addScriptTag({ path: DASHJS });
    await page.evaluate(({ url, mode, sid }) => {
      window.dashErrors = [];
      const p = window.dashjs.MediaPlayer().create();
      p.updateSettings({ streaming: { cmcd: { enabled: true, mode, sid, cid: 'default' } } });
      p.on(window.dashjs.MediaPlayer.events.ERROR, (e) => window.dashErrors.push(JSON.stringify(e.error || e)));
      p.initialize(document.getElementById('video'), url, true);
      window.player = p;
    }, { url: `${edge.url}/${MPD}`, mode, sid });
    await waitInPage(page, () => document.getElementById('video').currentTime > 8, null, { timeoutMs: 90000, what: `dash.js (${mode}) playing past 8 s` });
    const errors = await page.evaluate(() => window.dashErrors);
    assert.deepEqual(errors, [], `dash.js errors (${mode})`);
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.deepEqual(failed, [], 'the edge refused requests');
    assert.ok(cmcdSent.length > 5, `dash.js sent CMCD on only ${cmcdSent.length} requests (${mode})`);
    await page.close();
    return cmcdSent.length;
  }

  it('counts query- and header-mode CMCD, keeps the sessions, finds nothing malformed', async () => {
    const sentQuery = await play('query', 'dashjs-query-session');
    const sentHeader = await play('headers', 'dashjs-header-session'); // dash.js 5's value (its typings say 'header')
    const metrics = await (await fetch(`${edge.url}/metrics`)).text();
    const query = value(metrics, 'dashcdn_edge_cmcd_requests_total', { mode: 'query' });
    const header = value(metrics, 'dashcdn_edge_cmcd_requests_total', { mode: 'header' });
    // every request that carried CMCD was counted, in its mode (the page may still be
    // fetching when it closes: at least as many as the browser reported sending)
    assert.ok(query >= sentQuery && header >= sentHeader, `edge counted query ${query}/${sentQuery}, header ${header}/${sentHeader}`);
    assert.equal(value(metrics, 'dashcdn_edge_cmcd_invalid_total'), 0, 'dash.js CMCD judged malformed');
    assert.equal(value(metrics, 'dashcdn_edge_cmcd_nor_rejected_total'), 0, 'dash.js nor judged hostile');
    assert.equal(value(metrics, 'dashcdn_edge_cmcd_sessions'), 2);
    assert.ok(value(metrics, 'dashcdn_edge_cmcd_measured_throughput_kbps') > 0, 'no mtp');
    // every bitrate counted is one of the MPD's representations (kbit/s; dash.js truncates)
    const mpd = readFileSync(join(contentDir(), MPD), 'utf8');
    const ladder = [...mpd.matchAll(/bandwidth="(\d+)"/g)].flatMap((m) => [Math.floor(Number(m[1]) / 1000), Math.round(Number(m[1]) / 1000)]);
    const brs = samples(metrics, 'dashcdn_edge_cmcd_bitrate_requests_total').map((s) => s.labels.br_kbps);
    assert.ok(brs.length > 0 && brs.every((b) => ladder.includes(Number(b))), `br ${brs} not in ladder ${ladder}`);
    const dbg = await (await fetch(`${edge.url}/debug/cmcd`)).json();
    const sids = dbg.sessions.map((s) => s.sid).sort();
    assert.deepEqual(sids, ['dashjs-header-session', 'dashjs-query-session']);
    for (const s of dbg.sessions) {
      assert.ok(s.requests > 5 && s.cid === 'default' && s.bl !== null && s.br !== null, JSON.stringify(s));
    }
    const nor = value(metrics, 'dashcdn_edge_prefetch_fills_total', { source: 'nor' });
    const norHits = value(metrics, 'dashcdn_edge_prefetch_hits_total', { source: 'nor' });
    console.log(`dash.js CMCD: query ${query} (browser sent ${sentQuery}), header ${header} (sent ${sentHeader}), ` +
      `bitrates ${brs.join(',')} kbit/s, nor prefetch fills ${nor}, hits ${norHits}; sessions ${JSON.stringify(dbg.sessions.map((s) => ({ sid: s.sid, requests: s.requests, mtp: s.mtp, bl: s.bl, br: s.br })))}`);
  });
});
