//! Which rungs an ffmpeg ladder gets: the rule that fits a ladder to the source
//! ([`fit_ladder`]), the per-rung bitrate rule ([`rule_bitrate_bps`]), and a user-defined
//! ladder read from a TOML file ([`parse_ladder_file`]), trimmed to the source by
//! [`choose_rung`].
//!
//! Data flow: `ladder::package_ladder` probes the source with ffprobe into a
//! [`SourceVideo`], then either fits the built-in ladder to it ([`LadderSpec::Auto`]) or
//! keeps the rungs of a ladder file / `--ladder ID=WxH@KBPS,...` list that do not upscale
//! ([`LadderSpec::Rungs`]); the result is a list of [`LadderRung`]s ffmpeg encodes.
//!
//! # The rule (`--ladder` without a list)
//!
//! Heights: the standard heights 144, 240, 360, 540, 720, 1080, 1440, 2160 that are below
//! 90 % of the source height, plus the source height itself as the top rung (so a 1080p
//! source gets a 1080p rung, a 2160p source 2160p, an 800-line source `v800`; a standard
//! height within 10 % under the source is left out as too close to the top). Nothing is
//! upscaled. Widths keep the source's display aspect ratio (sample aspect ratio applied),
//! rounded to even. A portrait source is laddered by its width the same way (1080x1920:
//! `v1080` 1080x1920, `v720` 720x1280, ...).
//!
//! Bitrate of a rung of `w × h` at `fps` (H.264):
//!
//! ```text
//! bitrate = 6 Mbit/s × (w·h / 1920·1080)^0.75 × sqrt(fps / 30)
//! ```
//!
//! The exponent 0.75 gives small pictures more bits per pixel than large ones (encoders
//! need them: fixed headers, less spatial redundancy), in line with Apple's HLS Authoring
//! Specification's H.264 ladder (1080p30 6000–7800 kbit/s, 720p 3000–4500, 540p 2000,
//! 360p 730–1100); the frame-rate factor grows slower than the frame count because
//! consecutive frames of a faster source differ less (60 fps: ×1.41; 24 fps: ×0.89).
//! When the source's own video bitrate is known and lower than the rule's bitrate at the
//! source size, every rung is scaled down by that ratio (re-encoding never needs more bits
//! than the source spent, and the ladder keeps its spacing). Results are rounded to
//! 10 kbit/s, at least 50 kbit/s.
//!
//! | source         | rungs (kbit/s, 30 fps, source bitrate not limiting)                         |
//! |----------------|-----------------------------------------------------------------------------|
//! | 640x360        | v144 256x144 290 · v240 426x240 630 · v360 640x360 1150                     |
//! | 1280x720       | v144 290 · v240 630 · v360 1150 · v540 960x540 2120 · v720 1280x720 3270    |
//! | 1920x1080      | … v540 2120 · v720 3270 · v1080 1920x1080 6000                              |
//! | 3840x2160      | … v1080 6000 · v1440 2560x1440 9240 · v2160 3840x2160 16970                 |
//!
//! (`rule_table_matches_the_docs` checks this table.)

use std::path::Path;

use serde::Deserialize;

use crate::error::{bail, ensure, Result};
use crate::synth::{self, Rung};

/// Standard rung heights the rule picks from (below the source's).
pub const STANDARD_HEIGHTS: [u32; 8] = [144, 240, 360, 540, 720, 1080, 1440, 2160];

/// Bitrate of the rule's 1920x1080 rung at 30 fps.
pub const RULE_1080P30_BPS: f64 = 6_000_000.0;

/// What the rung choice needs to know about the source's video (from ffprobe).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceVideo {
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Sample aspect ratio (1:1 for square pixels).
    pub sar: (u32, u32),
    /// Frame rate.
    pub fps: f64,
    /// Video bitrate, when the container says.
    pub bitrate_bps: Option<u64>,
}

impl SourceVideo {
    /// Display aspect ratio (width / height, sample aspect ratio applied).
    pub fn display_aspect(&self) -> f64 {
        let (n, d) = self.sar;
        let sar = if n > 0 && d > 0 {
            n as f64 / d as f64
        } else {
            1.0
        };
        self.width as f64 * sar / self.height.max(1) as f64
    }

