// Test harness: starts real dashcdn processes on loopback and a headless Debian Chromium.
// Used by every browser test; nothing here is mocked.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO_DIR = resolve(WEB_DIR, '..');

/** Path of the dashcdn binary: $DASHCDN_BIN, else the release build, else the debug build. */
export function dashcdnBin() {
  if (process.env.DASHCDN_BIN) return process.env.DASHCDN_BIN;
  for (const profile of ['release', 'debug']) {
    const p = join(REPO_DIR, 'target', profile, 'dashcdn');
    if (existsSync(p)) return p;
  }
  throw new Error('dashcdn binary not found: run `cargo build --release` (or set DASHCDN_BIN)');
}

/** Content root holding the packaged default asset: $DASHCDN_CONTENT or <repo>/content. */
export function contentDir() {
  return process.env.DASHCDN_CONTENT || join(REPO_DIR, 'content');
}

/**
 * Runs `dashcdn ARGS...` as a server and resolves once it prints `listening on http://ADDR`.
 * Returns { url, proc, stop() }. The process is killed when stop() is called or the test exits.
 */
export function startServer(args, { name = 'dashcdn', timeoutMs = 20000 } = {}) {
  const proc = spawn(dashcdnBin(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  let output = '';
  const stop = () => { if (proc.exitCode === null) proc.kill('SIGTERM'); };
  process.on('exit', stop);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${output}`)); }, timeoutMs);
    const onData = (chunk) => {
      output += chunk.toString();
      const m = output.match(/listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolvePromise({ url: m[1].replace(/\/$/, ''), proc, stop, output: () => output }); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', (c) => { output += c.toString(); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code} before listening:\n${output}`)); });
  });
}

/** Launches Debian's Chromium headless with the flags this machine needs (no browser download). */
export async function launchChromium() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'dashcdn-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
    viewport: { width: 1280, height: 900 },
  });
  const close = async () => { await browser.close(); rmSync(userDataDir, { recursive: true, force: true }); };
  return { context: browser, close };
}

/**
 * Starts what most browser tests need: a media origin over `content` (plus `originArgs`), an
 * edge in front of it when `edge` is given (`{ id, mem = '256MiB', args = [] }`), the page
 * server over web/ and Chromium. Returns { media, edge, web, browser, stop() }; stop() closes
 * them all. If one fails to start, those already started are stopped before the error is thrown.
 */
export async function startStack({ content = contentDir(), originArgs = [], edge = null } = {}) {
  const s = {};
  s.stop = async () => { await s.browser?.close(); s.edge?.stop(); s.media?.stop(); s.web?.stop(); };
  try {
    s.media = await startServer(['origin', '--content', content, '--listen', '127.0.0.1:0', ...originArgs], { name: 'media origin' });
    if (edge) {
      s.edge = await startServer(['edge', '--upstream', s.media.url, '--listen', '127.0.0.3:0', '--id', edge.id,
        '--mem', edge.mem ?? '256MiB', ...(edge.args ?? [])], { name: 'edge' });
    }
    s.web = await startServer(['origin', '--content', WEB_DIR, '--listen', '127.0.0.2:0'], { name: 'page server' });
    s.browser = await launchChromium();
  } catch (e) {
    await s.stop();
    throw e;
  }
  return s;
}

/**
 * Starts `dashcdn redirector` (HTTP on 127.0.0.5) over `edges` ([{ id, url }]), all placed
 * where the browser's default location is, health-checked every 250 ms; resolves once every
 * edge is up. Players then ask `${url}/...` and are sent (302) to an edge. `steeringTtl`
 * (seconds) sets the content steering answers' TTL (the redirector's default when omitted).
 * Returns { url, stop() }.
 */
export async function startRedirector(edges, { steeringTtl } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'dashcdn-redirector-'));
  const topology = join(dir, 'topology.toml');
  writeFileSync(topology, `default_location = "here"\n\n[health]\ninterval_ms = 250\ntimeout_ms = 500\nfall = 2\nrise = 1\n\n`
    + (steeringTtl === undefined ? '' : `[steering]\nttl = ${steeringTtl}\n\n`)
    + edges.map((e) => `[[edges]]\nid = "${e.id}"\nurl = "${e.url}"\nlat = 48.86\nlon = 2.35\n\n`).join('')
    + '[[locations]]\nname = "here"\nlat = 48.85\nlon = 2.35\nnetworks = ["192.0.2.0/24"]\n');
  const r = await startServer(['redirector', '--topology', topology, '--http', '127.0.0.5:0'], { name: 'redirector' });
  const stop = () => { r.stop(); rmSync(dir, { recursive: true, force: true }); };
  for (let i = 0; ; i++) {
    const body = await (await fetch(`${r.url}/debug/edges`)).json();
    const list = Array.isArray(body) ? body : body.edges;
    if (list.length === edges.length && list.every((e) => e.health === 'up')) break;
    if (i >= 80) { stop(); throw new Error(`redirector: edges not up after 20 s: ${JSON.stringify(list)}`); }
    await new Promise((res) => setTimeout(res, 250));
  }
  return { url: r.url, stop };
}

/**
 * Runs in the page (`page.evaluate(installStallMonitor)`): samples the video element every
 * 50 ms and keeps in `window.stallMon.max` the longest time (ms) currentTime did not advance.
 */
export function installStallMonitor() {
  const v = document.getElementById('video');
  const m = window.stallMon = { lastT: v.currentTime, last: performance.now(), max: 0 };
  window.stallMonTimer = setInterval(() => {
    const now = performance.now();
    if (v.currentTime > m.lastT) { m.lastT = v.currentTime; m.last = now; } else { m.max = Math.max(m.max, now - m.last); }
  }, 50);
  return true;
}

/** Polls `fn` in the page until it returns a truthy value or `timeoutMs` passes; returns the value. */
export async function waitInPage(page, fn, arg, { timeoutMs = 60000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > deadline) {
      const state = await page.evaluate(() => JSON.stringify({ t: document.getElementById('video')?.currentTime, playback: window.playback }));
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; page state: ${state.slice(0, 4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts `dashcdn up ARGS` and resolves with the page URL once it prints `page: URL`
 * (`{ url, proc, exited, output() }`); rejects if it exits first or prints none within
 * `timeoutMs`. The process is SIGKILLed when the test process exits. */
export function startUp(args, timeoutMs = 60000) {
  const proc = spawn(dashcdnBin(), ['up', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', RUST_BACKTRACE: '0' } });
  let output = '';
  const kill = () => { if (proc.exitCode === null) proc.kill('SIGKILL'); };
  process.on('exit', kill);
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { kill(); reject(new Error(`dashcdn up: no page URL within ${timeoutMs} ms:\n${output}`)); }, timeoutMs);
    proc.stdout.on('data', (c) => {
      output += c.toString();
      const m = output.match(/^page: (http:\/\/\S+)/m);
      if (m) { clearTimeout(timer); resolve({ url: m[1], proc, exited, output: () => output }); }
    });
    proc.stderr.on('data', (c) => { output += c.toString(); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`dashcdn up exited with ${code} before the page URL:\n${output}`)); });
  });
}
