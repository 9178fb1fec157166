//! The MPD shapes this product writes, shared by the integration tests.

#![allow(dead_code)]

use manifests::layout::{self, MediaKind};
use manifests::*;

/// Static isoff-live MPD: a video AdaptationSet with four Representations and a
/// `$Number$` SegmentTemplate with `@duration`, and an audio AdaptationSet with a
/// SegmentTimeline.
pub fn product_mpd() -> Mpd {
    let mut mpd = Mpd::new_static(IsoDuration::from_secs(30), IsoDuration::from_secs(2));
    let mut video = AdaptationSet::for_kind(MediaKind::Video);
    video.id = Some(0);
    video.max_width = Some(1280);
    video.max_height = Some(720);
    video.max_frame_rate = Some(FrameRate::integer(30));
    video.par = Some(Ratio::new(16, 9));
    video.segment_template = Some(SegmentTemplate {
        timescale: Some(15360),
        duration: Some(30720),
        start_number: Some(layout::START_NUMBER as u32),
        initialization: Some(layout::init_template(MediaKind::Video)),
        media: Some(layout::media_template()),
        ..Default::default()
    });
    for (id, codecs, bw, w, h) in [
        ("v1080", "avc1.640028", 5_000_000, 1920, 1080),
        ("v720", "avc1.64001F", 3_000_000, 1280, 720),
        ("v480", "avc1.4D401E", 1_500_000, 854, 480),
        ("v360", "avc1.42C01E", 800_000, 640, 360),
    ] {
        let mut rep = Representation::new(id, bw);
        rep.common.codecs = Some(codecs.into());
        rep.common.width = Some(w);
        rep.common.height = Some(h);
        rep.common.frame_rate = Some(FrameRate::integer(30));
        rep.common.sar = Some(Ratio::new(1, 1));
        video.representations.push(rep);
    }
    video.max_width = Some(1920);
    video.max_height = Some(1080);

    let mut audio = AdaptationSet::for_kind(MediaKind::Audio);
    audio.id = Some(1);
    audio.lang = Some("en".into());
    audio.roles.push(Descriptor::new(ROLE_SCHEME, "main"));
    audio
        .common
        .audio_channel_configurations
        .push(Descriptor::audio_channels(2));
    audio.segment_template = Some(SegmentTemplate {
        timescale: Some(48000),
        start_number: Some(1),
        initialization: Some(layout::init_template(MediaKind::Audio)),
        media: Some(layout::media_template()),
        segment_timeline: Some(SegmentTimeline {
            entries: vec![
                S::new(Some(0), 96256, 2),
                S::new(None, 95232, 0),
                S::new(None, 96256, 2),
                S::new(None, 95232, 0),
            ],
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut a128 = Representation::new("a128", 128_000);
    a128.common.codecs = Some("mp4a.40.2".into());
    a128.common.audio_sampling_rate = Some(vec![48000]);
    audio.representations.push(a128);

    mpd.periods.push(Period {
        id: Some("0".into()),
        start: Some(IsoDuration::ZERO),
        adaptation_sets: vec![video, audio],
        ..Default::default()
    });
    mpd
}

/// The product MPD with one `BaseURL` per edge (`serviceLocation`) and, if `steering`, a
/// `ContentSteering` element.
pub fn steered_mpd(steering: bool) -> Mpd {
    let mut mpd = product_mpd();
    for (loc, host) in [
        ("edge-a", "http://edge-a.example:8081/default/"),
        ("edge-b", "http://edge-b.example:8082/default/"),
    ] {
        mpd.base_urls
            .push(BaseUrl::with_service_location(host, loc));
    }
    if steering {
        mpd.content_steering = Some(ContentSteering {
            default_service_location: Some("edge-a edge-b".into()),
            query_before_start: Some(true),
            proxy_server_url: None,
            url: "http://steering.example:8090/steer?session=s1".into(),
            ..Default::default()
        });
    }
    mpd
}
