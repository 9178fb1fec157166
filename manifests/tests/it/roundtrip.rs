//! Model → XML → model round trips, reading details (namespaces, unknown content, errors)
//! and the reader helpers (template inheritance, segment lists).

use crate::common;

use manifests::schema::validate_xml_with_xmllint;
use manifests::*;

fn round_trip(mpd: &Mpd) -> String {
    let xml = mpd.to_xml().expect("to_xml");
    let again = Mpd::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(&again, mpd, "round trip changed the model\n{xml}");
    xml
}

/// A live MPD using most of what readers meet: dynamic timing attributes, several
/// periods, xlink, events, content protection with foreign children, UTCTiming, labels.
fn live_mpd() -> Mpd {
    let mut mpd = Mpd {
        id: Some("live-1".into()),
        profiles: "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019".into(),
        mpd_type: Some(PresentationType::Dynamic),
        availability_start_time: Some("2024-01-01T00:00:00Z".parse().unwrap()),
        publish_time: Some(DateTime::from_unix_millis(1_704_067_260_500)),
        minimum_update_period: Some("PT10S".parse().unwrap()),
        min_buffer_time: "PT1.5S".parse().unwrap(),
        time_shift_buffer_depth: Some("PT5M".parse().unwrap()),
        suggested_presentation_delay: Some("PT6S".parse().unwrap()),
        max_segment_duration: Some(IsoDuration::from_secs(2)),
        ..Default::default()
    };
    mpd.program_information.push(ProgramInformation {
        lang: Some("en".into()),
        title: Some("Test & <pattern>".into()),
        copyright: Some("nobody".into()),
        ..Default::default()
    });
    mpd.locations.push("https://example.com/live.mpd".into());
    mpd.utc_timings.push(Descriptor::new(
        "urn:mpeg:dash:utc:http-iso:2014",
        "https://time.example/iso",
    ));

    let mut first = Period {
        id: Some("p0".into()),
        start: Some(IsoDuration::ZERO),
        duration: Some("PT1H".parse().unwrap()),
        ..Default::default()
    };
    first.event_streams.push(EventStream {
        scheme_id_uri: "urn:example:ad".into(),
        timescale: Some(1000),
        events: vec![Event {
            presentation_time: Some(5000),
            duration: Some(1000),
            id: Some(1),
            message_data: Some("hello".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut video = AdaptationSet::for_kind(layout::MediaKind::Video);
    video.common.content_protections.push(ContentProtection {
        scheme_id_uri: "urn:mpeg:dash:mp4protection:2011".into(),
        value: Some("cenc".into()),
        default_kid: Some("34e5db32-8625-47cd-ba06-68fca0655a72".into()),
        ..Default::default()
    });
    let mut widevine = ContentProtection {
        scheme_id_uri: "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed".into(),
        ..Default::default()
    };
    let mut pssh = XmlElement::new("cenc:pssh");
    pssh.children.push(XmlNode::Text("AAAAW3Bzc2g=".into()));
    widevine.extra.children.push(XmlNode::Element(pssh));
    video.common.content_protections.push(widevine);
    video.common.essential_properties.push(Descriptor::new(
        "urn:mpeg:mpegB:cicp:TransferCharacteristics",
        "1",
    ));
    video.common.labels.push(Label {
        text: "Main camera".into(),
        lang: Some("en".into()),
        ..Default::default()
    });
    video
        .viewpoints
        .push(Descriptor::new("urn:example:viewpoint", "vp1"));
    video
        .accessibilities
        .push(Descriptor::new("urn:scte:dash:cc:cea-608:2015", "CC1=eng"));
    video.segment_template = Some(SegmentTemplate {
        timescale: Some(90000),
        presentation_time_offset: Some(900),
        media: Some("$RepresentationID$/$Time$.m4s".into()),
        initialization: Some("$RepresentationID$/init.mp4".into()),
        segment_timeline: Some(SegmentTimeline {
            entries: vec![S::new(Some(900), 180_000, -1)],
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut rep = Representation::new("v1", 2_000_000);
    rep.common.frame_rate = Some(FrameRate::fraction(30000, 1001));
    rep.common.codecs = Some("avc1.64001F".into());
    rep.common.inband_event_streams.push(EventStream {
        scheme_id_uri: "urn:mpeg:dash:event:2012".into(),
        value: Some("1".into()),
        ..Default::default()
    });
    video.representations.push(rep);
    first.adaptation_sets.push(video);
    mpd.periods.push(first);
    mpd.periods.push(Period {
        xlink_href: Some("https://ads.example/period.xml".into()),
        xlink_actuate: Some("onLoad".into()),
        ..Default::default()
    });
    mpd
}

#[test]
fn product_mpd_round_trips() {
    round_trip(&common::product_mpd());
    round_trip(&common::steered_mpd(true));
}

#[test]
fn live_mpd_round_trips_and_validates() {
    let mpd = live_mpd();
    let xml = round_trip(&mpd);
    assert!(
        xml.contains(r#"xmlns:xlink="http://www.w3.org/1999/xlink""#),
        "{xml}"
    );
    assert!(xml.contains(r#"xmlns:cenc="urn:mpeg:cenc:2013""#), "{xml}");
    assert!(xml.contains(r#"cenc:default_KID="34e5db32-8625-47cd-ba06-68fca0655a72""#));
    assert!(
        xml.contains("<Title>Test &amp; &lt;pattern&gt;</Title>"),
        "{xml}"
    );
    assert!(
        xml.contains(r#"publishTime="2024-01-01T00:01:00.500Z""#),
        "{xml}"
    );
    validate_xml_with_xmllint(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
}

#[test]
fn default_mpd_has_no_xlink_namespace() {
    let xml = common::product_mpd().to_xml().unwrap();
    assert!(
        !xml.contains("xmlns:xlink") && !xml.contains("xmlns:cenc"),
        "{xml}"
    );
}

#[test]
fn namespaces_are_resolved_not_matched_by_prefix() {
    let xml = r#"<?xml version="1.0"?>
<d:MPD xmlns:d="urn:mpeg:dash:schema:mpd:2011" xmlns:xl="http://www.w3.org/1999/xlink"
       xmlns:foo="urn:foo" profiles="urn:mpeg:dash:profile:full:2011" minBufferTime="PT2S" foo:bar="1">
  <d:Period xl:href="remote.xml" xl:actuate="onLoad"/>
  <d:Period id="p1"><foo:Thing a="b">text<foo:Inner/></foo:Thing></d:Period>
</d:MPD>"#;
    let mpd = Mpd::parse(xml).unwrap();
    assert_eq!(mpd.periods[0].xlink_href.as_deref(), Some("remote.xml"));
    assert_eq!(mpd.periods[0].xlink_actuate.as_deref(), Some("onLoad"));
    assert_eq!(
        mpd.extra.attrs,
        vec![
            (
                "xmlns:xl".to_string(),
                "http://www.w3.org/1999/xlink".to_string()
            ),
            ("xmlns:foo".into(), "urn:foo".into()),
            ("foo:bar".into(), "1".into())
        ]
    );
    let thing = mpd.periods[1].extra.elements("Thing").next().unwrap();
    assert_eq!(thing.attr("a"), Some("b"));
    assert_eq!(thing.text(), "text");
    let out = mpd.to_xml().unwrap();
    assert!(
        out.contains(r#"<Period xlink:href="remote.xml" xlink:actuate="onLoad"/>"#),
        "{out}"
    );
    assert!(out.contains("<foo:Thing a=\"b\">"), "{out}");
    assert_eq!(Mpd::parse(&out).unwrap(), mpd);
}

#[test]
fn byte_order_mark_and_no_declaration_are_fine() {
    let xml = "\u{feff}<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"p\" minBufferTime=\"PT1S\"/>";
    assert_eq!(
        Mpd::parse(xml).unwrap().min_buffer_time,
        IsoDuration::from_secs(1)
    );
}

#[test]
fn unknown_dash_attributes_and_elements_are_kept() {
    let xml = r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="p" minBufferTime="PT1S" futureAttr="x">
  <Period><AdaptationSet><FutureElement k="v"/><Representation id="r" bandwidth="1" newAttr="7"/></AdaptationSet></Period>
</MPD>"#;
    let mpd = Mpd::parse(xml).unwrap();
    assert_eq!(
        mpd.extra.attrs,
        vec![("futureAttr".to_string(), "x".to_string())]
    );
    let set = &mpd.periods[0].adaptation_sets[0];
    assert_eq!(set.extra.elements("FutureElement").count(), 1);
    assert_eq!(
        set.representations[0].extra.attrs[0],
        ("newAttr".to_string(), "7".to_string())
    );
    assert_eq!(Mpd::parse(&mpd.to_xml().unwrap()).unwrap(), mpd);
}

#[test]
fn errors_say_what_and_where() {
    let bad_value = "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"p\" minBufferTime=\"PT1S\">\n<Period>\n<AdaptationSet>\n<Representation id=\"v1\" bandwidth=\"lots\"/>\n</AdaptationSet></Period></MPD>";
    let msg = Mpd::parse(bad_value).unwrap_err().to_string();
    assert_eq!(msg, "line 4, MPD/Period[0]/AdaptationSet[0]/Representation[0](id=v1)/@bandwidth: invalid value \"lots\": not an xs:unsignedInt");

    let missing = "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"p\"/>";
    assert_eq!(
        Mpd::parse(missing).unwrap_err().to_string(),
        "line 1, MPD: missing required attribute @minBufferTime"
    );

    let bad_duration =
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"p\" minBufferTime=\"2s\"/>";
    let msg = Mpd::parse(bad_duration).unwrap_err().to_string();
    assert!(
        msg.contains("@minBufferTime: invalid value \"2s\": must start with 'P'"),
        "{msg}"
    );

    let not_mpd = "<html xmlns=\"http://www.w3.org/1999/xhtml\"/>";
    assert!(matches!(
        Mpd::parse(not_mpd),
        Err(ManifestError::NotAnMpd(_))
    ));

    let malformed = "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\">\n<Period>\n</MPD>";
    let err = Mpd::parse(malformed).unwrap_err();
    assert!(matches!(err, ManifestError::Xml { line: 3, .. }), "{err}");

    let twice = "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"p\" minBufferTime=\"PT1S\"><Period><SegmentTemplate/><SegmentTemplate/></Period></MPD>";
    let msg = Mpd::parse(twice).unwrap_err().to_string();
    assert!(
        msg.contains("MPD/Period[0]: <SegmentTemplate> may appear at most once"),
        "{msg}"
    );
}

#[test]
fn template_inheritance_and_segment_lists() {
    // Period-level template, AdaptationSet overrides media, Representation overrides startNumber.
    let xml = r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="p" minBufferTime="PT1S" type="static" mediaPresentationDuration="PT9S">
  <Period>
    <SegmentTemplate timescale="1000" duration="2000" initialization="$RepresentationID$/init.mp4" media="x"/>
    <AdaptationSet>
      <SegmentTemplate media="$RepresentationID$/$Number%03d$-$Bandwidth$.m4s"/>
      <Representation id="a" bandwidth="100"><SegmentTemplate startNumber="10"/></Representation>
    </AdaptationSet>
  </Period>
</MPD>"#;
    let mpd = Mpd::parse(xml).unwrap();
    let period = &mpd.periods[0];
    let set = &period.adaptation_sets[0];
    let rep = &set.representations[0];
    let t = rep.effective_segment_template(period, set).unwrap();
    assert_eq!(
        (t.timescale, t.duration, t.start_number),
        (Some(1000), Some(2000), Some(10))
    );
    assert_eq!(rep.init_url(period, set).as_deref(), Some("a/init.mp4"));
    let dur = mpd.period_duration(0);
    assert_eq!(dur, Some(IsoDuration::from_secs(9)));
    let segs = rep.media_segments(period, set, dur).unwrap();
    let urls: Vec<_> = segs.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "a/010-100.m4s",
            "a/011-100.m4s",
            "a/012-100.m4s",
            "a/013-100.m4s",
            "a/014-100.m4s"
        ]
    );
    assert_eq!(segs[4].segment.duration, 1000);
}

#[test]
fn segment_lists_of_tool_samples() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/mpd-samples/tools/"
    );
    let shaka =
        Mpd::parse(&std::fs::read_to_string(format!("{dir}shaka-packager-3.8.mpd")).unwrap())
            .unwrap();
    let period = &shaka.periods[0];
    let video = period.adaptation_sets_of("video").next().unwrap();
    let rep = &video.representations[0];
    let segs = rep
        .media_segments(period, video, shaka.period_duration(0))
        .unwrap();
    assert_eq!(segs.len(), 15);
    assert_eq!(segs[0].url, "v720/1.m4s");
    assert_eq!(segs[14].segment.time, 14 * 30720);
    let audio = period.adaptation_sets_of("audio").next().unwrap();
    let total: u64 = audio.representations[0]
        .media_segments(period, audio, None)
        .unwrap()
        .iter()
        .map(|s| s.segment.duration)
        .sum();
    assert_eq!(total, 30 * 48000); // the timeline covers exactly 30 s at 48 kHz

    let ffmpeg =
        Mpd::parse(&std::fs::read_to_string(format!("{dir}ffmpeg51-template-number.mpd")).unwrap())
            .unwrap();
    let period = &ffmpeg.periods[0];
    let set = &period.adaptation_sets[0];
    let rep = &set.representations[0];
    let segs = rep
        .media_segments(period, set, ffmpeg.period_duration(0))
        .unwrap();
    assert_eq!(segs[0].url, format!("chunk-{}-00001.m4s", rep.id));
    assert_eq!(
        rep.init_url(period, set).unwrap(),
        format!("init-{}.m4s", rep.id)
    );
}
