//! The live timing policy of a player: what a dynamic MPD says about when each segment exists,
//! where to join, how late the player is and how fast to play to get back to the target —
//! pure functions over the parsed MPD and a wall-clock time, tested here.
//!
//! ## Rules (ISO/IEC 23009-1 5th ed.; DASH-IF IOP "Live services"; dash.js 5.2 behaviour)
//! * **Presentation time** of a segment on the Period timeline: `(S@t or (Number −
//!   startNumber) × @duration − presentationTimeOffset) / timescale` (§5.3.9.2, §5.3.9.6).
//! * **Availability start** of a segment (§5.3.9.5.3; §A.3.4): `availabilityStartTime +
//!   Period@start + segment end − availabilityTimeOffset`. A request before it is answered
//!   `404`/`425` by a server; a player never sends one ([`SegmentTimes::available_at_ms`]).
//! * **Live edge** at wall clock `now` (server time after `UTCTiming` sync): the Period-time
//!   `now − availabilityStartTime − Period@start` ([`LiveTiming::live_edge_s`]); the
//!   **latency** of a player showing Period-time `p` is `live edge − p`
//!   ([`LiveTiming::latency_s`]), dash.js's `getCurrentLiveLatency`.
//! * **Target latency** (dash.js `getLiveDelay`): `ServiceDescription/Latency@target` (ms),
//!   else `suggestedPresentationDelay`, else 4 segment durations
//!   (dash.js `liveDelayFragmentCount` = 4) ([`LiveTiming::target_latency_s`]).
//! * **Join** (dash.js `getStreamStartTime` for live): play from `live edge − target`, starting
//!   with the segment that contains that time ([`LiveTiming::join_position_s`]).
//! * **Catch-up** ([`catchup_rate`]): dash.js's default mode (`liveCatchupModeDefault`,
//!   `CatchupController._calculateNewPlaybackRateDefault`): with drift `Δ = latency − target`
//!   and `cpr` = the allowed rate change in that direction (`PlaybackRate@max − 1` /
//!   `1 − PlaybackRate@min` of the ServiceDescription, else dash.js's defaults +0.5 / −0.5),
//!   `rate = 1 − cpr + 2·cpr / (1 + e^(−5Δ))`: a logistic curve through 1 at Δ = 0, saturating
//!   at `1 ± cpr`. While stalled the rate is 1. A drift above `maxDrift` (dash.js default
//!   12 s) is not caught up but sought: the player re-joins at the live edge
//!   ([`needs_resync`]).

use manifests::{Mpd, PresentationType, SegmentTemplate};

/// dash.js `DEFAULT_CATCHUP_PLAYBACK_RATE_MAX`: at most 1.5× when behind.
pub const DEFAULT_RATE_MAX_DELTA: f64 = 0.5;
/// dash.js `DEFAULT_CATCHUP_PLAYBACK_RATE_MIN` (absolute value): at least 0.5× when ahead.
pub const DEFAULT_RATE_MIN_DELTA: f64 = 0.5;
/// dash.js `DEFAULT_CATCHUP_MAX_DRIFT`, seconds: a larger drift is a seek to the live edge.
pub const DEFAULT_MAX_DRIFT_S: f64 = 12.0;
/// dash.js `liveDelayFragmentCount`: the target latency in segments when the MPD gives none.
pub const LIVE_DELAY_FRAGMENT_COUNT: f64 = 4.0;

/// Why a dynamic MPD cannot be played live.
#[derive(Debug, thiserror::Error)]
pub enum LiveMpdError {
    /// `MPD@type` is not `dynamic`.
    #[error("the MPD is static, not live")]
    Static,
    /// No `availabilityStartTime`.
    #[error("dynamic MPD without availabilityStartTime")]
    NoAvailabilityStart,
    /// No Period, no video AdaptationSet or no Representation in it.
    #[error("dynamic MPD without a video Representation")]
    NoVideo,
    /// The video has no SegmentTemplate, or one with neither `@duration` nor a timeline.
    #[error("live video needs a SegmentTemplate with @duration ($Number$) or a SegmentTimeline")]
    NoTemplate,
    /// The timeline could not be listed.
    #[error("live SegmentTimeline: {0}")]
    Timeline(#[source] manifests::ManifestError),
}

/// How live video segments are addressed.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveAddressing {
    /// `SegmentTemplate@duration` (timescale units) with `$Number$`.
    Number {
        /// `@duration`.
        duration: u64,
    },
    /// A `SegmentTimeline`: the segments it lists now, `(t, d, number)`.
    Timeline(Vec<(u64, u64, u64)>),
}

