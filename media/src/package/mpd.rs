//! Builds the asset's MPD from what was actually written (every value measured or parsed
//! from the bitstream) with the `manifests` model.

use crate::error::{Context, Result};
use manifests::layout::{self, MediaKind};
use manifests::mpd::{
    AdaptationSet, Descriptor, Mpd, Period, Representation, SegmentTemplate, SegmentTimeline,
    AUDIO_CHANNEL_CONFIGURATION_SCHEME, S,
};
use manifests::values::{FrameRate, IsoDuration, Ratio};

use super::write::WrittenRepresentation;

/// `SegmentTemplate` of one representation: `@duration` when every segment but a shorter last
/// one has the same duration and the first starts at 0, else a `SegmentTimeline`.
/// `presentation_secs` is the MPD duration: `@duration` is only used when it implies exactly
/// the segments that exist.
fn segment_template(w: &WrittenRepresentation, presentation_secs: f64) -> Result<SegmentTemplate> {
    let mut st = SegmentTemplate {
        timescale: Some(w.timescale),
        initialization: Some(layout::init_template(w.report.kind)),
        media: Some(layout::media_template()),
        start_number: Some(
            u32::try_from(layout::START_NUMBER)
                .context("start number too large for @startNumber")?,
        ),
        ..Default::default()
    };
    // Media time = presentation time + presentationTimeOffset (see `plan`).
    let pto = w.presentation_time_offset;
    if pto > 0 {
        st.presentation_time_offset = Some(pto);
    }
    let tl = &w.timeline;
    let d0 = tl[0].1;
    let contiguous = tl.windows(2).all(|p| p[0].0 + p[0].1 == p[1].0);
    let constant = tl[0].0 == 0
        && contiguous
        && tl[..tl.len() - 1].iter().all(|s| s.1 == d0)
        && tl.last().is_some_and(|s| s.1 <= d0)
        && d0 > 0
        && {
            // Number of segments a player derives: ceil(duration / @duration).
            let implied = (presentation_secs * w.timescale as f64 / d0 as f64 - 1e-6).ceil();
            implied == tl.len() as f64
        };
    if constant {
        st.duration = Some(u32::try_from(d0).context("segment duration too large for @duration")?);
    } else {
        let mut entries: Vec<S> = Vec::new();
        let mut expected_next: Option<u64> = None;
        for &(t, d) in tl {
            let continues = expected_next == Some(t);
            match entries.last_mut() {
                Some(last) if continues && last.d == d => last.r = Some(last.r.unwrap_or(0) + 1),
                _ => entries.push(S::new((!continues).then_some(t + pto), d, 0)),
            }
            expected_next = Some(t + d);
        }
        st.segment_timeline = Some(SegmentTimeline {
            entries,
            ..Default::default()
        });
    }
    Ok(st)
}

