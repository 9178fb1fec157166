// The picture clock of `dashcdn live`, shared by web/live.html and the `up` page (web/up.js).
// What the encoder burns into its picture (live-encoder/src/ffmpeg.rs): along the top edge
// 28 equal blocks, block 0 white, blocks 1..27 the ms since midnight UTC of the frame's
// capture, most significant bit first (white = 1). Read from a canvas at every presented
// frame (requestVideoFrameCallback) and compared with the page's clock, synced with the MPD's
// UTCTiming URL (the origin's /live/time, which dash.js uses too).
'use strict';
(function (global) {
  const BLOCKS = 28;
  const DAY_MS = 86400000;

  /** A difference of two times of day (ms) brought into [-12 h, 12 h). */
  function wrapDay(d) { return ((d + DAY_MS / 2) % DAY_MS + DAY_MS) % DAY_MS - DAY_MS / 2; }

  /** The UTCTiming URLs of an MPD's text, in document order. */
  function utcTimingUrls(mpdText) {
    return [...mpdText.matchAll(/<UTCTiming[^>]*value="([^"]+)"/g)].map((m) => m[1]);
  }

  /**
   * The offset of the page clock to a time server answering ISO 8601 text (the origin's
   * /live/time): five round trips, the shortest one's midpoint is the estimate (as NTP's
   * best sample). Resolves with { offsetMs, rttMs }: server time = page time + offsetMs.
   */
  async function syncClock(url) {
    let best = null;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.timeOrigin + performance.now();
      const text = await (await fetch(url, { cache: 'no-store' })).text();
      const t1 = performance.timeOrigin + performance.now();
      const server = Date.parse(text.trim());
      if (!Number.isFinite(server)) throw new Error(`bad time from ${url}: ${text}`);
      if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: server - (t0 + t1) / 2 };
    }
    return { offsetMs: best.offset, rttMs: best.rtt };
  }

  /**
   * A reader of the picture clock: (video) → ms since midnight UTC of the frame on show, or
   * null when the picture carries no clock (block 0 not white, or no frame yet).
   */
  function createReader() {
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    return (video) => {
      const w = video.videoWidth, h = video.videoHeight;
      if (!w || !h) return null;
      const stripH = Math.max(8, Math.floor(h / 18));
      canvas.width = w; canvas.height = stripH;
      ctx.drawImage(video, 0, 0, w, stripH, 0, 0, w, stripH);
      const row = ctx.getImageData(0, Math.floor(stripH / 2), w, 1).data;
      const luma = [];
      for (let i = 0; i < BLOCKS; i++) {
        const x = Math.floor((i + 0.5) * w / BLOCKS);
        luma.push(0.299 * row[4 * x] + 0.587 * row[4 * x + 1] + 0.114 * row[4 * x + 2]);
      }
      if (luma[0] < 128) return null;
      let v = 0;
      for (let i = 1; i < BLOCKS; i++) v = v * 2 + (luma[i] >= 128 ? 1 : 0);
      return v;
    };
  }

  global.LiveClock = { BLOCKS, DAY_MS, wrapDay, utcTimingUrls, syncClock, createReader };
})(window);