/// One live video segment: its address and its times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentTimes {
    /// `$Number$`.
    pub number: u64,
    /// `$Time$` (media time, timescale units).
    pub time: u64,
    /// Start on the Period timeline, seconds.
    pub start_s: f64,
    /// End on the Period timeline, seconds.
    pub end_s: f64,
    /// When it becomes available: wall clock, ms since the epoch.
    pub available_at_ms: f64,
}

/// What a dynamic MPD says about time, for the video a player fetches.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTiming {
    /// `availabilityStartTime`, ms since the epoch.
    pub ast_ms: f64,
    /// `Period@start` of the first Period, seconds.
    pub period_start_s: f64,
    /// `minimumUpdatePeriod`, seconds (`None`: the MPD does not change).
    pub minimum_update_period_s: Option<f64>,
    /// `timeShiftBufferDepth`, seconds (`None`: infinite).
    pub time_shift_buffer_depth_s: Option<f64>,
    /// The target latency, seconds (see the module docs for where it comes from).
    pub target_latency_s: f64,
    /// Where the target came from: `ServiceDescription`, `suggestedPresentationDelay` or
    /// `4 segments`.
    pub target_source: &'static str,
    /// Allowed playback-rate change when behind (`max − 1`).
    pub rate_max_delta: f64,
    /// Allowed playback-rate change when ahead (`1 − min`).
    pub rate_min_delta: f64,
    /// `availabilityTimeOffset` of the video (SegmentTemplate or BaseURLs), seconds.
    pub ato_s: f64,
    /// Video timescale.
    pub timescale: u64,
    /// `presentationTimeOffset`.
    pub pto: u64,
    /// `startNumber` (1 when absent).
    pub start_number: u64,
    /// `$Number$` or timeline addressing.
    pub addressing: LiveAddressing,
    /// `UTCTiming` elements, `(schemeIdUri, value)` in document order.
    pub utc_timings: Vec<(String, String)>,
}

impl LiveTiming {
    /// Reads the timing of `mpd`'s first Period's video (its lowest Representation's
    /// SegmentTemplate; a live ladder shares one template).
    pub fn from_mpd(mpd: &Mpd) -> Result<LiveTiming, LiveMpdError> {
        Self::for_kind(mpd, "video")
    }