fn frame_rate_value(s: &str) -> Option<FrameRate> {
    s.parse().ok()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn representation(
    w: &WrittenRepresentation,
    template: Option<SegmentTemplate>,
) -> Result<Representation> {
    let r = &w.report;
    let mut rep = Representation {
        id: r.id.clone(),
        bandwidth: u32::try_from(r.bandwidth).context("bandwidth above 4 Gbit/s")?,
        segment_template: template,
        ..Default::default()
    };
    rep.common.codecs = Some(r.codecs.clone());
    match r.kind {
        MediaKind::Video => {
            rep.common.width = r.width;
            rep.common.height = r.height;
            rep.common.frame_rate = r.frame_rate.as_deref().and_then(frame_rate_value);
            rep.common.sar = Some(match w.sar {
                Some((h, v)) => Ratio::new(h as u32, v as u32),
                None => Ratio::new(1, 1),
            });
        }
        MediaKind::Audio => {
            rep.common.audio_sampling_rate = r.sample_rate.map(|s| vec![s]);
            if let Some(ch) = r.channels {
                rep.common
                    .audio_channel_configurations
                    .push(Descriptor::new(
                        AUDIO_CHANNEL_CONFIGURATION_SCHEME,
                        ch.to_string(),
                    ));
            }
        }
    }
    Ok(rep)
}

fn adaptation_set(
    presentation_secs: f64,
    id: u32,
    kind: MediaKind,
    reps: &[&WrittenRepresentation],
    aligned: bool,
    lang: Option<&str>,
) -> Result<AdaptationSet> {
    let mut reps: Vec<&WrittenRepresentation> = reps.to_vec();
    reps.sort_by_key(|w| w.report.bandwidth);
    let templates: Vec<SegmentTemplate> = reps
        .iter()
        .map(|w| segment_template(w, presentation_secs))
        .collect::<Result<_>>()?;
    let shared = templates.windows(2).all(|p| p[0] == p[1]);
    let mut set = AdaptationSet {
        id: Some(id),
        content_type: Some(kind.content_type().to_string()),
        segment_alignment: Some(aligned),
        lang: lang.map(str::to_string),
        ..Default::default()
    };
    set.common.mime_type = Some(kind.mime_type().to_string());
    set.common.start_with_sap = Some(1);
    if shared {
        set.segment_template = templates.first().cloned();
    }
    for (w, t) in reps.iter().zip(templates) {
        set.representations
            .push(representation(w, (!shared).then_some(t))?);
    }
    if kind == MediaKind::Video {
        set.max_width = reps.iter().filter_map(|w| w.report.width).max();
        set.max_height = reps.iter().filter_map(|w| w.report.height).max();
        set.max_frame_rate = reps
            .iter()
            .filter_map(|w| w.report.frame_rate.as_deref().and_then(frame_rate_value))
            .max_by(|a, b| a.as_f64().total_cmp(&b.as_f64()));
        // Picture aspect ratio of the largest rung, when all rungs agree.
        let pars: Vec<(u32, u32)> = reps
            .iter()
            .filter_map(|w| {
                let (wd, ht) = (w.report.width?, w.report.height?);
                let (sh, sv) = w.sar.map(|(h, v)| (h as u32, v as u32)).unwrap_or((1, 1));
                let (pw, ph) = (wd * sh, ht * sv);
                let g = gcd(pw, ph).max(1);
                Some((pw / g, ph / g))
            })
            .collect();
        if let Some(&first) = pars.first() {
            if pars.iter().all(|&p| p == first) {
                set.par = Some(Ratio::new(first.0, first.1));
            }
        }
    }
    Ok(set)
}

/// The MPD of an asset: static, isoff-live, one Period, one video AdaptationSet with every
/// video representation and one audio AdaptationSet per language.
pub(crate) fn build_mpd(
    written: &[WrittenRepresentation],
    duration_secs: f64,
    segment_duration: f64,
    aligned: bool,
    encryption: Option<&crate::encrypt::Encryption>,
) -> Result<String> {
    let max_segment = written
        .iter()
        .flat_map(|w| {
            w.timeline
                .iter()
                .map(move |&(_, d)| d as f64 / w.timescale as f64)
        })
        .fold(0.0, f64::max)
        .max(segment_duration.min(duration_secs));
    let mut mpd = Mpd::new_static(
        IsoDuration::from_millis((duration_secs * 1000.0).round() as u64),
        IsoDuration::from_millis((max_segment * 1000.0).ceil() as u64),
    );
    mpd.max_segment_duration = Some(IsoDuration::from_millis(
        (max_segment * 1000.0).ceil() as u64
    ));
    let mut period = Period {
        id: Some("0".into()),
        start: Some(IsoDuration::ZERO),
        ..Default::default()
    };

    let videos: Vec<&WrittenRepresentation> = written
        .iter()
        .filter(|w| w.report.kind == MediaKind::Video)
        .collect();
    let mut next_id = 0;
    if !videos.is_empty() {
        period.adaptation_sets.push(adaptation_set(
            duration_secs,
            next_id,
            MediaKind::Video,
            &videos,
            aligned,
            None,
        )?);
        next_id += 1;
    }
    let mut langs: Vec<String> = Vec::new();
    for w in written.iter().filter(|w| w.report.kind == MediaKind::Audio) {
        if !langs.contains(&w.language) {
            langs.push(w.language.clone());
        }
    }
    for lang in langs {
        let audios: Vec<&WrittenRepresentation> = written
            .iter()
            .filter(|w| w.report.kind == MediaKind::Audio && w.language == lang)
            .collect();
        let lang = (lang != "und").then_some(lang.as_str());
        period.adaptation_sets.push(adaptation_set(
            duration_secs,
            next_id,
            MediaKind::Audio,
            &audios,
            true,
            lang,
        )?);
        next_id += 1;
    }
    // Encrypted: each AdaptationSet says how and with which key id (ISO/IEC 23009-1 §5.8.4.1,
    // ISO/IEC 23001-7 §11.2), plus the ClearKey and W3C common systems.
    if let Some(enc) = encryption {
        for set in &mut period.adaptation_sets {
            let kind = match set.content_type.as_deref() {
                Some("video") => MediaKind::Video,
                _ => MediaKind::Audio,
            };
            set.common.content_protections = crate::encrypt::mpd_content_protections(enc, kind);
        }
    }
    mpd.periods.push(period);
    mpd.to_xml().context("serializing the MPD")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::RepresentationReport;

    fn written(
        kind: MediaKind,
        timescale: u32,
        timeline: Vec<(u64, u64)>,
    ) -> WrittenRepresentation {
        WrittenRepresentation {
            report: RepresentationReport {
                id: "r".into(),
                kind,
                codecs: "avc1.42C01E".into(),
                bandwidth: 1000,
                width: Some(640),
                height: Some(360),
                frame_rate: Some("30000/1001".into()),
                sample_rate: Some(48000),
                channels: Some(2),
                segments: timeline.len() as u64,
                bytes: 1,
            },
            timeline,
            presentation_time_offset: 0,
            timescale,
            sar: None,
            language: "und".into(),
        }
    }

    #[test]
    fn constant_durations_use_duration_attribute() {
        let w = written(
            MediaKind::Video,
            90000,
            vec![(0, 180000), (180000, 180000), (360000, 90000)],
        );
        let st = segment_template(&w, 5.0).unwrap();
        assert_eq!(st.duration, Some(180000));
        assert!(st.segment_timeline.is_none());
        // An MPD duration implying a fourth segment falls back to an explicit timeline.
        let st = segment_template(&w, 6.5).unwrap();
        assert_eq!(st.duration, None);
        assert!(st.segment_timeline.is_some());
    }

    #[test]
    fn varying_durations_use_compressed_timeline() {
        let tl = vec![
            (0, 96256),
            (96256, 96256),
            (192512, 95232),
            (287744, 96256),
            (400000, 1000),
        ];
        let w = written(MediaKind::Audio, 48000, tl);
        let st = segment_template(&w, 8.0).unwrap();
        let s = st.segment_timeline.unwrap().entries;
        let runs: Vec<_> = s.iter().map(|e| (e.t, e.d, e.r)).collect();
        assert_eq!(
            runs,
            [
                (Some(0), 96256, Some(1)),
                (None, 95232, None),
                (None, 96256, None),
                (Some(400000), 1000, None)
            ]
        );
    }

    #[test]
    fn mpd_validates_and_carries_measured_values() {
        let v = written(MediaKind::Video, 30000, vec![(0, 60060), (60060, 30030)]);
        let mut a = written(MediaKind::Audio, 48000, vec![(0, 96256), (96256, 48000)]);
        a.report.id = "a".into();
        a.report.codecs = "mp4a.40.2".into();
        let xml = build_mpd(&[v, a], 3.003, 2.0, true, None).unwrap();
        manifests::schema::validate_xml_with_xmllint(&xml).unwrap();
        assert!(xml.contains(r#"frameRate="30000/1001""#), "{xml}");
        assert!(xml.contains(r#"audioSamplingRate="48000""#));
        assert!(xml.contains(r#"par="16:9""#));
    }

    #[test]
    fn encrypted_mpd_has_content_protection_and_validates() {
        use crate::encrypt::{ContentKey, Encryption, Scheme};
        let v = written(MediaKind::Video, 30000, vec![(0, 60060), (60060, 30030)]);
        let mut a = written(MediaKind::Audio, 48000, vec![(0, 96256), (96256, 48000)]);
        a.report.id = "a".into();
        let key = ContentKey::from_hex(&"ab".repeat(16), &"cd".repeat(16)).unwrap();
        let enc = Encryption::single(Scheme::Cbcs, key, None).unwrap();
        let xml = build_mpd(&[v, a], 3.003, 2.0, true, Some(&enc)).unwrap();
        manifests::schema::validate_xml_with_xmllint(&xml).unwrap();
        assert_eq!(
            xml.matches(r#"schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cbcs""#)
                .count(),
            2,
            "{xml}"
        );
        assert!(
            xml.contains(r#"cenc:default_KID="abababab-abab-abab-abab-abababababab""#),
            "{xml}"
        );
        assert!(xml.contains("urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"));
        assert!(xml.contains("<cenc:pssh>AAAANHBzc2gBAAAAEHfv7MCyTQKs4zweUuL7SwAAAAGrq6urq6urq6urq6urq6urAAAAAA==</cenc:pssh>"), "{xml}");
        assert!(!xml.contains(&"cd".repeat(16)));
    }
}
