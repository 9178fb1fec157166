// The live page of `dashcdn up`: a dash.js player on the redirector's steered MPD, beside a
// panel refreshed every second from the components' own endpoints (nothing here is made up):
//   - the player: dash.js's own API (representation, buffer, measured throughput) and the
//     X-Served-By / X-Cache headers of every segment response (a dash.js response interceptor);
//   - the edges: each edge's /metrics (hits, misses, stale, bytes) and the redirector's
//     /debug/edges (health as the redirector sees it); the origin's /metrics (offload);
//   - the redirector's /debug/decisions;
//   - what the players report through CMCD (dash.js sends it: sid per page load, cid = the
//     asset, query mode), as each edge counts it in its /metrics (sessions, buffer
//     starvation, measured throughput, bitrate mix), next to what the edge measures itself
//     (hit ratio, bytes sent per second); and the CMSD-Dynamic the serving edge answers with.
// Streams: VoD (the steered MPD), the origin's looped live stream and, with `up --live`, the
// low-latency stream of `dashcdn live` (/api/status says which exist), all through the
// redirector; for the live ones dash.js's live latency, its target and the playback rate,
// and for `dashcdn live` the clock burned into the picture vs the page's clock
// (live-clock.js, shared with live.html). `?stream=vod|looped|ll` picks the first one.
// Local mode (served by `dashcdn up`): /api/status gives the URLs and the controls appear
// (kill / start edges, stop / start the origin, throttle the link); /api/events shows deaths.
// Static mode (any static server): URLs from the query, e.g.
//   up.html?redirector=http://127.0.0.1:8053&origin=http://127.0.0.1:8080[&edges=id=url,...][&mpd=URL]
// and no controls. Tests read window.upPage.
'use strict';

const page = window.upPage = {
  local: false, urls: null, errors: [], segments: [], rendered: [], edges: {}, events: [],
  serving: null, decisions: [], ready: false,
};
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
const fmtBytes = (b) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(0)} kB` : `${b | 0} B`);
const fmtKbps = (k) => (Number.isFinite(k) && k > 0 ? (k >= 1000 ? `${(k / 1000).toFixed(2)} Mbit/s` : `${Math.round(k)} kbit/s`) : '–');
const clock = (ms) => new Date(ms).toISOString().slice(11, 19);

async function getJson(url, opts) {
  const res = await fetch(url, { cache: 'no-store', ...opts });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

/** Prometheus text → { name: [{labels, value}] } (enough for our servers' counters). */
function parseProm(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m) continue;
    (out[m[1]] ||= []).push({ labels: m[2] || '', value: Number(m[3]) });
  }
  return out;
}
const sum = (prom, name) => (prom[name] || []).reduce((a, s) => a + s.value, 0);

// ---- configuration: local (served by up) or static (query parameters) ----
async function configure() {
  const q = new URLSearchParams(location.search);
  try {
    const st = await getJson('/api/status');
    page.local = true;
    page.urls = st.urls;
    page.status = st;
  } catch {
    const redirector = (q.get('redirector') || 'http://127.0.0.1:8053').replace(/\/$/, '');
    const edges = (q.get('edges') || '').split(',').filter(Boolean).map((e) => {
      const [id, url] = e.includes('=') ? e.split('=') : [e, e];
      return { id, url: url.replace(/\/$/, ''), region: '' };
    });
    page.urls = {
      redirector, origin: (q.get('origin') || '').replace(/\/$/, '') || null, shield: q.get('shield'),
      steered_mpd: `${redirector}/steered/default/manifest.mpd`, mpd: `${redirector}/default/manifest.mpd`, edges,
      looped_live_mpd: `${redirector}/live/default/manifest.mpd`, low_latency_mpd: q.get('ll'),
    };
  }
  if (q.get('mpd')) page.urls.steered_mpd = q.get('mpd');
  page.streams = [{ id: 'vod', label: 'VoD', mpd: page.urls.steered_mpd }];
  if (page.urls.looped_live_mpd) page.streams.push({ id: 'looped', label: 'looped live', mpd: page.urls.looped_live_mpd, live: true });
  if (page.urls.low_latency_mpd) page.streams.push({ id: 'll', label: 'low-latency live (dashcdn live)', mpd: page.urls.low_latency_mpd, live: true, clock: true });
  page.stream = page.streams.find((s) => s.id === q.get('stream')) || page.streams[0];
  $('stream').innerHTML = page.streams.map((s) => `<option value="${esc(s.id)}">${esc(s.label)}</option>`).join('');
  $('stream').value = page.stream.id;
  $('stream').onchange = () => switchStream($('stream').value);
  for (const el of document.querySelectorAll('.controls-only')) el.hidden = !page.local;
  $('sub').textContent = page.local
    ? `local mode: controls through dashcdn up's API · run dir ${page.status.run_dir} · playing ${page.urls.steered_mpd}`
    : `static mode (no control API): redirector ${page.urls.redirector} · playing ${page.urls.steered_mpd}`;
}