    /// Display width (sample aspect ratio applied), rounded to even.
    pub fn display_width(&self) -> u32 {
        even(self.height as f64 * self.display_aspect())
    }
}

/// H.264 profile of a transcoded rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum H264Profile {
    /// Constrained baseline (old devices).
    Baseline,
    /// Main (the default).
    Main,
    /// High.
    High,
}

impl H264Profile {
    /// The value of ffmpeg's `-profile:v`.
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            H264Profile::Baseline => "baseline",
            H264Profile::Main => "main",
            H264Profile::High => "high",
        }
    }
}

/// One rung to transcode: size and bitrate, plus optional encoder settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderRung {
    /// Id, size and target bitrate.
    pub rung: Rung,
    /// Output frame rate (default: the source's).
    pub fps: Option<f64>,
    /// H.264 profile (default: main).
    pub profile: Option<H264Profile>,
}

impl LadderRung {
    /// A rung with the source's frame rate and the default profile.
    pub fn plain(rung: Rung) -> LadderRung {
        LadderRung {
            rung,
            fps: None,
            profile: None,
        }
    }
}

/// Which ladder to transcode.
#[derive(Debug, Clone, PartialEq)]
pub enum LadderSpec {
    /// The rule fitted to the source ([`fit_ladder`]).
    Auto,
    /// Given rungs (a ladder file or a list); those above the source are left out.
    Rungs(Vec<LadderRung>),
}

fn even(x: f64) -> u32 {
    ((x / 2.0).round() as u32).max(1) * 2
}

/// The rule's bitrate for a `width × height` rung at `fps` (see the module docs), before
/// the source cap.
pub fn rule_bitrate_bps(width: u32, height: u32, fps: f64) -> f64 {
    let pixels = width as f64 * height as f64 / (1920.0 * 1080.0);
    let fps = if fps.is_finite() && fps > 0.0 {
        fps.clamp(5.0, 120.0)
    } else {
        30.0
    };
    RULE_1080P30_BPS * pixels.powf(0.75) * (fps / 30.0).sqrt()
}

fn round_bitrate(bps: f64) -> u32 {
    let kbps10 = (bps / 10_000.0).round().max(5.0);
    (kbps10 * 10_000.0).min(u32::MAX as f64) as u32
}

/// The built-in ladder fitted to `source` (see the module docs for the rule).
/// A portrait source (taller than wide, e.g. a phone video) is laddered by its short side
/// (its width) the same way: a 1080x1920 source gets `v1080` at 1080x1920, `v720` at
/// 720x1280, and so on.
pub fn fit_ladder(source: &SourceVideo) -> Vec<LadderRung> {
    let aspect = source.display_aspect();
    let portrait = aspect < 1.0;
    let (top_w, top_h) = (source.display_width(), source.height - source.height % 2);
    let top = if portrait { top_w } else { top_h };
    let mut sides: Vec<u32> = STANDARD_HEIGHTS
        .iter()
        .copied()
        .filter(|&h| (h as f64) < top as f64 * 0.9)
        .collect();
    sides.push(top.max(2));
    let scale = match source.bitrate_bps {
        Some(b) if b > 0 => {
            let at_source = rule_bitrate_bps(top_w, top_h, source.fps);
            (b as f64 / at_source).min(1.0)
        }
        _ => 1.0,
    };
    sides
        .into_iter()
        .map(|side| {
            let (w, h) = if side == top {
                (top_w, top_h)
            } else if portrait {
                (side, even(side as f64 / aspect))
            } else {
                (even(side as f64 * aspect), side)
            };
            let bps = rule_bitrate_bps(w, h, source.fps) * scale;
            LadderRung::plain(Rung::new(&format!("v{side}"), w, h, round_bitrate(bps)))
        })
        .collect()
}

/// What happens to a given rung on a given source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RungChoice {
    /// Transcoded as asked.
    Keep,
    /// Left out: it is larger than the source (width or height), which would upscale.
    AboveSource,
}

/// Whether a given rung is transcoded from `source` (never upscale).
pub fn choose_rung(rung: &Rung, source: &SourceVideo) -> RungChoice {
    if rung.height > source.height || rung.width > source.display_width().max(source.width) {
        RungChoice::AboveSource
    } else {
        RungChoice::Keep
    }
}