    /// The same for the first AdaptationSet of `kind` (`audio`: the audio fetched beside the
    /// video; `NoVideo` then means no such AdaptationSet).
    pub fn for_kind(mpd: &Mpd, kind: &str) -> Result<LiveTiming, LiveMpdError> {
        if mpd.presentation_type() != PresentationType::Dynamic {
            return Err(LiveMpdError::Static);
        }
        let ast_ms = mpd
            .availability_start_time
            .as_ref()
            .ok_or(LiveMpdError::NoAvailabilityStart)?
            .unix_millis() as f64;
        let period = mpd.periods.first().ok_or(LiveMpdError::NoVideo)?;
        let set = period
            .adaptation_sets
            .iter()
            .find(|s| crate::resolve::plan::is_kind(s, kind))
            .ok_or(LiveMpdError::NoVideo)?;
        let rep = set
            .representations
            .iter()
            .min_by_key(|r| r.bandwidth)
            .ok_or(LiveMpdError::NoVideo)?;
        let t: SegmentTemplate = rep
            .effective_segment_template(period, set)
            .ok_or(LiveMpdError::NoTemplate)?;
        let timescale = u64::from(t.effective_timescale()).max(1);
        let start_number = t.effective_start_number();
        let addressing = if t.segment_timeline.is_some() {
            let segs = t
                .segments_within(None, manifests::segments::MAX_SEGMENTS)
                .map_err(LiveMpdError::Timeline)?;
            LiveAddressing::Timeline(
                segs.iter()
                    .map(|s| (s.time, s.duration, s.number))
                    .collect(),
            )
        } else {
            match t.duration {
                Some(d) if d > 0 => LiveAddressing::Number {
                    duration: u64::from(d),
                },
                _ => return Err(LiveMpdError::NoTemplate),
            }
        };
        let secs = |d: &Option<manifests::IsoDuration>| d.as_ref().map(|d| d.as_secs_f64());
        let seg_s = match &addressing {
            LiveAddressing::Number { duration } => *duration as f64 / timescale as f64,
            LiveAddressing::Timeline(v) => v.last().map_or(2.0, |s| s.1 as f64 / timescale as f64),
        };
        let sd = mpd.service_descriptions.first();
        let sd_target = sd
            .and_then(|s| s.latencies.first())
            .and_then(|l| l.target)
            .map(|ms| f64::from(ms) / 1000.0);
        let rate = sd.and_then(|s| s.playback_rates.first());
        let (target_latency_s, target_source) =
            match (sd_target, secs(&mpd.suggested_presentation_delay)) {
                (Some(t), _) => (t, "ServiceDescription"),
                (None, Some(s)) => (s, "suggestedPresentationDelay"),
                (None, None) => (LIVE_DELAY_FRAGMENT_COUNT * seg_s, "4 segments"),
            };
        let ato_s = t
            .availability_time_offset
            .or_else(|| {
                mpd.base_urls
                    .first()
                    .and_then(|b| b.availability_time_offset)
            })
            .filter(|a| a.is_finite() && *a > 0.0)
            .unwrap_or(0.0);
        Ok(LiveTiming {
            ast_ms,
            period_start_s: mpd.period_start(0).map_or(0.0, |d| d.as_secs_f64()),
            minimum_update_period_s: secs(&mpd.minimum_update_period),
            time_shift_buffer_depth_s: secs(&mpd.time_shift_buffer_depth),
            target_latency_s,
            target_source,
            rate_max_delta: rate
                .and_then(|r| r.max)
                .map_or(DEFAULT_RATE_MAX_DELTA, |m| (m - 1.0).clamp(0.0, 1.0)),
            rate_min_delta: rate
                .and_then(|r| r.min)
                .map_or(DEFAULT_RATE_MIN_DELTA, |m| (1.0 - m).clamp(0.0, 1.0)),
            ato_s,
            timescale,
            pto: t.presentation_time_offset.unwrap_or(0),
            start_number,
            addressing,
            utc_timings: mpd
                .utc_timings
                .iter()
                .map(|d| (d.scheme_id_uri.clone(), d.value.clone().unwrap_or_default()))
                .collect(),
        })
    }