// ---- the player ----
let player;
/** One CMCD session id per page load (CTA-5004 recommends a UUID). */
function sessionId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
/** The content id of an MPD URL: the path segment before the file (`/steered/default/manifest.mpd` → `default`). */
function contentId(mpd) {
  const parts = new URL(mpd, location.href).pathname.split('/').filter(Boolean);
  return parts.length > 1 ? parts[parts.length - 2] : parts[0] || 'default';
}
function startPlayer() {
  const video = $('video');
  player = window.player = dashjs.MediaPlayer().create();
  // A short buffer (10 s instead of dash.js's 12-30 s) so that a throttle or a dead edge
  // shows in the rendered quality within seconds, not after half a minute of buffered video.
  // CMCD on every request (MPD and segments) as a query argument, so the edges can count
  // what the players report; the edges strip it from the cache key and the upstream request.
  page.cmcd = { sid: sessionId(), cid: contentId(page.stream.mpd) };
  player.updateSettings({
    debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
    streaming: {
      buffer: { bufferTimeDefault: 10, bufferTimeAtTopQuality: 10, bufferTimeAtTopQualityLongForm: 10 },
      cmcd: { enabled: true, sid: page.cmcd.sid, cid: page.cmcd.cid, mode: 'query' },
    },
  });
  const E = dashjs.MediaPlayer.events;
  // The default content is one minute long: start it again (from the edges' caches: HITs).
  player.on(E.PLAYBACK_ENDED, () => { page.loops = (page.loops || 0) + 1; player.seek(0); player.play(); });
  player.on(E.ERROR, (e) => page.errors.push(JSON.stringify(e.error || e).slice(0, 300)));
  player.on(E.QUALITY_CHANGE_RENDERED, (e) => {
    if (e.mediaType !== 'video') return;
    const r = e.newRepresentation || {};
    page.rendered.push({ id: r.id, bandwidth: r.bandwidth, height: r.height, at: video.currentTime });
  });
  // Every response dash.js receives passes here: the edge and the cache status of each segment.
  player.addResponseInterceptor((res) => {
    try {
      const req = res.request?.customData?.request || {};
      if (req.type === 'MediaSegment' || req.type === 'InitializationSegment') {
        const h = {};
        for (const [k, v] of Object.entries(res.headers || {})) h[k.toLowerCase()] = v;
        const url = res.url || res.request?.url || '';
        page.segments.push({
          at: Date.now(), url, type: req.type === 'MediaSegment' ? 'media' : 'init', mediaType: req.mediaType,
          edge: h['x-served-by'] || null, cache: (h['x-cache'] || '').split(/[ ,;]/)[0] || null,
          bytes: res.data?.byteLength || Number(h['content-length']) || 0, status: res.status,
        });
        if (page.segments.length > 2000) page.segments.splice(0, 1000);
        if (h['x-served-by'] && req.mediaType === 'video') page.serving = h['x-served-by'];
        if (h['cmsd-dynamic'] && req.mediaType === 'video') page.cmsd = h['cmsd-dynamic'];
      }
    } catch (err) { page.errors.push(`interceptor: ${err}`); }
    return Promise.resolve(res);
  });
  player.initialize(video, page.stream.mpd, true);
  streamChanged();
}

