//! SPS parsing and codecs strings against streams freshly encoded by ffmpeg/libx264,
//! cross-checked with ffprobe.

use crate::common;

use media::codec;

fn sps_of(dir: &std::path::Path, size: &str, profile: &str) -> Vec<u8> {
    let out = dir.join(format!("{size}-{profile}.h264"));
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size={size}:rate=25"),
        "-t",
        "0.2",
        "-c:v",
        "libx264",
        "-profile:v",
        profile,
        "-pix_fmt",
        "yuv420p",
        "-f",
        "h264",
        out.to_str().unwrap(),
    ]);
    let data = std::fs::read(&out).unwrap();
    codec::split_annexb(&data)
        .into_iter()
        .find(|n| codec::nal_type(n) == codec::nal::SPS)
        .expect("an SPS in the stream")
        .to_vec()
}

#[test]
fn sps_matches_ffprobe_for_several_sizes_and_profiles() {
    let dir = tempfile::tempdir().unwrap();
    for (size, profile, pidc) in [
        ("320x240", "baseline", 66),
        ("854x480", "main", 77),
        ("1920x1080", "high", 100),
        ("202x98", "high", 100),
    ] {
        let sps = sps_of(dir.path(), size, profile);
        let info = codec::parse_sps(&sps).unwrap();
        assert_eq!(format!("{}x{}", info.width, info.height), size, "{profile}");
        assert_eq!(info.profile_idc, pidc);
        let probe = common::ffprobe_json(
            &dir.path().join(format!("{size}-{profile}.h264")),
            &["-show_streams"],
        );
        let level = probe["streams"][0]["level"].as_i64().unwrap();
        assert_eq!(info.level_idc as i64, level);
        let codecs = codec::avc_codec_string(&sps).unwrap();
        assert_eq!(
            codecs,
            format!("avc1.{:02X}{:02X}{:02X}", pidc, sps[2], level)
        );
        assert_eq!(info.vui_frame_rate(), Some(25.0));
    }
}

#[test]
fn asc_from_ffmpeg_aac() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=44100",
        "-t",
        "1",
        "-c:a",
        "aac",
        "-ac",
        "2",
        out.to_str().unwrap(),
    ]);
    let tracks = media::demux::demux_file(&out).unwrap();
    let media::track::CodecConfig::Aac {
        audio_specific_config,
        sample_rate,
        channels,
    } = &tracks[0].codec
    else {
        panic!("not AAC")
    };
    assert_eq!((*sample_rate, *channels), (44100, 2));
    assert_eq!(
        codec::aac_codec_string(audio_specific_config).unwrap(),
        "mp4a.40.2"
    );
    // ffmpeg appends the backward-compatible SBR sync extension (0x2b7, SBR off) after the
    // two core bytes.
    let core = codec::build_audio_specific_config(2, 44100, 2);
    assert_eq!(audio_specific_config[..2], core[..]);
}