    /// `number` or `timeline`.
    pub fn addressing_name(&self) -> &'static str {
        match self.addressing {
            LiveAddressing::Number { .. } => "number",
            LiveAddressing::Timeline(_) => "timeline",
        }
    }

    /// Nominal segment duration, seconds (`@duration`, or the timeline's last `d`).
    pub fn segment_s(&self) -> f64 {
        match &self.addressing {
            LiveAddressing::Number { duration } => *duration as f64 / self.timescale as f64,
            LiveAddressing::Timeline(v) => {
                v.last().map_or(0.0, |s| s.1 as f64 / self.timescale as f64)
            }
        }
    }

    /// The Period-time at the live edge at wall clock `now_ms` (server time).
    pub fn live_edge_s(&self, now_ms: f64) -> f64 {
        (now_ms - self.ast_ms) / 1000.0 - self.period_start_s
    }

    /// Latency of a player showing Period-time `position_s` at `now_ms`.
    pub fn latency_s(&self, now_ms: f64, position_s: f64) -> f64 {
        self.live_edge_s(now_ms) - position_s
    }

    /// Where a player joining at `now_ms` starts playing: `live edge − target latency`.
    pub fn join_position_s(&self, now_ms: f64) -> f64 {
        self.live_edge_s(now_ms) - self.target_latency_s
    }

    fn times(&self, number: u64, time: u64, duration: u64) -> SegmentTimes {
        let ts = self.timescale as f64;
        let start_s = (time as f64 - self.pto as f64) / ts;
        let end_s = start_s + duration as f64 / ts;
        SegmentTimes {
            number,
            time,
            start_s,
            end_s,
            available_at_ms: self.ast_ms + (self.period_start_s + end_s - self.ato_s) * 1000.0,
        }
    }

    /// The segment containing Period-time `t_s` (for a timeline: among those listed, else
    /// `None`). Before the first segment, the first.
    pub fn segment_at(&self, t_s: f64) -> Option<SegmentTimes> {
        let ts = self.timescale as f64;
        let media = (t_s * ts + self.pto as f64).max(self.pto as f64);
        match &self.addressing {
            LiveAddressing::Number { duration } => {
                let k = ((media - self.pto as f64) / *duration as f64)
                    .floor()
                    .max(0.0) as u64;
                Some(self.times(self.start_number + k, self.pto + k * duration, *duration))
            }
            LiveAddressing::Timeline(v) => v
                .iter()
                .find(|s| (s.0 + s.1) as f64 > media)
                .map(|s| self.times(s.2, s.0, s.1)),
        }
    }

    /// The segment after `prev` (for a timeline: the first listed one starting at or after
    /// `prev`'s end; `None` until the MPD lists it).
    pub fn next_after(&self, prev: &SegmentTimes) -> Option<SegmentTimes> {
        match &self.addressing {
            LiveAddressing::Number { duration } => {
                let k = prev.number + 1 - self.start_number;
                Some(self.times(prev.number + 1, self.pto + k * duration, *duration))
            }
            LiveAddressing::Timeline(v) => {
                let end = prev.time
                    + ((prev.end_s - prev.start_s) * self.timescale as f64).round() as u64;
                v.iter()
                    .find(|s| s.0 >= end)
                    .map(|s| self.times(s.2, s.0, s.1))
            }
        }
    }

    /// The segment has left the time-shift window at `now_ms` (its end is older than
    /// `timeShiftBufferDepth`).
    pub fn is_gone(&self, seg: &SegmentTimes, now_ms: f64) -> bool {
        self.time_shift_buffer_depth_s
            .is_some_and(|d| now_ms >= self.ast_ms + (self.period_start_s + seg.end_s + d) * 1000.0)
    }
}

/// dash.js's default catch-up rule (see the module docs): the playback rate for a player
/// `latency_s` behind the live edge with target `target_s`, allowed `rate_max_delta` up and
/// `rate_min_delta` down; 1 while `stalled`.
pub fn catchup_rate(
    latency_s: f64,
    target_s: f64,
    rate_max_delta: f64,
    rate_min_delta: f64,
    stalled: bool,
) -> f64 {
    if stalled {
        return 1.0;
    }
    let delta = latency_s - target_s;
    let cpr = if delta < 0.0 {
        rate_min_delta.abs()
    } else {
        rate_max_delta
    };
    let s = cpr * 2.0 / (1.0 + (-delta * 5.0).exp());
    1.0 - cpr + s
}

/// dash.js's catch-up seek: the drift above the target exceeds `max_drift_s`.
pub fn needs_resync(latency_s: f64, target_s: f64, max_drift_s: f64) -> bool {
    max_drift_s > 0.0 && latency_s - target_s > max_drift_s
}

/// Clock offset (server − local, ms) from one time request: the server's time `server_ms`
/// is taken as read half-way between the request (`sent_ms`) and the response
/// (`received_ms`), both local (NTP's symmetric-delay assumption, as dash.js's
/// `TimeSyncController`).
pub fn clock_offset_ms(server_ms: f64, sent_ms: f64, received_ms: f64) -> f64 {
    server_ms - (sent_ms + received_ms) / 2.0
}

/// The clock offset of the time request with the shortest round trip among `samples`
/// (`(sent, server, received)` ms; NTP's minimum-delay filter: a request queued on its way
/// out reads a server time late for its midpoint and would put the player ahead of the
/// server, i.e. early for every segment). `None` without samples.
pub fn best_offset_ms(samples: &[(f64, f64, f64)]) -> Option<f64> {
    samples
        .iter()
        .min_by(|a, b| (a.2 - a.0).total_cmp(&(b.2 - b.0)))
        .map(|&(sent, server, received)| clock_offset_ms(server, sent, received))
}