// ---- live streams: latency, target, playback rate, picture clock ----
/** Plays another of page.streams (same player, same CMCD session; cid follows the stream). */
function switchStream(id) {
  const s = page.streams.find((x) => x.id === id);
  if (!s || s === page.stream) return;
  page.stream = s;
  page.cmcd.cid = contentId(s.mpd);
  player.updateSettings({ streaming: { cmcd: { cid: page.cmcd.cid } } });
  player.attachSource(s.mpd);
  streamChanged();
}
const readPictureClock = LiveClock.createReader();
/** Resets the live figures for page.stream; for a stream with a picture clock, syncs the page clock to its UTCTiming. */
async function streamChanged() {
  const s = page.stream;
  $('stream-url').textContent = s.mpd;
  $('live-panel').hidden = !s.live;
  const st = page.live = s.live ? { stream: s.id, samples: [], offsetMs: null, glass: null } : null;
  for (const id of ['live-latency', 'live-target', 'live-rate', 'live-glass']) $(id).textContent = '–';
  if (!s.clock) { if (st) $('live-glass').textContent = 'no clock in this picture'; return; }
  try {
    const timing = LiveClock.utcTimingUrls(await (await fetch(s.mpd, { cache: 'no-store' })).text());
    if (!timing.length) throw new Error('no UTCTiming in the MPD');
    st.offsetMs = (await LiveClock.syncClock(timing[timing.length - 1])).offsetMs;
  } catch (e) { page.errors.push(`clock sync: ${e}`); }
}
/** Every presented frame of a stream with a picture clock: page clock (synced) − picture clock. */
function onFrame(now, meta) {
  const st = page.live, video = $('video');
  if (st && page.stream.clock && st.offsetMs !== null) {
    const pic = readPictureClock(video);
    const shown = performance.timeOrigin + (meta.expectedDisplayTime || now) + st.offsetMs;
    if (pic !== null) st.glass = LiveClock.wrapDay(shown - pic) / 1000;
  }
  video.requestVideoFrameCallback(onFrame);
}
function liveTick() {
  const st = page.live;
  if (!st || !player) return;
  const video = $('video');
  let latency = NaN, target = NaN;
  try { latency = player.getCurrentLiveLatency(); target = player.getTargetLiveDelay(); } catch { /* not ready */ }
  const rate = video.playbackRate;
  if (Number.isFinite(latency) && latency > 0 && !video.paused) {
    st.samples.push({ at: Date.now(), latency, target, rate, glass: st.glass });
    if (st.samples.length > 4000) st.samples.splice(0, 2000);
  }
  $('live-latency').textContent = Number.isFinite(latency) && latency > 0 ? `${latency.toFixed(2)} s` : '–';
  $('live-target').textContent = Number.isFinite(target) && target > 0 ? `${target.toFixed(2)} s` : '–';
  $('live-rate').textContent = `${rate.toFixed(3)}×`;
  if (page.stream.clock) $('live-glass').textContent = st.glass === null ? (st.offsetMs === null ? 'syncing clock…' : 'reading…') : `${st.glass.toFixed(2)} s behind`;
}

// ---- the panel ----
const history = [];
function playerTick() {
  if (!player) return;
  const video = $('video');
  const rep = player.getCurrentRepresentationForType ? player.getCurrentRepresentationForType('video') : null;
  const buf = player.getBufferLength('video');
  const tput = player.getAverageThroughput('video');
  $('rep').textContent = rep ? `${rep.id}` : '–';
  $('bitrate').textContent = rep ? fmtKbps(rep.bandwidth / 1000) : '–';
  $('res').textContent = video.videoWidth ? `${video.videoWidth}×${video.videoHeight}` : '–';
  $('buf').textContent = Number.isFinite(buf) ? `${buf.toFixed(1)} s` : '–';
  $('tput').textContent = fmtKbps(tput);
  $('serving').textContent = page.serving || '–';
  // The closest hop's CMSD-Dynamic entry (the last one): `"edge-eu";etp=52000;rd=1`.
  const last = (page.cmsd || '').split(',').pop().trim();
  const etp = last.match(/;etp=(\d+)/);
  $('cmsd').textContent = last ? `${etp ? fmtKbps(Number(etp[1])) : 'no etp'}${/;du(;|$)/.test(last) ? ', duress' : ''}` : '–';
  history.push({ t: Date.now(), kbps: rep ? rep.bandwidth / 1000 : NaN, tput: Number.isFinite(tput) ? tput : NaN, buf: Number.isFinite(buf) ? buf : NaN });
  while (history.length && history[0].t < Date.now() - 120000) history.shift();
  drawChart();
  const rows = page.segments.filter((s) => s.type === 'media').slice(-20).reverse();
  $('segments').innerHTML = rows.map((s) => `<tr><td>${clock(s.at)}</td><td>${esc(s.mediaType)}</td><td>${esc(s.url.replace(/^https?:\/\/[^/]+\//, '').replace(/[?&]CMCD=[^&]*/, ''))}</td><td>${esc(s.edge || '?')}</td><td class="${esc(s.cache)}">${esc(s.cache || '?')}</td><td>${fmtBytes(s.bytes)}</td></tr>`).join('');
}

