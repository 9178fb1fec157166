//! The dynamic MPD of a looped asset at a given wall-clock time: the VoD MPD with
//! `type="dynamic"`, `availabilityStartTime` at the epoch, `publishTime`,
//! `minimumUpdatePeriod`, `timeShiftBufferDepth`, `suggestedPresentationDelay`,
//! `UTCTiming`, a Period starting at 0, and one SegmentTemplate per AdaptationSet in the
//! requested [`Addressing`] (ISO/IEC 23009-1 §5.3.1.2 for the MPD attributes, §5.8.4.11 /
//! §5.8.5.7 for UTCTiming).

use manifests::{DateTime, Descriptor, IsoDuration, ManifestError, PresentationType};
use manifests::{SegmentTemplate, SegmentTimeline, S};

use super::asset::LoopAsset;
use super::timing::{ticks_to_ms_ceil, Addressing};

/// `SegmentTemplate@media` of the live MPD in [`Addressing::Number`].
pub const NUMBER_MEDIA: &str = "$RepresentationID$/$Number$.m4s";
/// `SegmentTemplate@media` of the live MPD in [`Addressing::Time`].
pub const TIME_MEDIA: &str = "$RepresentationID$/t$Time$.m4s";
/// `SegmentTemplate@initialization` of the live MPD (the VoD init segment, whatever its
/// VoD name).
pub const INIT: &str = "$RepresentationID$/init.mp4";
/// `UTCTiming@schemeIdUri`: an HTTP GET returning an ISO 8601 time.
pub const UTC_HTTP_ISO: &str = "urn:mpeg:dash:utc:http-iso:2014";
/// `UTCTiming@schemeIdUri`: the time written in the MPD itself (a fallback).
pub const UTC_DIRECT: &str = "urn:mpeg:dash:utc:direct:2014";
/// At most this many segments per SegmentTimeline (a 24 h window of 2 s segments is 43,200).
pub const MAX_TIMELINE_SEGMENTS: u64 = 50_000;

/// What the live MPD depends on besides the asset.
#[derive(Debug, Clone)]
pub struct LiveMpdParams {
    /// Wall clock, ms since the epoch.
    pub now_ms: u64,
    /// Addressing mode.
    pub addressing: Addressing,
    /// `timeShiftBufferDepth`, ms.
    pub time_shift_buffer_depth_ms: u64,
    /// `minimumUpdatePeriod`, ms.
    pub minimum_update_period_ms: u64,
    /// `suggestedPresentationDelay`, ms.
    pub suggested_presentation_delay_ms: u64,
    /// URL of the time endpoint (`UTCTiming` http-iso).
    pub utc_timing_url: String,
}

/// Writes the live MPD of `asset` at `p.now_ms`.
pub fn live_mpd(asset: &LoopAsset, p: &LiveMpdParams) -> Result<String, ManifestError> {
    let mut mpd = asset.vod.clone();
    mpd.mpd_type = Some(PresentationType::Dynamic);
    mpd.availability_start_time = Some(DateTime::from_unix_millis(0));
    mpd.media_presentation_duration = None;
    mpd.availability_end_time = None;
    mpd.minimum_update_period = Some(IsoDuration::from_millis(p.minimum_update_period_ms));
    mpd.time_shift_buffer_depth = Some(IsoDuration::from_millis(p.time_shift_buffer_depth_ms));
    mpd.suggested_presentation_delay =
        Some(IsoDuration::from_millis(p.suggested_presentation_delay_ms));
    // Segment URLs are relative to the live MPD, never to a VoD BaseURL.
    mpd.base_urls.clear();
    mpd.locations.clear();
    mpd.utc_timings = vec![
        Descriptor::new(UTC_HTTP_ISO, p.utc_timing_url.clone()),
        Descriptor::new(UTC_DIRECT, iso_millis(p.now_ms)),
    ];
    // publishTime: when the newest segment of the reference track became available (the
    // MPD's content changes then; identical MPDs carry identical publishTimes).
    let reference = &asset.tracks[asset.reference].timeline;
    let publish_ms = reference
        .last_available(p.now_ms, p.addressing)
        .and_then(|i| reference.segment(i, p.addressing))
        .map_or(0, |s| ticks_to_ms_ceil(s.end(), reference.timescale) as u64);
    mpd.publish_time = Some(DateTime::from_unix_millis(publish_ms as i64));

    let period = &mut mpd.periods[0];
    period.id = Some("p0".into());
    period.start = Some(IsoDuration::ZERO);
    period.duration = None;
    period.base_urls.clear();
    period.segment_template = None;
    period.segment_base = None;
    period.segment_list = None;
    for (si, set) in period.adaptation_sets.iter_mut().enumerate() {
        let Some(track) = asset.tracks.iter().find(|t| t.set == si) else {
            continue;
        };
        let tl = &track.timeline;
        let mut t = SegmentTemplate {
            timescale: Some(u32::try_from(tl.timescale).map_err(|_| {
                ManifestError::Segments(format!("timescale {} too large", tl.timescale))
            })?),
            initialization: Some(INIT.into()),
            ..Default::default()
        };
        match p.addressing {
            Addressing::Number => {
                let d = tl.nominal_duration().ok_or_else(|| {
                    ManifestError::Segments(format!(
                        "the loop of {} is not a whole number of equal segments: use the \
                         SegmentTimeline addressing",
                        track.rep_id
                    ))
                })?;
                t.duration = Some(u32::try_from(d).map_err(|_| {
                    ManifestError::Segments(format!("segment duration {d} too large"))
                })?);
                t.start_number = Some(0);
                t.media = Some(NUMBER_MEDIA.into());
            }
            Addressing::Time => {
                let window = tl.window(
                    p.now_ms,
                    p.time_shift_buffer_depth_ms,
                    Addressing::Time,
                    MAX_TIMELINE_SEGMENTS,
                );
                let mut entries: Vec<S> = Vec::new();
                for seg in &window {
                    match entries.last_mut() {
                        Some(last) if last.d == seg.duration => {
                            last.r = Some(last.r.unwrap_or(0) + 1);
                        }
                        _ => entries.push(S::new(
                            entries.is_empty().then_some(seg.start),
                            seg.duration,
                            0,
                        )),
                    }
                }
                t.media = Some(TIME_MEDIA.into());
                t.segment_timeline = Some(SegmentTimeline {
                    entries,
                    ..Default::default()
                });
            }
        }
        set.base_urls.clear();
        set.segment_base = None;
        set.segment_list = None;
        set.segment_template = Some(t);
        for rep in &mut set.representations {
            rep.base_urls.clear();
            rep.segment_template = None;
            rep.segment_base = None;
            rep.segment_list = None;
        }
    }
    mpd.to_xml()
}

/// An ISO 8601 UTC time with milliseconds, always three digits (`2026-12-06T07:40:01.000Z`).
pub fn iso_millis(ms: u64) -> String {
    let s = DateTime::from_unix_millis(ms as i64).as_str().to_string();
    if s.contains('.') {
        s
    } else {
        format!("{}.000Z", s.trim_end_matches('Z'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_millis_always_has_milliseconds() {
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_millis(1_765_000_000_123), "2025-12-06T05:46:40.123Z");
    }
}
