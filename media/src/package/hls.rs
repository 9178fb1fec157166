//! HLS playlists for the same CMAF files the MPD describes (RFC 8216): a multivariant
//! playlist beside the MPD and one media playlist per representation, in its directory,
//! pointing at its `init.mp4`/`init.m4a` (`EXT-X-MAP`) and numbered `.m4s` segments. No
//! media is duplicated: HLS and DASH players fetch the same files (and an edge caches them
//! once).
//!
//! Data flow: `write` hands over what it wrote ([`WrittenRepresentation`]: the report with
//! the codecs string, size, frame rate and peak bandwidth the MPD also uses, and the
//! segment timeline); [`Rendition::from_written`] adds the average bitrate (segment bytes
//! over presentation time); [`media_playlist`] and [`multivariant_playlist`] render text.
//!
//! Rules followed (RFC 8216 sections):
//! - `EXT-X-VERSION:6`, the lowest version with `EXT-X-MAP` in a playlist that is not
//!   I-frames-only (§7; float `EXTINF` needs 3, §4.3.2.1).
//! - `EXT-X-TARGETDURATION`: the largest segment duration rounded to the nearest integer,
//!   so every `EXTINF` rounded is ≤ it (§4.3.3.1), at least 1.
//! - `EXTINF` per segment with its exact duration (timeline ticks / timescale, 6 decimals).
//! - `EXT-X-PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST` (§4.3.3.5, §4.3.3.4): the package is
//!   complete; `EXT-X-INDEPENDENT-SEGMENTS` (§4.3.5.1): every segment starts with an IDR.
//! - Multivariant: audio as `EXT-X-MEDIA:TYPE=AUDIO` renditions of one group (§4.3.4.1),
//!   one `EXT-X-STREAM-INF` per video representation with `BANDWIDTH` = video peak + the
//!   group's largest audio peak (the MPD's `@bandwidth` values), `AVERAGE-BANDWIDTH` the
//!   same with averages, `CODECS` video + audio, `RESOLUTION`, `FRAME-RATE`, `AUDIO`
//!   (§4.3.4.2). An asset without video lists its audio representations as variants.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use manifests::layout::{self, MediaKind};

use super::write::WrittenRepresentation;
use crate::error::{Context, Result};

/// Protocol version written (see the module docs).
pub const HLS_VERSION: u32 = 6;

/// Group id of the audio renditions in the multivariant playlist.
pub const AUDIO_GROUP: &str = "audio";

/// What the playlists say about one representation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendition {
    pub id: String,
    pub kind: MediaKind,
    /// RFC 6381 codecs string (the MPD's `@codecs`).
    pub codecs: String,
    /// Peak bitrate, bits/s (the MPD's `@bandwidth`).
    pub bandwidth: u64,
    /// Media segment bytes × 8 / presentation seconds.
    pub average_bandwidth: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// As in the MPD: `25` or `30000/1001`.
    pub frame_rate: Option<String>,
    pub channels: Option<u16>,
    pub language: String,
    /// Segment durations in seconds, in order.
    pub segment_secs: Vec<f64>,
}

impl Rendition {
    /// The rendition of a written representation whose init segment has `init_bytes`.
    pub(crate) fn from_written(w: &WrittenRepresentation, init_bytes: u64) -> Rendition {
        let ts = w.timescale.max(1) as f64;
        let segment_secs: Vec<f64> = w.timeline.iter().map(|&(_, d)| d as f64 / ts).collect();
        let total: f64 = segment_secs.iter().sum();
        let media_bytes = w.report.bytes.saturating_sub(init_bytes);
        let average_bandwidth = if total > 0.0 {
            (media_bytes as f64 * 8.0 / total).ceil() as u64
        } else {
            w.report.bandwidth
        };
        Rendition {
            id: w.report.id.clone(),
            kind: w.report.kind,
            codecs: w.report.codecs.clone(),
            bandwidth: w.report.bandwidth,
            average_bandwidth: average_bandwidth.min(w.report.bandwidth),
            width: w.report.width,
            height: w.report.height,
            frame_rate: w.report.frame_rate.clone(),
            channels: w.report.channels,
            language: w.language.clone(),
            segment_secs,
        }
    }
}

/// `EXT-X-TARGETDURATION` for these segment durations (§4.3.3.1).
pub(crate) fn target_duration(segment_secs: &[f64]) -> u64 {
    segment_secs
        .iter()
        .map(|d| d.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1)
}

