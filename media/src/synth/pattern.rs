//! The test-pattern renderer: draws frames directly in planar YUV 4:2:0 (I420).
//!
//! Everything is integer arithmetic on the frame index, so a frame depends only on
//! (rung, frame index, fps): rendering is deterministic and rungs can be rendered in any order.
//!
//! Layout (proportional to the frame size):
//! - top 60 %: 75 % colour bars (grey, yellow, cyan, green, magenta, red, blue);
//! - 60–67 %: reversed "castellation" bars;
//! - bottom 33 %: the motion band: dim moving luma noise (new every frame, so the encoder
//!   really spends each rung's bitrate), or plain WHITE during the first 100 ms of every
//!   whole second (the sync flash, aligned with the audio beep); over it an orange box
//!   bouncing left/right (period 4 s) and, along the bottom edge, a cyan bar that sweeps
//!   across once per second;
//! - text on black plates: top left the rendition label (`v720 1280x720 3000 kbps`), in the
//!   middle of the bars the media-time clock `mm:ss.mmm` (large), under it `frame NNNNNN`.
//!
//! Text uses the public-domain `font8x8` glyphs scaled by an integer factor (1 at 144p,
//! 5 at 720p for the small lines; twice that for the clock).

/// Length of the sync flash (and of the audio beep) at every whole second, in milliseconds.
pub const FLASH_MS: u32 = 100;

/// A colour in limited-range BT.709 Y'CbCr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Yuv {
    y: u8,
    u: u8,
    v: u8,
}

impl Yuv {
    /// Converts 8-bit full-range R'G'B' to limited-range BT.709 Y'CbCr (the VUI we signal).
    pub(crate) fn from_rgb(r: u8, g: u8, b: u8) -> Yuv {
        let (r, g, b) = (
            f32::from(r) / 255.0,
            f32::from(g) / 255.0,
            f32::from(b) / 255.0,
        );
        let (kr, kb) = (0.2126f32, 0.0722f32);
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        let cb = (b - y) / (2.0 * (1.0 - kb));
        let cr = (r - y) / (2.0 * (1.0 - kr));
        let q = |x: f32| x.round().clamp(0.0, 255.0) as u8;
        Yuv {
            y: q(16.0 + 219.0 * y),
            u: q(128.0 + 224.0 * cb),
            v: q(128.0 + 224.0 * cr),
        }
    }
}

const BLACK: Yuv = Yuv {
    y: 16,
    u: 128,
    v: 128,
};
const WHITE: Yuv = Yuv {
    y: 235,
    u: 128,
    v: 128,
};
/// Luma of text pixels (text only touches luma; its plate sets the chroma).
const TEXT_Y: u8 = 235;

/// One I420 picture: Y plane `width*height`, then U and V planes `(width/2)*(height/2)`.
#[derive(Clone)]
pub(crate) struct Frame {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) y: Vec<u8>,
    pub(crate) u: Vec<u8>,
    pub(crate) v: Vec<u8>,
}

impl Frame {
    /// A black frame. `width` and `height` must be even.
    pub(crate) fn new(width: usize, height: usize) -> Frame {
        debug_assert!(width & 1 == 0 && height & 1 == 0);
        let c = (width / 2) * (height / 2);
        Frame {
            width,
            height,
            y: vec![BLACK.y; width * height],
            u: vec![BLACK.u; c],
            v: vec![BLACK.v; c],
        }
    }

