//! [`MpdPlan`]: what a player needs from an MPD — the video ladder with nominal sizes, the
//! segment URLs under each BaseURL alternative, and the audio to fetch beside the video
//! ([`AudioPlan`]). See the [module docs](super) for the rules.

use manifests::{BaseUrl, ManifestError, Mpd};
use reqwest::Url;

use player_sim::input::Ladder;

use super::ResolveError;

/// What a player needs from an MPD: the video ladder (nominal sizes) and the segment URLs.
#[derive(Debug, Clone)]
pub struct MpdPlan {
    /// The URL the MPD was fetched from (after redirects).
    pub mpd_url: Url,
    /// Video ladder, ascending `@bandwidth`; sizes are `@bandwidth × duration`.
    pub ladder: Ladder,
    /// Representation ids by quality.
    pub representation_ids: Vec<String>,
    /// Alternative bases (MPD-level BaseURLs resolved against the MPD URL, in document order;
    /// the MPD URL itself when there are none).
    pub bases: Vec<Url>,
    /// The `serviceLocation` of each of [`bases`](Self::bases) (content steering pathways).
    pub pathways: Vec<Option<String>>,
    /// The MPD's `<ContentSteering>`, if any ([`super::steer`]).
    pub steering: Option<super::steer::SteeringRef>,
    /// Relative BaseURLs below the MPD level, by quality (Period, AdaptationSet,
    /// Representation).
    prefixes: Vec<Vec<String>>,
    /// Init segment template expansions by quality.
    inits: Vec<Option<String>>,
    /// Media segment URLs, `[quality][index]`, relative to the prefixes.
    media: Vec<Vec<String>>,
    /// Video segment spans `(start, end)`, seconds on the period timeline, by index.
    pub video_spans: Vec<(f64, f64)>,
    /// The audio to fetch beside the video (`None`: the MPD has no audio AdaptationSet, or
    /// audio is turned off).
    pub audio: Option<AudioPlan>,
}

/// The audio Representation a player fetches beside the video: the first audio
/// AdaptationSet's lowest `@bandwidth` Representation.
#[derive(Debug, Clone)]
pub struct AudioPlan {
    /// Its `@id`.
    pub representation_id: String,
    /// Its `@bandwidth`, kbps.
    pub bitrate_kbps: f64,
    /// Relative BaseURLs below the MPD level (Period, AdaptationSet, Representation).
    prefixes: Vec<String>,
    /// Init segment template expansion.
    init: Option<String>,
    /// Media segments: `(start s, end s, URL relative to the prefixes)`, in order.
    segments: Vec<(f64, f64, String)>,
}

impl AudioPlan {
    /// Number of audio media segments.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// Span `(start, end)` of audio segment `index`, seconds on the period timeline.
    pub fn span(&self, index: usize) -> Option<(f64, f64)> {
        self.segments.get(index).map(|s| (s.0, s.1))
    }
}

/// The AdaptationSet carries `kind` (`video`, `audio`): its `@contentType` or a
/// `@mimeType` starting with it (its own or a Representation's). Live sessions pick their
/// sets with it too.
pub fn is_kind(set: &manifests::AdaptationSet, kind: &str) -> bool {
    let mime = |m: &Option<String>| m.as_deref().is_some_and(|m| m.starts_with(kind));
    set.content_type.as_deref() == Some(kind)
        || mime(&set.common.mime_type)
        || set
            .representations
            .iter()
            .any(|r| mime(&r.common.mime_type))
}

/// Most media segments an [`MpdPlan`] lists over all its Representations (video and audio
/// together): [`manifests::segments::MAX_SEGMENTS`], 2^20. Each listed segment costs about
/// 120 bytes at the peak (its URL, span and the transient
/// [`manifests::segments::MediaSegment`]; measured by `tests/it/hostile_mpd.rs`), so a plan
/// stays under about 130 MB however many Representations a hostile MPD lists.
pub const MAX_PLAN_SEGMENTS: u64 = manifests::segments::MAX_SEGMENTS;