/// A ladder file (TOML), e.g.
///
/// ```toml
/// [[rung]]
/// id = "v1080"
/// width = 1920        # optional: from the source's aspect ratio
/// height = 1080
/// bitrate = "6000k"   # bits/s as a number, or a string with k / M
/// fps = 30            # optional: the source's
/// profile = "high"    # optional: baseline | main | high (default main)
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LadderFile {
    rung: Vec<toml::Spanned<RungEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RungEntry {
    id: String,
    width: Option<u32>,
    height: u32,
    bitrate: Bitrate,
    fps: Option<f64>,
    profile: Option<H264Profile>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Bitrate {
    Bps(u64),
    Text(String),
}

/// Parses `700k`, `3M`, `2.5M`, `800000` into bits per second.
fn parse_bitrate(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1e3),
        (i, 'm' | 'M') => (&s[..i], 1e6),
        _ => (s, 1.0),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v > 0.0).then(|| (v * mult).round() as u64)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// Reads a ladder file (see [`LadderFile`]'s example). Syntax and type errors name the
/// line and field (from the TOML parser); value errors name the file, line and rung.
/// A rung without `width` gets `0`, filled in from the source's aspect ratio by
/// [`complete_widths`].
pub fn parse_ladder_file(path: &Path, text: &str) -> Result<Vec<LadderRung>> {
    let file: LadderFile = toml::from_str(text).map_err(|e| {
        crate::error::PackageError::Invalid(format!(
            "ladder file {}: {}",
            path.display(),
            e.to_string().trim_end()
        ))
    })?;
    ensure!(
        !file.rung.is_empty(),
        "ladder file {}: no [[rung]] tables",
        path.display()
    );
    let mut out: Vec<LadderRung> = Vec::with_capacity(file.rung.len());
    for spanned in &file.rung {
        let line = line_of(text, spanned.span().start);
        let r = spanned.get_ref();
        let at = || format!("ladder file {}, rung at line {line}", path.display());
        let bitrate = match &r.bitrate {
            Bitrate::Bps(b) => Some(*b),
            Bitrate::Text(s) => parse_bitrate(s),
        };
        let Some(bitrate) = bitrate.filter(|&b| (10_000..=u32::MAX as u64).contains(&b)) else {
            bail!(
                "{} (id {:?}): bitrate must be 10k..4G bits/s (a number, or text like \"700k\", \"3M\")",
                at(),
                r.id
            );
        };
        let rung = Rung::new(&r.id, r.width.unwrap_or(0), r.height, bitrate as u32);
        if let Err(e) = check_rung(&rung, &out) {
            bail!("{}: {e}", at());
        }
        if let Some(fps) = r.fps {
            ensure!(
                fps.is_finite() && (1.0..=240.0).contains(&fps),
                "{} (id {:?}): fps must be 1..240, got {fps}",
                at(),
                r.id
            );
        }
        out.push(LadderRung {
            rung,
            fps: r.fps,
            profile: r.profile,
        });
    }
    Ok(out)
}

/// Fills in the widths left out of a ladder file from the source's display aspect ratio.
pub fn complete_widths(rungs: &mut [LadderRung], source: &SourceVideo) {
    let aspect = source.display_aspect();
    for r in rungs {
        if r.rung.width == 0 {
            r.rung.width = even(r.rung.height as f64 * aspect);
        }
    }
}

/// Checks one rung against the ones before it (width 0 means "from the source").
fn check_rung(r: &Rung, before: &[LadderRung]) -> std::result::Result<(), String> {
    if r.id.is_empty()
        || r.id.len() > 64
        || r.id.starts_with('.')
        || !r
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(format!(
            "id {:?} must be 1-64 characters of [A-Za-z0-9._-], not starting with '.'",
            r.id
        ));
    }
    if r.id == synth::AUDIO_ID {
        return Err(format!("id {:?} is reserved for the audio", r.id));
    }
    if before.iter().any(|o| o.rung.id == r.id) {
        return Err(format!("duplicate id {:?}", r.id));
    }
    if (r.width != 0 && (r.width < 16 || !r.width.is_multiple_of(2)))
        || r.height < 16
        || !r.height.is_multiple_of(2)
    {
        return Err(format!(
            "id {:?}: width {} / height {} must be even and at least 16",
            r.id, r.width, r.height
        ));
    }
    if r.bitrate_bps < 10_000 {
        return Err(format!("id {:?}: bitrate {} too low", r.id, r.bitrate_bps));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(w: u32, h: u32, fps: f64, bitrate: Option<u64>) -> SourceVideo {
        SourceVideo {
            width: w,
            height: h,
            sar: (1, 1),
            fps,
            bitrate_bps: bitrate,
        }
    }

    fn summary(rungs: &[LadderRung]) -> Vec<(String, u32, u32, u32)> {
        rungs
            .iter()
            .map(|r| {
                (
                    r.rung.id.clone(),
                    r.rung.width,
                    r.rung.height,
                    r.rung.bitrate_bps / 1000,
                )
            })
            .collect()
    }

    fn s(id: &str, w: u32, h: u32, kbps: u32) -> (String, u32, u32, u32) {
        (id.to_string(), w, h, kbps)
    }

    #[test]
    fn rule_table_matches_the_docs() {
        assert_eq!(
            summary(&fit_ladder(&src(640, 360, 30.0, None))),
            [
                s("v144", 256, 144, 290),
                s("v240", 426, 240, 630),
                s("v360", 640, 360, 1150)
            ]
        );
        let hd = summary(&fit_ladder(&src(1920, 1080, 30.0, None)));
        assert_eq!(
            hd,
            [
                s("v144", 256, 144, 290),
                s("v240", 426, 240, 630),
                s("v360", 640, 360, 1150),
                s("v540", 960, 540, 2120),
                s("v720", 1280, 720, 3270),
                s("v1080", 1920, 1080, 6000),
            ]
        );
        let uhd = summary(&fit_ladder(&src(3840, 2160, 30.0, None)));
        assert_eq!(uhd.len(), 8);
        assert_eq!(uhd[6], s("v1440", 2560, 1440, 9240));
        assert_eq!(uhd[7], s("v2160", 3840, 2160, 16970));
        assert_eq!(
            summary(&fit_ladder(&src(1280, 720, 30.0, None)))[4],
            s("v720", 1280, 720, 3270)
        );
    }

    #[test]
    fn never_upscales_and_tops_out_at_the_source() {
        for (w, h) in [
            (640, 360),
            (1920, 1080),
            (3840, 2160),
            (1280, 800),
            (720, 576),
        ] {
            let rungs = fit_ladder(&src(w, h, 25.0, None));
            let top = rungs.last().unwrap();
            assert_eq!(top.rung.height, h, "{w}x{h}");
            assert!(rungs
                .iter()
                .all(|r| r.rung.height <= h && r.rung.width <= w));
            assert!(rungs.windows(2).all(|p| p[0].rung.height < p[1].rung.height
                && p[0].rung.bitrate_bps < p[1].rung.bitrate_bps));
            assert!(rungs
                .iter()
                .all(|r| choose_rung(&r.rung, &src(w, h, 25.0, None)) == RungChoice::Keep));
        }
        // 800 lines: 720 is within 10 % under the top and left out.
        let ids: Vec<_> = fit_ladder(&src(1280, 800, 30.0, None))
            .into_iter()
            .map(|r| r.rung.id)
            .collect();
        assert_eq!(ids, ["v144", "v240", "v360", "v540", "v800"]);
        // A tiny source: one rung, its own size.
        assert_eq!(
            summary(&fit_ladder(&src(160, 90, 30.0, None))),
            [s("v90", 160, 90, 140)]
        );
    }

    #[test]
    fn frame_rate_and_source_bitrate_scale_the_ladder() {
        let r30 = fit_ladder(&src(1920, 1080, 30.0, None));
        let r60 = fit_ladder(&src(1920, 1080, 60.0, None));
        assert_eq!(r60.last().unwrap().rung.bitrate_bps, 8_490_000);
        assert!(r60
            .iter()
            .zip(&r30)
            .all(|(a, b)| a.rung.bitrate_bps > b.rung.bitrate_bps));
        // A 3 Mbit/s 1080p30 source: half the rule everywhere.
        let capped = fit_ladder(&src(1920, 1080, 30.0, Some(3_000_000)));
        assert_eq!(capped.last().unwrap().rung.bitrate_bps, 3_000_000);
        assert_eq!(capped[4].rung.bitrate_bps, 1_630_000);
        // A richer source does not raise the ladder.
        assert_eq!(fit_ladder(&src(1920, 1080, 30.0, Some(50_000_000))), r30);
    }

    #[test]
    fn portrait_sources_are_laddered_by_their_width() {
        let phone = src(1080, 1920, 30.0, None);
        let rungs = summary(&fit_ladder(&phone));
        assert_eq!(rungs.len(), 6);
        assert_eq!(rungs[4], s("v720", 720, 1280, 3270));
        assert_eq!(rungs[5], s("v1080", 1080, 1920, 6000));
        assert!(fit_ladder(&phone)
            .iter()
            .all(|r| choose_rung(&r.rung, &phone) == RungChoice::Keep));
    }

    #[test]
    fn anamorphic_sources_keep_their_display_aspect() {
        let dv = SourceVideo {
            width: 720,
            height: 576,
            sar: (64, 45),
            fps: 25.0,
            bitrate_bps: None,
        };
        let rungs = fit_ladder(&dv);
        let top = &rungs.last().unwrap().rung;
        assert_eq!((top.width, top.height), (1024, 576));
        assert_eq!(choose_rung(top, &dv), RungChoice::Keep);
        assert_eq!(
            choose_rung(&Rung::new("x", 1280, 720, 1_000_000), &dv),
            RungChoice::AboveSource
        );
    }

    #[test]
    fn ladder_file_parses() {
        let text = r#"
[[rung]]
id = "v360"
width = 640
height = 360
bitrate = "700k"
profile = "baseline"

[[rung]]
id = "v1080"
height = 1080
bitrate = 5500000
fps = 25
"#;
        let rungs = parse_ladder_file(Path::new("l.toml"), text).unwrap();
        assert_eq!(rungs[0].rung, Rung::new("v360", 640, 360, 700_000));
        assert_eq!(rungs[0].profile, Some(H264Profile::Baseline));
        assert_eq!(rungs[1].rung.width, 0);
        assert_eq!(rungs[1].fps, Some(25.0));
        let mut rungs = rungs;
        complete_widths(&mut rungs, &src(1920, 1080, 30.0, None));
        assert_eq!(rungs[1].rung.width, 1920);
        assert_eq!(parse_bitrate("2.5M"), Some(2_500_000));
        assert_eq!(parse_bitrate("k"), None);
    }

    #[test]
    fn ladder_file_errors_name_line_and_field() {
        let err = |text: &str| {
            parse_ladder_file(Path::new("l.toml"), text)
                .unwrap_err()
                .to_string()
        };
        let e = err("[[rung]]\nid = \"v1\"\nheight = 360\nbitrate = \"700k\"\nwidht = 640\n");
        assert!(e.contains("line 5") && e.contains("widht"), "{e}");
        let e = err("[[rung]]\nid = \"v1\"\nheight = \"tall\"\nbitrate = 1\n");
        assert!(e.contains("line 3") && e.contains("height"), "{e}");
        let e = err("[[rung]]\nid = \"v1\"\nheight = 360\nbitrate = 900000\n\n[[rung]]\nid = \"v2\"\nheight = 361\nbitrate = \"1M\"\n");
        assert!(e.contains("line 6") && e.contains("even"), "{e}");
        let e = err("[[rung]]\nid = \"v1\"\nheight = 360\nbitrate = \"fast\"\n");
        assert!(e.contains("line 1") && e.contains("bitrate"), "{e}");
        let e = err("[[rung]]\nid = \"a128\"\nheight = 360\nbitrate = \"1M\"\n");
        assert!(e.contains("reserved"), "{e}");
        let e = err("[[rung]]\nid = \"v\"\nheight = 360\nbitrate = \"1M\"\n[[rung]]\nid = \"v\"\nheight = 720\nbitrate = \"2M\"\n");
        assert!(e.contains("duplicate"), "{e}");
        assert!(err("").contains("rung"));
        let e = err("[[rung]]\nid = \"v\"\nheight = 360\nbitrate = \"1M\"\nfps = 0\n");
        assert!(e.contains("fps"), "{e}");
    }
}