    /// Fills the rectangle `[x0, x1) × [y0, y1)` (luma coordinates, clipped; chroma covers the
    /// 2×2 blocks the rectangle touches, so keep edges even for exact colours).
    pub(crate) fn fill_rect(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, c: Yuv) {
        let (x1, y1) = (x1.min(self.width), y1.min(self.height));
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let w = self.width;
        for row in self.y[y0 * w..y1 * w].chunks_exact_mut(w) {
            row[x0..x1].fill(c.y);
        }
        let cw = w / 2;
        let (cx0, cx1, cy0, cy1) = (x0 / 2, x1.div_ceil(2), y0 / 2, y1.div_ceil(2));
        for plane in [(&mut self.u, c.u), (&mut self.v, c.v)] {
            for row in plane.0[cy0 * cw..cy1 * cw].chunks_exact_mut(cw) {
                row[cx0..cx1].fill(plane.1);
            }
        }
    }

    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale`×`scale`
    /// block of luma (clipped to the frame). Characters outside ASCII render as `?`.
    pub(crate) fn draw_text(&mut self, x: usize, y: usize, scale: usize, text: &str) {
        let w = self.width;
        for (i, ch) in text.chars().enumerate() {
            let code = if ch.is_ascii() {
                ch as usize
            } else {
                '?' as usize
            };
            let glyph = font8x8::legacy::BASIC_LEGACY[code];
            let gx = x + i * 8 * scale;
            if gx >= w {
                break;
            }
            for (gy, bits) in glyph.iter().enumerate() {
                if *bits == 0 {
                    continue;
                }
                for col in 0..8 {
                    // font8x8: bit 0 is the leftmost pixel.
                    if bits & (1 << col) == 0 {
                        continue;
                    }
                    let px0 = gx + col * scale;
                    let px1 = (px0 + scale).min(w);
                    if px0 >= px1 {
                        continue;
                    }
                    let py0 = y + gy * scale;
                    let py1 = (py0 + scale).min(self.height);
                    for py in py0..py1 {
                        self.y[py * w + px0..py * w + px1].fill(TEXT_Y);
                    }
                }
            }
        }
    }

    /// Draws `text` on a black plate with `pad` pixels of margin; returns the plate's bottom edge.
    fn text_plate(&mut self, x: usize, y: usize, scale: usize, pad: usize, text: &str) -> usize {
        let (tw, th) = text_size(text, scale);
        let (x0, y0) = (
            even_down(x.saturating_sub(pad)),
            even_down(y.saturating_sub(pad)),
        );
        let (x1, y1) = (even_up(x + tw + pad), even_up(y + th + pad));
        self.fill_rect(x0, y0, x1, y1, BLACK);
        self.draw_text(x, y, scale, text);
        y1
    }

    /// Copies another frame of the same size into this one.
    fn copy_from(&mut self, other: &Frame) {
        self.y.copy_from_slice(&other.y);
        self.u.copy_from_slice(&other.u);
        self.v.copy_from_slice(&other.v);
    }
}

fn text_size(text: &str, scale: usize) -> (usize, usize) {
    (text.chars().count() * 8 * scale, 8 * scale)
}

fn even_down(v: usize) -> usize {
    v & !1
}

fn even_up(v: usize) -> usize {
    (v + 1) & !1
}

/// Formats a media time in milliseconds as `mm:ss.mmm` (minutes keep counting past 59).
pub(crate) fn format_clock(ms: u64) -> String {
    format!(
        "{:02}:{:02}.{:03}",
        ms / 60_000,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// Renders the frames of one rendition. Holds the static background so each frame is a
/// memcpy plus a few small rectangles and some text.
pub(crate) struct Pattern {
    fps: u32,
    label: String,
    background: Frame,
    /// Top of the motion band.
    band_y: usize,
    /// Small text scale (label, frame counter); the clock uses twice this.
    scale: usize,
    /// [`NOISE_PLANES`] luma planes of dim noise, `width × (height - band_y)` each.
    noise: Vec<Vec<u8>>,
}

/// Number of distinct noise planes the motion band cycles through.
const NOISE_PLANES: usize = 7;
/// Mean and half-range of the motion band's noise luma.
const NOISE_MEAN: u8 = 48;
const NOISE_SPREAD: u8 = 32;

/// Deterministic dim noise (xorshift64*), regenerated identically on every run.
fn noise_plane(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        let n = (len - out.len()).min(8);
        out.extend(
            r[..n]
                .iter()
                .map(|b| NOISE_MEAN - NOISE_SPREAD + b % (2 * NOISE_SPREAD + 1)),
        );
    }
    out
}

impl Pattern {
    /// Prepares the renderer for a `width`×`height` rendition (both even) labelled `label`.
    pub(crate) fn new(width: usize, height: usize, fps: u32, label: String) -> Pattern {
        let mut bg = Frame::new(width, height);
        let bars = [
            (191, 191, 191),
            (191, 191, 0),
            (0, 191, 191),
            (0, 191, 0),
            (191, 0, 191),
            (191, 0, 0),
            (0, 0, 191),
        ];
        let castellation = [
            (0, 0, 191),
            (16, 16, 16),
            (191, 0, 191),
            (16, 16, 16),
            (0, 191, 191),
            (16, 16, 16),
            (191, 191, 191),
        ];
        let bars_end = even_down(height * 60 / 100);
        let band_y = even_down(height * 67 / 100);
        let n = bars.len();
        for i in 0..n {
            let (x0, x1) = (even_down(width * i / n), even_down(width * (i + 1) / n));
            let (r, g, b) = bars[i];
            bg.fill_rect(x0, 0, x1, bars_end, Yuv::from_rgb(r, g, b));
            let (r, g, b) = castellation[i];
            bg.fill_rect(x0, bars_end, x1, band_y, Yuv::from_rgb(r, g, b));
        }
        // Small text: 8 px at 144 lines, 40 px at 720; shrunk if the label would not fit.
        let mut scale = (height / 144).max(1);
        while scale > 1 && text_size(&label, scale).0 + 8 * scale > width {
            scale -= 1;
        }
        let band_len = width * (height - band_y);
        let noise = (0..NOISE_PLANES)
            .map(|k| noise_plane(band_len, k as u64 + 1))
            .collect();
        Pattern {
            fps,
            label,
            background: bg,
            band_y,
            scale,
            noise,
        }
    }

    /// Draws frame number `index` (media time `index / fps` s) into `out` (same size).
    pub(crate) fn render(&self, index: u64, out: &mut Frame) {
        let (w, h) = (out.width, out.height);
        let fps = u64::from(self.fps);
        out.copy_from(&self.background);

        let ms = index * 1000 / fps;
        let frame_in_sec = index % fps;
        // Sync flash: every frame whose start lies in the first FLASH_MS of a second.
        let flash = frame_in_sec * 1000 < u64::from(FLASH_MS) * fps;
        out.fill_rect(0, self.band_y, w, h, if flash { WHITE } else { BLACK });
        if !flash {
            // Moving noise: keeps the encoder busy so the rungs' bitrates are realistic.
            // Plane `index % 7`, rows rotated by a per-frame amount: never like the last frame.
            let plane = &self.noise[index as usize % NOISE_PLANES];
            let rows = h - self.band_y;
            let shift = (index as usize / NOISE_PLANES * 5) % rows;
            let band = &mut out.y[self.band_y * w..];
            let split = (rows - shift) * w;
            band[..split].copy_from_slice(&plane[shift * w..]);
            band[split..].copy_from_slice(&plane[..shift * w]);
        }

        // Bouncing box: triangle wave across the width, 4 s per round trip.
        let band_h = h - self.band_y;
        let side = even_down(band_h / 2).max(2);
        let period = 4 * fps;
        let phase = index % period;
        let half = period / 2;
        let travel = (w - side) as u64;
        let pos = if phase < half { phase } else { period - phase };
        let bx = even_down((travel * pos / half) as usize);
        let by = even_down(self.band_y + (band_h - side) / 2);
        out.fill_rect(bx, by, bx + side, by + side, Yuv::from_rgb(255, 128, 0));

        // Per-second sweep along the bottom edge.
        let sweep_h = even_up((h / 36).max(2));
        let sweep_w = even_up(w * (frame_in_sec as usize + 1) / self.fps as usize);
        out.fill_rect(0, h - sweep_h, sweep_w, h, Yuv::from_rgb(0, 200, 255));

        // Text.
        let s = self.scale;
        let pad = 2 * s;
        out.text_plate(pad + 2, pad + 2, s, pad, &self.label);

        let clock = format_clock(ms);
        let big = 2 * s;
        let (cw, ch) = text_size(&clock, big);
        let cx = w.saturating_sub(cw) / 2;
        let cy = (h * 60 / 100).saturating_sub(ch + 8 * s + 3 * pad) / 2 + pad + 8 * s;
        let bottom = out.text_plate(cx, cy.max(8 * s + 3 * pad), big, pad, &clock);

        let counter = format!("frame {index:06}");
        let (fw, _) = text_size(&counter, s);
        out.text_plate(w.saturating_sub(fw) / 2, bottom + pad, s, pad, &counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_format() {
        assert_eq!(format_clock(0), "00:00.000");
        assert_eq!(format_clock(61_234), "01:01.234");
        assert_eq!(format_clock(3_600_000), "60:00.000");
    }

    #[test]
    fn colours() {
        assert_eq!(Yuv::from_rgb(0, 0, 0), BLACK);
        assert_eq!(Yuv::from_rgb(255, 255, 255), WHITE);
    }

    #[test]
    fn flash_frames() {
        let p = Pattern::new(256, 144, 30, "t".into());
        let mut f = Frame::new(256, 144);
        let band_luma = |f: &Frame| f.y[(f.height - 8) * f.width + f.width - 1];
        for (i, lit) in [
            (0, true),
            (2, true),
            (3, false),
            (29, false),
            (30, true),
            (33, false),
        ] {
            p.render(i, &mut f);
            assert_eq!(band_luma(&f) == WHITE.y, lit, "frame {i}");
        }
    }
}