/// `(start, end, url)` of every media segment of `r`, seconds on the period timeline; at most
/// `*budget` of them, which this takes from the budget.
fn timed_segments(
    period: &manifests::Period,
    set: &manifests::AdaptationSet,
    r: &manifests::Representation,
    pdur: Option<manifests::IsoDuration>,
    budget: &mut u64,
) -> Result<Vec<(f64, f64, String)>, ManifestError> {
    let pto = r
        .effective_segment_template(period, set)
        .and_then(|t| t.presentation_time_offset)
        .unwrap_or(0);
    let segs = r
        .media_segments_within(period, set, pdur, *budget)
        .map_err(|e| match e {
            // The limit that counts is the plan's, over all Representations.
            ManifestError::TooManySegments { .. } => ManifestError::TooManySegments {
                limit: MAX_PLAN_SEGMENTS,
            },
            e => e,
        })?;
    *budget -= segs.len() as u64;
    Ok(segs
        .into_iter()
        .map(|s| {
            let start = s.segment.start_in_period(pto).as_secs_f64();
            (start, start + s.segment.duration_secs(), s.url)
        })
        .collect())
}

fn first_base(b: &[BaseUrl]) -> Option<String> {
    b.first()
        .map(|b| b.url.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl MpdPlan {
    /// Parses `text` fetched from `mpd_url`. Errors name the URL.
    pub fn from_mpd(text: &str, mpd_url: &Url) -> Result<MpdPlan, ResolveError> {
        Self::build(text, mpd_url).map_err(|e| ResolveError::BadMpd {
            url: mpd_url.to_string(),
            source: Box::new(e),
        })
    }

    fn build(text: &str, mpd_url: &Url) -> Result<MpdPlan, ResolveError> {
        let mpd = Mpd::parse(text)?;
        let period = mpd.periods.first().ok_or(ResolveError::NoPeriod)?;
        let pdur = mpd.period_duration(0);
        let set = period
            .adaptation_sets
            .iter()
            .find(|s| is_kind(s, "video"))
            .ok_or(ResolveError::NoVideo)?;
        let mut reps: Vec<_> = set.representations.iter().collect();
        if reps.is_empty() {
            return Err(ResolveError::NoVideoRepresentation);
        }
        reps.sort_by_key(|r| r.bandwidth);
        let mut bases = Vec::new();
        let mut pathways = Vec::new();
        for b in &mpd.base_urls {
            let u = b.url.trim();
            if u.is_empty() {
                continue;
            }
            bases.push(mpd_url.join(u).map_err(|source| ResolveError::BadBaseUrl {
                base: u.to_string(),
                source,
            })?);
            pathways.push(b.service_location.clone());
        }
        if bases.is_empty() {
            bases.push(mpd_url.clone());
            pathways.push(None);
        }
        // A steering URL that does not resolve is ignored (the BaseURLs still play).
        let steering = mpd.content_steering.as_ref().and_then(|c| {
            Some(super::steer::SteeringRef {
                url: mpd_url.join(c.url.trim()).ok()?,
                default: c
                    .default_service_location
                    .as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                query_before_start: c.query_before_start.unwrap_or(false),
            })
        });
        let mut prefixes = Vec::new();
        let mut inits = Vec::new();
        let mut media = Vec::new();
        let mut durations: Vec<f64> = Vec::new();
        let mut video_spans: Vec<(f64, f64)> = Vec::new();
        let mut budget = MAX_PLAN_SEGMENTS;
        for r in &reps {
            let segs = timed_segments(period, set, r, pdur, &mut budget)?;
            if durations.is_empty() || segs.len() < durations.len() {
                durations = segs.iter().map(|s| s.1 - s.0).collect();
                video_spans = segs.iter().map(|s| (s.0, s.1)).collect();
            }
            prefixes.push(
                [
                    first_base(&period.base_urls),
                    first_base(&set.base_urls),
                    first_base(&r.base_urls),
                ]
                .into_iter()
                .flatten()
                .collect(),
            );
            inits.push(r.init_url(period, set));
            media.push(segs.into_iter().map(|s| s.2).collect::<Vec<_>>());
        }
        let n = media.iter().map(Vec::len).min().unwrap_or(0);
        if n == 0 {
            return Err(ResolveError::NoMediaSegments);
        }
        durations.truncate(n);
        video_spans.truncate(n);
        if !durations.iter().all(|d| *d > 0.0) {
            return Err(ResolveError::NoDuration);
        }
        let bitrates_kbps: Vec<f64> = reps.iter().map(|r| r.bandwidth as f64 / 1000.0).collect();
        if !bitrates_kbps.iter().all(|b| *b > 0.0) {
            return Err(ResolveError::NoBandwidth);
        }
        let name = mpd_url
            .path_segments()
            .and_then(|s| s.rev().nth(1).map(str::to_string))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| mpd_url.to_string());
        let audio = match period.adaptation_sets.iter().find(|s| is_kind(s, "audio")) {
            None => None,
            Some(aset) => {
                let r = aset
                    .representations
                    .iter()
                    .min_by_key(|r| r.bandwidth)
                    .ok_or(ResolveError::NoAudioRepresentation)?;
                let segments =
                    timed_segments(period, aset, r, pdur, &mut budget).map_err(|source| {
                        ResolveError::AudioSegments {
                            id: r.id.clone(),
                            source: Box::new(source),
                        }
                    })?;
                if segments.is_empty() {
                    return Err(ResolveError::NoAudioSegments(r.id.clone()));
                }
                Some(AudioPlan {
                    representation_id: r.id.clone(),
                    bitrate_kbps: r.bandwidth as f64 / 1000.0,
                    prefixes: [
                        first_base(&period.base_urls),
                        first_base(&aset.base_urls),
                        first_base(&r.base_urls),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                    init: r.init_url(period, aset),
                    segments,
                })
            }
        };
        let ladder = Ladder {
            name,
            bitrates_kbps: bitrates_kbps.clone(),
            segment_duration_ms: durations[0] * 1000.0,
            sizes_bits: durations
                .iter()
                .map(|d| bitrates_kbps.iter().map(|b| b * 1000.0 * d).collect())
                .collect(),
        };
        Ok(MpdPlan {
            mpd_url: mpd_url.clone(),
            ladder,
            representation_ids: reps.iter().map(|r| r.id.clone()).collect(),
            bases,
            pathways,
            steering,
            prefixes,
            inits,
            media,
            video_spans,
            audio,
        })
    }

    /// The base a playback starts on: the first `defaultServiceLocation` of the MPD's
    /// `<ContentSteering>` that names a BaseURL, else the first BaseURL.
    pub fn initial_base(&self) -> usize {
        self.steering
            .as_ref()
            .and_then(|s| super::steer::pick(&s.default, &self.pathways))
            .unwrap_or(0)
    }

    fn resolve(&self, base: usize, quality: usize, rel: &str) -> Result<Url, ResolveError> {
        self.resolve_with(base, &self.prefixes[quality], rel)
    }

    fn resolve_with(
        &self,
        base: usize,
        prefixes: &[String],
        rel: &str,
    ) -> Result<Url, ResolveError> {
        let mut u = self.bases[base % self.bases.len()].clone();
        for p in prefixes {
            u = u.join(p).map_err(|source| ResolveError::BadBaseUrl {
                base: p.clone(),
                source,
            })?;
        }
        u.join(rel).map_err(|source| ResolveError::BadSegmentUrl {
            rel: rel.to_string(),
            source,
        })
    }

    /// URL of media segment `index` (0-based) at `quality` under alternative base `base`
    /// (taken modulo the number of bases).
    pub fn media_url(
        &self,
        base: usize,
        quality: usize,
        index: usize,
    ) -> Result<Url, ResolveError> {
        let rel = self.media[quality]
            .get(index)
            .ok_or(ResolveError::NoSegment { index, quality })?;
        self.resolve(base, quality, rel)
    }

    /// URL of the init segment of `quality` under alternative base `base` (`None` when the
    /// Representation has none).
    pub fn init_url(&self, base: usize, quality: usize) -> Result<Option<Url>, ResolveError> {
        match &self.inits[quality] {
            Some(rel) => self.resolve(base, quality, rel).map(Some),
            None => Ok(None),
        }
    }
}

impl MpdPlan {
    /// URL of audio media segment `index` under alternative base `base`.
    pub fn audio_url(&self, base: usize, index: usize) -> Result<Url, ResolveError> {
        let a = self.audio.as_ref().ok_or(ResolveError::NoAudio)?;
        let rel = &a
            .segments
            .get(index)
            .ok_or(ResolveError::NoAudioSegment(index))?
            .2;
        self.resolve_with(base, &a.prefixes, rel)
    }

    /// URL of the audio init segment under alternative base `base` (`None` without audio or
    /// without an init segment).
    pub fn audio_init_url(&self, base: usize) -> Result<Option<Url>, ResolveError> {
        match self
            .audio
            .as_ref()
            .and_then(|a| a.init.as_ref().map(|i| (a, i)))
        {
            Some((a, rel)) => self.resolve_with(base, &a.prefixes, rel).map(Some),
            None => Ok(None),
        }
    }

    /// The audio segments to fetch beside video segment `index` when audio segments before
    /// `next` are already fetched: `next..end` where `end` is the first audio segment starting
    /// at or after the video segment's end (1 µs tolerance). Fetching these for each video
    /// segment in turn covers every video span with audio, each audio segment once.
    pub fn audio_until(&self, index: usize, next: usize) -> std::ops::Range<usize> {
        let Some(a) = &self.audio else {
            return next..next;
        };
        let Some(&(_, end)) = self.video_spans.get(index) else {
            return next..next;
        };
        let stop = a.segments.partition_point(|s| s.0 < end - 1e-6);
        next..stop.max(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MPD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT7S" minBufferTime="PT2S">
  BASES
  <Period id="0" start="PT0S">
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4">
      <SegmentTemplate timescale="1000" duration="2000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.m4a"/>
      <Representation id="a128" bandwidth="128000"/>
    </AdaptationSet>
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      SETBASE
      <SegmentTemplate timescale="90000" duration="180000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
      <Representation id="v720" bandwidth="3000000"/>
      <Representation id="v144" bandwidth="200000"/>
    </AdaptationSet>
  </Period>
</MPD>"#;

    fn mpd(bases: &str, set: &str) -> String {
        MPD.replace("BASES", bases).replace("SETBASE", set)
    }

    #[test]
    fn ladder_from_the_video_set_with_nominal_sizes() {
        let url = Url::parse("http://127.0.0.2:8081/default/manifest.mpd").unwrap();
        let p = MpdPlan::from_mpd(&mpd("", ""), &url).unwrap();
        assert_eq!(p.ladder.name, "default");
        assert_eq!(p.ladder.bitrates_kbps, vec![200.0, 3000.0]);
        assert_eq!(p.representation_ids, vec!["v144", "v720"]);
        assert_eq!(p.ladder.segment_duration_ms, 2000.0);
        // 7 s in 2 s segments: 4 segments, the last one 1 s.
        assert_eq!(p.ladder.segments(), 4);
        assert_eq!(p.ladder.sizes_bits[0], vec![400_000.0, 6_000_000.0]);
        assert_eq!(p.ladder.sizes_bits[3], vec![200_000.0, 3_000_000.0]);
        assert_eq!(
            p.media_url(0, 1, 0).unwrap().as_str(),
            "http://127.0.0.2:8081/default/v720/1.m4s"
        );
        assert_eq!(
            p.init_url(0, 0).unwrap().unwrap().as_str(),
            "http://127.0.0.2:8081/default/v144/init.mp4"
        );
        assert!(p.media_url(0, 0, 4).is_err());
    }

    #[test]
    fn base_urls_alternatives_and_nesting() {
        let url = Url::parse("http://127.0.0.1:8053/steered/default/manifest.mpd").unwrap();
        let bases = r#"<BaseURL serviceLocation="a">http://127.0.0.2:9001/default/</BaseURL>
  <BaseURL serviceLocation="b">http://127.0.0.3:9002/default/</BaseURL>"#;
        let p = MpdPlan::from_mpd(&mpd(bases, "<BaseURL>video/</BaseURL>"), &url).unwrap();
        assert_eq!(p.bases.len(), 2);
        assert_eq!(
            p.media_url(0, 0, 1).unwrap().as_str(),
            "http://127.0.0.2:9001/default/video/v144/2.m4s"
        );
        assert_eq!(
            p.media_url(1, 0, 1).unwrap().as_str(),
            "http://127.0.0.3:9002/default/video/v144/2.m4s"
        );
        assert_eq!(
            p.media_url(2, 0, 1).unwrap().as_str(),
            "http://127.0.0.2:9001/default/video/v144/2.m4s"
        );
        // A relative MPD-level BaseURL resolves against the MPD URL.
        let p = MpdPlan::from_mpd(&mpd("<BaseURL>../cdn/</BaseURL>", ""), &url).unwrap();
        assert_eq!(
            p.init_url(0, 1).unwrap().unwrap().as_str(),
            "http://127.0.0.1:8053/steered/cdn/v720/init.mp4"
        );
        assert_eq!((p.initial_base(), p.steering.is_none()), (0, true));
    }

    #[test]
    fn content_steering_pathways_and_default() {
        let url = Url::parse("http://127.0.0.1:8053/steered/default/manifest.mpd").unwrap();
        let bases = r#"<BaseURL serviceLocation="a">http://127.0.0.2:9001/default/</BaseURL>
  <BaseURL serviceLocation="b">http://127.0.0.3:9002/default/</BaseURL>
  <ContentSteering defaultServiceLocation="x b" queryBeforeStart="true">/steer?asset=default</ContentSteering>"#;
        let p = MpdPlan::from_mpd(&mpd(bases, ""), &url).unwrap();
        assert_eq!(p.pathways, [Some("a".to_string()), Some("b".to_string())]);
        let s = p.steering.as_ref().unwrap();
        assert_eq!(s.url.as_str(), "http://127.0.0.1:8053/steer?asset=default");
        assert_eq!(s.default, ["x", "b"]);
        assert!(s.query_before_start);
        // The first default that names a BaseURL: b.
        assert_eq!(p.initial_base(), 1);
    }

    #[test]
    fn bad_mpd_names_the_url() {
        let url = Url::parse("http://h/x/manifest.mpd").unwrap();
        let e = MpdPlan::from_mpd("<html>nope</html>", &url).unwrap_err();
        assert!(e.to_string().contains("http://h/x/manifest.mpd"), "{e}");
        let audio_only = mpd("", "").replace("contentType=\"video\" mimeType=\"video/mp4\"", "");
        let e = MpdPlan::from_mpd(&audio_only, &url).unwrap_err();
        assert_eq!(
            crate::error_chain(&e),
            "bad MPD from http://h/x/manifest.mpd: no video AdaptationSet"
        );
        assert!(
            matches!(e, ResolveError::BadMpd { ref source, .. } if matches!(**source, ResolveError::NoVideo))
        );
    }

    #[test]
    fn audio_with_number_and_duration() {
        let url = Url::parse("http://127.0.0.2:8081/default/manifest.mpd").unwrap();
        let p = MpdPlan::from_mpd(&mpd("", ""), &url).unwrap();
        let a = p.audio.as_ref().expect("audio planned");
        assert_eq!(a.representation_id, "a128");
        assert_eq!(a.bitrate_kbps, 128.0);
        // 7 s in 2 s segments, the last 1 s; the video spans are the same.
        assert_eq!(a.segments(), 4);
        assert_eq!(a.span(3), Some((6.0, 7.0)));
        assert_eq!(p.video_spans[3], (6.0, 7.0));
        assert_eq!(
            p.audio_init_url(0).unwrap().unwrap().as_str(),
            "http://127.0.0.2:8081/default/a128/init.m4a"
        );
        assert_eq!(
            p.audio_url(0, 1).unwrap().as_str(),
            "http://127.0.0.2:8081/default/a128/2.m4s"
        );
        // Aligned: one audio segment per video segment, none twice.
        assert_eq!(p.audio_until(0, 0), 0..1);
        assert_eq!(p.audio_until(1, 1), 1..2);
        assert_eq!(p.audio_until(3, 3), 3..4);
        assert_eq!(p.audio_until(1, 2), 2..2);
        assert!(p.audio_url(0, 4).is_err());
    }

    #[test]
    fn audio_with_a_segment_timeline_covers_each_video_span() {
        // Our packager's audio: 1024-sample AAC frames, 47 or 48 frames per segment at 48 kHz.
        let timeline = r#"<SegmentTemplate timescale="48000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.m4a">
        <SegmentTimeline><S t="0" d="96256" r="1"/><S d="95232"/><S d="96256"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="a64" bandwidth="64000"/>"#;
        let text = mpd("", "").replace(
            r#"<SegmentTemplate timescale="1000" duration="2000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.m4a"/>"#,
            timeline,
        );
        let url = Url::parse("http://h/t/manifest.mpd").unwrap();
        let p = MpdPlan::from_mpd(&text, &url).unwrap();
        let a = p.audio.as_ref().unwrap();
        // The lowest-bandwidth audio Representation.
        assert_eq!(a.representation_id, "a64");
        assert_eq!(a.segments(), 4);
        let (s1, e1) = a.span(1).unwrap();
        assert!((s1 - 96256.0 / 48000.0).abs() < 1e-9 && (e1 - 192512.0 / 48000.0).abs() < 1e-9);
        assert_eq!(p.audio_url(0, 3).unwrap().as_str(), "http://h/t/a64/4.m4s");
        // Walk the video segments as a player does: every video span is covered by the audio
        // fetched so far, each audio segment fetched once.
        let mut next = 0;
        let mut got = Vec::new();
        for i in 0..p.video_spans.len() {
            let r = p.audio_until(i, next);
            got.extend(r.clone());
            next = r.end;
            let covered = a.span(next - 1).unwrap().1;
            assert!(covered >= p.video_spans[i].1.min(7.0) - 0.01, "segment {i}");
        }
        assert_eq!(got, vec![0, 1, 2, 3]);
    }

    #[test]
    fn no_audio_set_no_audio_plan() {
        let url = Url::parse("http://h/x/manifest.mpd").unwrap();
        let video_only = mpd("", "").replace("contentType=\"audio\" mimeType=\"audio/mp4\"", "");
        let p = MpdPlan::from_mpd(&video_only, &url).unwrap();
        assert!(p.audio.is_none());
        assert_eq!(p.audio_until(0, 0), 0..0);
        assert!(p.audio_init_url(0).unwrap().is_none());
    }

    /// A video AdaptationSet of `reps` Representations sharing `template`, in a period of
    /// `duration`.
    fn hostile(duration: &str, template: &str, reps: usize) -> String {
        let reps: String = (0..reps)
            .map(|i| format!(r#"<Representation id="v{i}" bandwidth="{}"/>"#, 100_000 + i))
            .collect();
        format!(
            r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" {duration} minBufferTime="PT2S">
  <Period id="0"><AdaptationSet contentType="video" mimeType="video/mp4">{template}{reps}</AdaptationSet></Period>
</MPD>"#
        )
    }

    #[test]
    fn timeline_repeats_past_the_period_are_clamped_and_the_plan_budget_holds() {
        let url = Url::parse("http://o.test/a/manifest.mpd").unwrap();
        let tl = |r: &str| {
            format!(
                r#"<SegmentTemplate timescale="1" media="$RepresentationID$/$Number$.m4s"><SegmentTimeline><S t="0" d="1" r="{r}"/></SegmentTimeline></SegmentTemplate>"#
            )
        };
        // Issue 12: r = 2e9 in a 60 s period: 60 one-second segments.
        let p = MpdPlan::from_mpd(
            &hostile(r#"mediaPresentationDuration="PT60S""#, &tl("2000000000"), 1),
            &url,
        )
        .unwrap();
        assert_eq!(p.video_spans.len(), 60);
        assert_eq!(p.video_spans[59], (59.0, 60.0));
        // Without a period duration the repeat is taken as written: refused, not allocated.
        let t0 = std::time::Instant::now();
        let e = MpdPlan::from_mpd(&hostile("", &tl("2000000000"), 1), &url).unwrap_err();
        let m = crate::error_chain(&e);
        assert!(m.contains("more than 1048576 segments"), "{m}");
        assert!(m.contains("o.test/a/manifest.mpd"), "{m}");
        // One budget for all Representations: 40 × 30 000 segments (within the per
        // Representation limit, 1.2 M in all) is refused at the 35th.
        let e = MpdPlan::from_mpd(
            &hostile(r#"mediaPresentationDuration="PT30000S""#, &tl("-1"), 40),
            &url,
        )
        .unwrap_err();
        let m = crate::error_chain(&e);
        assert!(m.contains("segments, the most this reader lists"), "{m}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(20));
        // r = -2 is no repeat count.
        let e = MpdPlan::from_mpd(
            &hostile(r#"mediaPresentationDuration="PT60S""#, &tl("-2"), 1),
            &url,
        )
        .unwrap_err();
        assert!(crate::error_chain(&e).contains("r=-2"));
    }
}