/// Mean, p50, p95 and max of latency samples (seconds); `None` without samples.
/// Percentiles by the nearest rank.
pub fn summarize(samples: &[f64]) -> Option<LatencySummary> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some(LatencySummary {
        samples: v.len(),
        mean_s: v.iter().sum::<f64>() / v.len() as f64,
        p50_s: rank(0.5),
        p95_s: rank(0.95),
        max_s: v[v.len() - 1],
    })
}

/// A latency distribution, seconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub samples: usize,
    /// Mean.
    pub mean_s: f64,
    /// Median (nearest rank).
    pub p50_s: f64,
    /// 95th percentile (nearest rank).
    pub p95_s: f64,
    /// Maximum.
    pub max_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mpd(template: &str, extra: &str) -> Mpd {
        mpd_with(template, extra, "")
    }

    fn mpd_with(template: &str, extra: &str, children: &str) -> Mpd {
        Mpd::parse(&format!(
            r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" profiles="urn:mpeg:dash:profile:isoff-live:2011"
 availabilityStartTime="1970-01-01T00:00:00Z" minBufferTime="PT2S" minimumUpdatePeriod="PT2S"
 timeShiftBufferDepth="PT30S" {extra}>
 {children}
 <Period id="p0" start="PT0S">
  <AdaptationSet contentType="video" mimeType="video/mp4">
   {template}
   <Representation id="v1" bandwidth="500000"/>
   <Representation id="v2" bandwidth="1000000"/>
  </AdaptationSet>
 </Period>
 <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="http://o/live/time"/>
</MPD>"#
        ))
        .unwrap()
    }

    const NUMBER: &str = r#"<SegmentTemplate timescale="1000" duration="2000" startNumber="0" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>"#;

    #[test]
    fn number_availability_is_ast_plus_segment_end() {
        let t = LiveTiming::from_mpd(&mpd(NUMBER, r#"suggestedPresentationDelay="PT6S""#)).unwrap();
        assert_eq!(t.target_latency_s, 6.0);
        assert_eq!(t.target_source, "suggestedPresentationDelay");
        // At 100.5 s the live edge is 100.5; the segment holding 100.5 is #50 [100, 102),
        // available at 102 s.
        let s = t.segment_at(100.5).unwrap();
        assert_eq!(
            (s.number, s.time, s.start_s, s.end_s),
            (50, 100_000, 100.0, 102.0)
        );
        assert_eq!(s.available_at_ms, 102_000.0);
        let n = t.next_after(&s).unwrap();
        assert_eq!((n.number, n.available_at_ms), (51, 104_000.0));
        assert!(!t.is_gone(&s, 131_999.0) && t.is_gone(&s, 132_000.0));
        // Join at 100.5 s wall: 94.5 s, segment #47 [94, 96), already available.
        let j = t.segment_at(t.join_position_s(100_500.0)).unwrap();
        assert_eq!(j.number, 47);
        assert!(j.available_at_ms <= 100_500.0);
        assert!((t.latency_s(100_500.0, 94.5) - 6.0).abs() < 1e-9);
    }

    #[test]
    fn availability_time_offset_and_start_number_and_service_description() {
        let tpl = r#"<SegmentTemplate timescale="10" duration="20" startNumber="1" presentationTimeOffset="0" availabilityTimeOffset="1.5" media="$Number$.m4s"/>"#;
        let sd = r#"<ServiceDescription id="0"><Latency target="3000" min="2000" max="6000"/><PlaybackRate min="0.9" max="1.2"/></ServiceDescription>"#;
        let t = LiveTiming::from_mpd(&mpd_with(tpl, r#"suggestedPresentationDelay="PT6S""#, sd))
            .unwrap();
        assert_eq!(
            (t.target_latency_s, t.target_source),
            (3.0, "ServiceDescription")
        );
        assert!((t.rate_max_delta - 0.2).abs() < 1e-9 && (t.rate_min_delta - 0.1).abs() < 1e-9);
        let s = t.segment_at(0.0).unwrap();
        assert_eq!(s.number, 1);
        // Segment [0, 2) s is available 1.5 s before its end.
        assert_eq!(s.available_at_ms, 500.0);
    }

    #[test]
    fn timeline_segments_and_the_next_one_only_once_listed() {
        let tpl = r#"<SegmentTemplate timescale="1000" media="t$Time$.m4s"><SegmentTimeline><S t="10000" d="2000" r="1"/><S d="1000"/></SegmentTimeline></SegmentTemplate>"#;
        let t = LiveTiming::from_mpd(&mpd(tpl, "")).unwrap();
        // No suggestedPresentationDelay, no ServiceDescription: 4 × the last duration.
        assert_eq!((t.target_latency_s, t.target_source), (4.0, "4 segments"));
        let s = t.segment_at(12.5).unwrap();
        assert_eq!(
            (s.time, s.end_s, s.available_at_ms),
            (12_000, 14.0, 14_000.0)
        );
        let n = t.next_after(&s).unwrap();
        assert_eq!((n.time, n.end_s), (14_000, 15.0));
        assert_eq!(
            t.next_after(&n),
            None,
            "not listed yet: wait for the MPD update"
        );
        assert_eq!(t.segment_at(15.0), None);
    }

    #[test]
    fn static_mpd_is_not_live() {
        let m = mpd(NUMBER, "")
            .to_xml()
            .unwrap()
            .replace(r#"type="dynamic""#, r#"type="static""#);
        assert!(matches!(
            LiveTiming::from_mpd(&Mpd::parse(&m).unwrap()),
            Err(LiveMpdError::Static)
        ));
    }

    #[test]
    fn catchup_rate_follows_dashjs_default_curve() {
        // On target: 1; far behind: → 1.5; far ahead: → 0.5; stalled: 1.
        assert!((catchup_rate(6.0, 6.0, 0.5, 0.5, false) - 1.0).abs() < 1e-12);
        assert!((catchup_rate(16.0, 6.0, 0.5, 0.5, false) - 1.5).abs() < 1e-6);
        assert!((catchup_rate(0.0, 6.0, 0.5, 0.5, false) - 0.5).abs() < 1e-6);
        assert_eq!(catchup_rate(16.0, 6.0, 0.5, 0.5, true), 1.0);
        // 0.2 s behind: 1 − 0.5 + 1 / (1 + e^−1) = 1.2311.
        assert!((catchup_rate(6.2, 6.0, 0.5, 0.5, false) - 1.231_058_6).abs() < 1e-6);
        // Monotone in the drift, within [1 − min, 1 + max].
        let mut last = 0.0;
        for i in -100..=100 {
            let r = catchup_rate(6.0 + i as f64 * 0.05, 6.0, 0.2, 0.1, false);
            assert!(r >= last && (0.9 - 1e-12..=1.2 + 1e-12).contains(&r));
            last = r;
        }
        assert!(needs_resync(18.1, 6.0, 12.0) && !needs_resync(17.9, 6.0, 12.0));
        assert!(!needs_resync(100.0, 6.0, 0.0));
    }

    #[test]
    fn clock_offset_and_summary() {
        // Server said 1000 while we sent at 0 and got it at 40 (local): offset 980.
        assert_eq!(clock_offset_ms(1000.0, 0.0, 40.0), 980.0);
        // The 4 ms round trip wins over the 60 ms one that was queued on its way out.
        let s = [
            (0.0, 1050.0, 60.0),
            (100.0, 1102.0, 104.0),
            (200.0, 1230.0, 240.0),
        ];
        assert_eq!(best_offset_ms(&s), Some(1000.0));
        assert_eq!(best_offset_ms(&[]), None);
        let s = summarize(&[3.0, 1.0, 2.0, 4.0]).unwrap();
        assert_eq!(
            (s.samples, s.mean_s, s.p50_s, s.p95_s, s.max_s),
            (4, 2.5, 2.0, 4.0, 4.0)
        );
        assert!(summarize(&[]).is_none());
    }
}