function drawChart() {
  const c = $('chart');
  const ctx = c.getContext('2d');
  const W = c.width, H = c.height, L = 92, R = 40, T = 10, B = 22;
  ctx.clearRect(0, 0, W, H);
  ctx.font = '18px system-ui'; ctx.fillStyle = '#8a929c'; ctx.strokeStyle = '#2a2e34'; ctx.lineWidth = 1;
  const now = Date.now(), t0 = now - 120000;
  // kbit/s on a log axis (loopback throughput is 100x the top rung), buffer linear
  const lo = 100, hi = Math.max(10000, ...history.map((h) => Math.max(h.kbps || 0, h.tput || 0))) * 1.5;
  const maxB = Math.max(10, ...history.map((h) => h.buf || 0)) * 1.1;
  const x = (t) => L + ((t - t0) / 120000) * (W - L - R);
  const yk = (k) => H - B - (Math.log(Math.max(lo, k) / lo) / Math.log(hi / lo)) * (H - T - B);
  const yb = (b) => H - B - (b / maxB) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = T + (i / 4) * (H - T - B);
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(W - R, y); ctx.stroke();
    ctx.fillText(fmtKbps(lo * (hi / lo) ** (1 - i / 4)).replace('bit/s', ''), 2, y + 6);
    ctx.fillText(`${Math.round(maxB * (1 - i / 4))}s`, W - R + 4, y + 6);
  }
  ctx.fillText('-2 min', L, H - 2); ctx.fillText('now', W - R - 30, H - 2);
  const line = (key, y, color) => {
    ctx.strokeStyle = color; ctx.lineWidth = 2.5; ctx.beginPath();
    let started = false;
    for (const h of history) {
      if (!Number.isFinite(h[key])) { started = false; continue; }
      if (!started) { ctx.moveTo(x(h.t), y(h[key])); started = true; } else ctx.lineTo(x(h.t), y(h[key]));
    }
    ctx.stroke();
  };
  line('tput', yk, '#f0c05a'); line('kbps', yk, '#6cb6ff'); line('buf', yb, '#5fd47a');
  ctx.lineWidth = 1; ctx.strokeStyle = '#2a2e34';
}