/// The media playlist of one representation; URIs are relative to its directory.
pub(crate) fn media_playlist(r: &Rendition) -> String {
    let mut s = String::with_capacity(64 + r.segment_secs.len() * 24);
    s.push_str("#EXTM3U\n");
    let _ = writeln!(s, "#EXT-X-VERSION:{HLS_VERSION}");
    let _ = writeln!(
        s,
        "#EXT-X-TARGETDURATION:{}",
        target_duration(&r.segment_secs)
    );
    s.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    s.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(s, "#EXT-X-MAP:URI=\"{}\"", r.kind.init_file());
    for (k, d) in r.segment_secs.iter().enumerate() {
        let number = layout::START_NUMBER + k as u64;
        let _ = writeln!(s, "#EXTINF:{d:.6},\n{number}.{}", layout::MEDIA_SEGMENT_EXT);
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

/// `FRAME-RATE` value (decimal, 3 places) of an MPD frame rate (`25`, `30000/1001`).
fn decimal_frame_rate(fr: &str) -> Option<String> {
    let (n, d) = fr.split_once('/').unwrap_or((fr, "1"));
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0.0 && d > 0.0).then(|| format!("{:.3}", n / d))
}

/// Quoted-string attribute values may not hold `"` or line breaks (§4.2).
fn quoted(v: &str) -> String {
    v.chars()
        .filter(|c| *c != '"' && *c != '\n' && *c != '\r')
        .collect()
}

/// The multivariant playlist; URIs are relative to the asset directory.
pub(crate) fn multivariant_playlist(renditions: &[Rendition]) -> String {
    let mut s = String::new();
    s.push_str("#EXTM3U\n");
    let _ = writeln!(s, "#EXT-X-VERSION:{HLS_VERSION}");
    s.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let audio: Vec<&Rendition> = renditions
        .iter()
        .filter(|r| r.kind == MediaKind::Audio)
        .collect();
    let video: Vec<&Rendition> = renditions
        .iter()
        .filter(|r| r.kind == MediaKind::Video)
        .collect();
    let uri = |r: &Rendition| layout::media_playlist_path(&r.id);
    if video.is_empty() {
        for a in &audio {
            let _ = writeln!(
                s,
                "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"\n{}",
                a.bandwidth,
                a.average_bandwidth,
                quoted(&a.codecs),
                uri(a)
            );
        }
        return s;
    }
    for (i, a) in audio.iter().enumerate() {
        let _ = write!(
            s,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{}\"",
            quoted(&a.id)
        );
        if !a.language.is_empty() && a.language != "und" {
            let _ = write!(s, ",LANGUAGE=\"{}\"", quoted(&a.language));
        }
        let default = if i == 0 { "YES" } else { "NO" };
        let _ = write!(s, ",DEFAULT={default},AUTOSELECT=YES");
        if let Some(ch) = a.channels {
            let _ = write!(s, ",CHANNELS=\"{ch}\"");
        }
        let _ = writeln!(s, ",URI=\"{}\"", uri(a));
    }
    // The variant must fit with any rendition of its group (§4.3.4.2): the largest one.
    let audio_peak = audio.iter().map(|a| a.bandwidth).max().unwrap_or(0);
    let audio_avg = audio.iter().map(|a| a.average_bandwidth).max().unwrap_or(0);
    // Every rendition's codecs, once each, in the order seen.
    let mut audio_codecs: Vec<&str> = Vec::new();
    for a in &audio {
        if !audio_codecs.contains(&a.codecs.as_str()) {
            audio_codecs.push(&a.codecs);
        }
    }
    for v in &video {
        let mut codecs = vec![v.codecs.as_str()];
        codecs.extend(&audio_codecs);
        let _ = write!(
            s,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"",
            v.bandwidth + audio_peak,
            v.average_bandwidth + audio_avg,
            quoted(&codecs.join(","))
        );
        if let (Some(w), Some(h)) = (v.width, v.height) {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        if let Some(fr) = v.frame_rate.as_deref().and_then(decimal_frame_rate) {
            let _ = write!(s, ",FRAME-RATE={fr}");
        }
        if !audio.is_empty() {
            let _ = write!(s, ",AUDIO=\"{AUDIO_GROUP}\"");
        }
        let _ = writeln!(s, "\n{}", uri(v));
    }
    s
}

/// Writes the multivariant playlist and every media playlist into the asset directory
/// `dir` (the work directory before the swap) from what was written there.
/// An encrypted package's media playlists carry an `EXT-X-KEY` ([`crate::encrypt::hls_with_key`]).
pub(crate) fn write_playlists(
    dir: &Path,
    written: &[WrittenRepresentation],
    encryption: Option<&crate::encrypt::Encryption>,
) -> Result<()> {
    let mut renditions = Vec::with_capacity(written.len());
    for w in written {
        let init = dir.join(layout::init_path(&w.report.id, w.report.kind));
        let init_bytes = fs::metadata(&init)
            .with_context(|| format!("reading the size of {}", init.display()))?
            .len();
        let r = Rendition::from_written(w, init_bytes);
        let path = dir.join(layout::media_playlist_path(&r.id));
        let mut text = media_playlist(&r);
        if let Some(e) = encryption {
            text = crate::encrypt::hls_with_key(&text, e, r.kind);
        }
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        renditions.push(r);
    }
    let path = dir.join(layout::HLS_MULTIVARIANT_FILE);
    fs::write(&path, multivariant_playlist(&renditions))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(id: &str, w: u32, h: u32, bw: u64, secs: &[f64]) -> Rendition {
        Rendition {
            id: id.into(),
            kind: MediaKind::Video,
            codecs: "avc1.4D401E".into(),
            bandwidth: bw,
            average_bandwidth: bw * 8 / 10,
            width: Some(w),
            height: Some(h),
            frame_rate: Some("30000/1001".into()),
            channels: None,
            language: "und".into(),
            segment_secs: secs.to_vec(),
        }
    }

    fn audio(id: &str, bw: u64, secs: &[f64]) -> Rendition {
        Rendition {
            id: id.into(),
            kind: MediaKind::Audio,
            codecs: "mp4a.40.2".into(),
            bandwidth: bw,
            average_bandwidth: bw - 1000,
            width: None,
            height: None,
            frame_rate: None,
            channels: Some(2),
            language: "eng".into(),
            segment_secs: secs.to_vec(),
        }
    }

    #[test]
    fn media_playlist_follows_rfc_8216() {
        let r = video("v360", 640, 360, 700_000, &[2.002, 2.002, 1.4]);
        let text = media_playlist(&r);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:2.002000,\n1.m4s\n#EXTINF:2.002000,\n2.m4s\n#EXTINF:1.400000,\n3.m4s\n\
             #EXT-X-ENDLIST\n"
        );
        let a = audio("a128", 130_000, &[2.5, 1.0]);
        let text = media_playlist(&a);
        assert!(text.contains("#EXT-X-MAP:URI=\"init.m4a\"\n"));
        // 2.5 rounds to 3 (round half away from zero): the rule still holds.
        assert!(text.contains("#EXT-X-TARGETDURATION:3\n"));
        assert_eq!(target_duration(&[]), 1);
        assert_eq!(target_duration(&[0.2]), 1);
    }

    #[test]
    fn multivariant_has_groups_and_combined_bandwidth() {
        let secs = [2.0, 2.0];
        let text = multivariant_playlist(&[
            video("v360", 640, 360, 700_000, &secs),
            video("v720", 1280, 720, 3_000_000, &secs),
            audio("a128", 130_000, &secs),
            audio("a64", 70_000, &secs),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            &lines[..3],
            ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
        );
        assert_eq!(
            lines[3],
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"a128\",LANGUAGE=\"eng\",\
             DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"a128/playlist.m3u8\""
        );
        assert!(lines[4].contains("NAME=\"a64\"") && lines[4].contains("DEFAULT=NO"));
        assert_eq!(
            lines[5],
            "#EXT-X-STREAM-INF:BANDWIDTH=830000,AVERAGE-BANDWIDTH=689000,\
             CODECS=\"avc1.4D401E,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=29.970,AUDIO=\"audio\""
        );
        assert_eq!(lines[6], "v360/playlist.m3u8");
        assert!(lines[7].starts_with("#EXT-X-STREAM-INF:BANDWIDTH=3130000,"));
        assert_eq!(lines[8], "v720/playlist.m3u8");
        assert_eq!(lines.len(), 9);
    }

    #[test]
    fn audio_only_and_video_only_assets() {
        let secs = [2.0];
        let text = multivariant_playlist(&[audio("a128", 130_000, &secs)]);
        assert!(text.contains(
            "#EXT-X-STREAM-INF:BANDWIDTH=130000,AVERAGE-BANDWIDTH=129000,CODECS=\"mp4a.40.2\"\na128/playlist.m3u8\n"
        ));
        assert!(!text.contains("EXT-X-MEDIA"));
        let text = multivariant_playlist(&[video("v", 320, 180, 200_000, &secs)]);
        assert!(!text.contains("AUDIO=") && !text.contains("EXT-X-MEDIA"));
        assert!(text.contains("CODECS=\"avc1.4D401E\",RESOLUTION=320x180"));
        assert_eq!(decimal_frame_rate("25").as_deref(), Some("25.000"));
        assert_eq!(decimal_frame_rate("x"), None);
    }
}