const prev = {};
// The last answer of an edge that stopped answering (its counters die with the process).
const lastSeen = {};
async function edgesTick() {
  const u = page.urls;
  let health = {};
  try {
    const d = await getJson(`${u.redirector}/debug/edges`);
    for (const e of d.edges || []) {
      health[e.id] = e;
      if (!u.edges.some((x) => x.id === e.id)) u.edges.push({ id: e.id, url: e.url, region: e.region || '' });
    }
  } catch { health = null; }
  const procs = {};
  if (page.local) {
    try {
      const st = await getJson('/api/status');
      page.status = st;
      for (const c of st.components) procs[c.id] = c;
    } catch { /* up is gone */ }
  }
  const now = Date.now();
  let edgeBytes = 0;
  // The player-facing edges, then the shield (the mid-tier parent: not routed to, no health).
  const tiers = u.edges.map((e) => ({ ...e, tier: 'edge' }));
  if (u.shield) {
    const id = (page.status?.components || []).find((c) => c.role === 'shield')?.id || 'shield';
    tiers.push({ id, url: u.shield, region: 'mid-tier', tier: 'shield' });
  }
  const rows = await Promise.all(tiers.map(async (e) => {
    let m = null;
    try {
      const prom = parseProm(await (await fetch(`${e.url}/metrics`, { cache: 'no-store' })).text());
      m = {
        hits: sum(prom, 'dashcdn_edge_hits_total'), misses: sum(prom, 'dashcdn_edge_misses_total'),
        stale: sum(prom, 'dashcdn_edge_stale_total'), revalidated: sum(prom, 'dashcdn_edge_revalidated_total'),
        sent: sum(prom, 'dashcdn_edge_sent_bytes_total'),
        cmcd: {
          requests: sum(prom, 'dashcdn_edge_cmcd_requests_total'),
          invalid: sum(prom, 'dashcdn_edge_cmcd_invalid_total'),
          starved: sum(prom, 'dashcdn_edge_cmcd_buffer_starvation_total'),
          sessions: sum(prom, 'dashcdn_edge_cmcd_sessions'),
          mtp: sum(prom, 'dashcdn_edge_cmcd_measured_throughput_kbps'),
          mix: (prom.dashcdn_edge_cmcd_bitrate_requests_total || []).map((s) => ({ br: (s.labels.match(/br_kbps="([^"]*)"/) || [])[1], n: s.value })),
        },
      };
    } catch { /* down */ }
    return { e, m };
  }));
  for (const { e, m } of rows) {
    const p = prev[e.id];
    const served = m ? m.hits + m.misses + m.stale + m.revalidated : 0;
    const rate = m && p ? ((served - p.served) * 1000) / (now - p.t) : NaN;
    if (m) m.sentRate = p ? ((m.sent - p.sent) * 8) / (now - p.t) : NaN; // kbit/s
    if (m) { m.served = served; prev[e.id] = { served, sent: m.sent, t: now }; lastSeen[e.id] = { ...m }; }
    if ((m || lastSeen[e.id]) && e.tier === 'edge') edgeBytes += (m || lastSeen[e.id]).sent;
    page.edges[e.id] = m ? { ...m, served, rate, health: health?.[e.id]?.health ?? null } : { down: true, last: lastSeen[e.id] || null, health: health?.[e.id]?.health ?? null };
  }
  $('edges').innerHTML = rows.map(({ e, m: live }) => {
    const m = live || lastSeen[e.id];
    const h = health ? health[e.id] : null;
    const hs = e.tier === 'shield' ? '–' : h ? h.health : (health ? 'unknown' : 'n/a');
    const proc = procs[e.id];
    const st = page.edges[e.id];
    const ratio = m && m.served ? `${((100 * m.hits) / m.served).toFixed(1)} %` : '–';
    const ctl = proc ? (proc.state === 'running' || proc.state === 'starting'
      ? `<button class="danger" data-action="kill" data-id="${esc(e.id)}" id="kill-${esc(e.id)}">kill</button>`
      : `<button data-action="start" data-id="${esc(e.id)}" id="start-${esc(e.id)}">restart</button>`) : '';
    const pstate = proc ? `<span class="${proc.state === 'running' ? 'ok' : proc.state === 'starting' ? 'warn' : 'bad'}">${esc(proc.state)}</span>${proc.restarts ? ` ↻${proc.restarts}` : ''}` : (live ? '<span class="ok">answering</span>' : '<span class="bad">no answer</span>');
    const cls = `${page.serving === e.id ? 'serving' : ''} ${live ? '' : 'gone'}`;
    return `<tr data-edge="${esc(e.id)}" class="${cls}" title="${live ? '' : 'not answering: its last answer, dimmed'}"><td><b>${esc(e.id)}</b>${page.serving === e.id ? ' ▶' : ''}</td><td>${esc(e.region || h?.region || '')}</td>`
      + `<td class="${hs === 'up' ? 'ok' : hs === '–' ? 'dim' : 'bad'}">${esc(hs)}${h?.source === 'announced' ? ' (announced)' : ''}</td><td>${pstate}</td>`
      + `<td>${Number.isFinite(st.rate) ? st.rate.toFixed(1) : '–'}</td><td>${ratio}</td><td class="HIT">${m ? m.hits : '–'}</td><td class="MISS">${m ? m.misses : '–'}</td><td class="STALE">${m ? m.stale : '–'}</td><td>${m ? fmtBytes(m.sent) : '–'}</td>`
      + `<td class="controls-only"${page.local ? '' : ' hidden'}>${ctl}</td></tr>`;
  }).join('');
  cmcdPanel(rows);
  let originBytes = null;
  if (u.origin) {
    try { originBytes = sum(parseProm(await (await fetch(`${u.origin}/metrics`, { cache: 'no-store' })).text()), 'dashcdn_origin_sent_bytes_total'); } catch { /* down */ }
  }
  page.offload = { originBytes, edgeBytes };
  $('offload').innerHTML = originBytes === null
    ? `origin offload: <span class="bad">origin not answering</span> · edges sent ${fmtBytes(edgeBytes)}`
    : `origin offload: <b>${edgeBytes ? Math.max(0, 100 * (1 - originBytes / edgeBytes)).toFixed(1) : '–'} %</b> <span class="dim">(origin sent ${fmtBytes(originBytes)}, edges sent ${fmtBytes(edgeBytes)} to players, counting the last answer of edges that are down)</span>`;
  if (page.local && page.status) {
    const o = page.status.components.find((c) => c.role === 'origin');
    if (o) { $('origin-state').textContent = o.state; $('origin-state').className = `pill ${o.state === 'running' ? 'ok' : 'bad'}`; }
    const r = page.status.throttle_bits_per_sec;
    $('throttle-state').textContent = r ? `${r >= 1e6 ? `${r / 1e6} Mbit/s` : `${r / 1e3} kbit/s`} per response` : 'no limit';
  }
}

/** What the players report through CMCD (as each edge counts it) beside what the edge measures. */
function cmcdPanel(rows) {
  const edgeRows = rows.filter(({ e }) => e.tier === 'edge');
  page.cmcdPanel = {};
  $('cmcd-edges').innerHTML = edgeRows.map(({ e, m }) => {
    const c = m?.cmcd;
    const served = m ? m.hits + m.misses + m.stale + m.revalidated : 0;
    const mix = c ? c.mix.filter((x) => x.n > 0).sort((a, b) => b.n - a.n) : [];
    const mixTotal = mix.reduce((a, x) => a + x.n, 0);
    page.cmcdPanel[e.id] = c ? { sessions: c.sessions, requests: c.requests, starved: c.starved, mtp: c.mtp, mix: mix.map((x) => x.br) } : null;
    const td = (v, cls = '') => `<td class="${cls}">${v}</td>`;
    if (!c) return `<tr data-cmcd-edge="${esc(e.id)}"><td><b>${esc(e.id)}</b></td><td class="dim" colspan="7">no answer</td></tr>`;
    return `<tr data-cmcd-edge="${esc(e.id)}"><td><b>${esc(e.id)}</b></td>`
      + td(c.sessions, 'sessions') + td(`${c.requests}${c.invalid ? ` <span class="bad">(${c.invalid} bad)</span>` : ''}`)
      + td(c.requests ? `${((100 * c.starved) / c.requests).toFixed(1)} %` : '–', c.starved ? 'warn' : '')
      + td(fmtKbps(c.mtp))
      + td(mix.slice(0, 3).map((x) => `${esc(x.br)}: ${Math.round((100 * x.n) / mixTotal)}%`).join(' · ') || '–', 'mono')
      + td(served ? `${((100 * m.hits) / served).toFixed(1)} %` : '–') + td(fmtKbps(m.sentRate)) + '</tr>';
  }).join('');
}

async function decisionsTick() {
  try {
    const d = await getJson(`${page.urls.redirector}/debug/decisions?n=12`);
    page.decisions = d.decisions || [];
    $('decisions').innerHTML = page.decisions.map((x) => `<tr><td>${x.at_ms ? clock(x.at_ms) : ''}</td><td>${esc(x.proto)}</td><td>${esc(x.client)}</td><td>${esc(x.key)}</td><td><b>${esc(x.chosen)}</b></td><td class="dim">${esc(x.why)}</td></tr>`).join('');
  } catch (e) {
    $('decisions').innerHTML = `<tr><td class="dim" colspan="6">${esc(String(e.message || e))}</td></tr>`;
  }
}

let lastEvent = 0;
async function eventsTick() {
  if (!page.local) return;
  try {
    const d = await getJson(`/api/events?since=${lastEvent}`);
    for (const ev of d.events) { page.events.push(ev); lastEvent = Math.max(lastEvent, ev.seq); }
    $('events').innerHTML = page.events.slice(-60).reverse().map((ev) => {
      const cls = ev.kind === 'died' || ev.kind === 'killed' || ev.kind === 'restart-failed' ? 'bad' : ev.kind === 'throttle' ? 'warn' : '';
      return `<div class="${cls}">${clock(ev.at_ms)} ${esc(ev.message)}</div>`;
    }).join('');
  } catch { /* up is gone */ }
}

// ---- controls (local mode) ----
async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}) });
  if (!res.ok) page.errors.push(`${path}: ${res.status} ${await res.text()}`);
  setTimeout(() => { edgesTick(); eventsTick(); }, 300);
}
document.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-action]');
  if (b) post(`/api/components/${encodeURIComponent(b.dataset.id)}/${b.dataset.action}`);
});
$('throttle-schedule').onclick = () => post('/api/throttle', { schedule: [{ bits_per_sec: 6000000, secs: 8 }, { bits_per_sec: 400000, secs: 20 }, { bits_per_sec: 6000000 }] });
$('throttle-low').onclick = () => post('/api/throttle', { bits_per_sec: 400000 });
$('throttle-off').onclick = () => post('/api/throttle', { bits_per_sec: 0 });

(async () => {
  await configure();
  startPlayer();
  page.ready = true;
  setInterval(playerTick, 1000);
  setInterval(liveTick, 250);
  $('video').requestVideoFrameCallback(onFrame);
  const slow = async () => { await Promise.all([edgesTick(), decisionsTick(), eventsTick()]); setTimeout(slow, 1000); };
  slow();
})();
