//! H.264 encoding of the test pattern with openh264 (Constrained Baseline, CBR-ish rate
//! control, IDR exactly every keyframe interval), converted to AVCC samples.

use crate::error::{ensure, Context, PackageError, Result};
use crate::progress::Progress;
use manifests::layout::MediaKind;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::{OpenH264API, Timestamp};

use super::pattern::{Frame, Pattern};
use super::{Rung, SynthOptions};
use crate::track::{CodecConfig, Sample, Track};

/// NAL unit types we look at.
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// The label burnt into a rendition's frames, e.g. `v720 1280x720 3000 kbps`.
pub fn rung_label(rung: &Rung) -> String {
    format!(
        "{} {}x{} {} kbps",
        rung.id,
        rung.width,
        rung.height,
        rung.bitrate_bps / 1000
    )
}

/// Renders and encodes every frame of one rung (single-threaded encoder: deterministic).
pub(crate) fn encode_rung(
    opts: &SynthOptions,
    rung: &Rung,
    progress: &dyn Progress,
) -> Result<Track> {
    let (width, height) = (rung.width as usize, rung.height as usize);
    ensure!(
        width >= 16 && height >= 16 && width & 1 == 0 && height & 1 == 0,
        "rung {}: {}x{} must be even and at least 16x16",
        rung.id,
        width,
        height
    );
    let timescale = super::video_timescale(opts.fps);
    let frame_duration = timescale / opts.fps;
    let gop = super::keyframe_interval_frames(opts)?;
    let frames = super::frame_count(opts);

    let config = EncoderConfig::new()
        .profile(Profile::Baseline)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(rung.bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(opts.fps as f32))
        // Every input frame must come out as a coded frame (exact durations).
        .skip_frames(false)
        // IDRs only where we force them (plus the matching periodic intra period).
        .scene_change_detect(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(gop))
        // One thread: the output must be byte-identical from run to run.
        .num_threads(1)
        .vui(VuiConfig::bt709());
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
        .with_context(|| format!("rung {}: creating the openh264 encoder", rung.id))?;
    silence_openh264(&mut encoder);

    let pattern = Pattern::new(width, height, opts.fps, rung_label(rung));
    let mut frame = Frame::new(width, height);
    let mut sps: Option<Vec<u8>> = None;
    let mut pps: Option<Vec<u8>> = None;
    let mut samples = Vec::with_capacity(frames as usize);

    for index in 0..frames {
        pattern.render(index, &mut frame);
        let want_idr = index % u64::from(gop) == 0;
        if want_idr && index > 0 {
            encoder.force_intra_frame();
        }
        let yuv = YUVSlices::new(
            (&frame.y, &frame.u, &frame.v),
            (width, height),
            (width, width / 2, width / 2),
        );
        let ts = Timestamp::from_millis(index * 1000 / u64::from(opts.fps));
        let bitstream = encoder
            .encode_at(&yuv, ts)
            .with_context(|| format!("rung {}: encoding frame {index}", rung.id))?;

        let mut data = Vec::new();
        let mut has_idr = false;
        for l in 0..bitstream.num_layers() {
            let layer = bitstream.layer(l).expect("layer index in range");
            for n in 0..layer.nal_count() {
                let nal = strip_start_code(layer.nal_unit(n).expect("nal index in range"));
                let Some(&header) = nal.first() else { continue };
                match header & 0x1f {
                    NAL_SPS => keep_parameter_set(&mut sps, nal, "SPS", &rung.id)?,
                    NAL_PPS => keep_parameter_set(&mut pps, nal, "PPS", &rung.id)?,
                    t => {
                        has_idr |= t == NAL_IDR;
                        data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        data.extend_from_slice(nal);
                    }
                }
            }
        }
        if data.is_empty() || bitstream.frame_type() == FrameType::Skip {
            return Err(PackageError::Encoder(format!(
                "rung {}: openh264 skipped frame {index} although frame skipping is disabled",
                rung.id
            )));
        }
        if has_idr != want_idr {
            return Err(PackageError::Encoder(format!(
                "rung {}: frame {index} is {}an IDR frame, expected {}",
                rung.id,
                if has_idr { "" } else { "not " },
                if want_idr {
                    "an IDR frame"
                } else {
                    "a P frame"
                }
            )));
        }
        samples.push(Sample {
            data,
            duration: frame_duration,
            composition_offset: 0,
            is_sync: has_idr,
        });
        progress.advance(1);
    }

    let (Some(sps), Some(pps)) = (sps, pps) else {
        return Err(PackageError::Encoder(format!(
            "rung {}: openh264 produced no SPS/PPS",
            rung.id
        )));
    };
    Ok(Track {
        id: rung.id.clone(),
        kind: MediaKind::Video,
        timescale,
        codec: CodecConfig::Avc {
            sps: vec![sps],
            pps: vec![pps],
        },
        language: "und".to_string(),
        samples: samples.into(),
    })
}

/// Sets openh264's trace level to quiet before it initialises, so it does not print its
/// expected warning that rate control is looser without frame skipping (frame skipping would
/// break the exact frame timing; the achieved bitrates stay close to the targets anyway).
/// The crate only sets the level after initialisation; openh264 accepts this option earlier.
fn silence_openh264(encoder: &mut Encoder) {
    // From openh264's codec_app_def.h: ENCODER_OPTION_TRACE_LEVEL = 25, WELS_LOG_QUIET = 0.
    const ENCODER_OPTION_TRACE_LEVEL: std::os::raw::c_int = 25;
    let mut level: std::os::raw::c_int = 0;
    // SAFETY: the encoder handle is valid (created above and owned by `encoder`), and the
    // option reads one 32-bit integer from the pointer, which lives for the whole call.
    unsafe {
        encoder
            .raw_api()
            .set_option(ENCODER_OPTION_TRACE_LEVEL, (&raw mut level).cast());
    }
}

/// Removes a leading Annex-B start code (3 or 4 bytes) if present.
pub(crate) fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

/// Records the first SPS/PPS; openh264 repeats them before every IDR (constant ids), and they
/// must not change, since the track carries exactly one of each in its `avcC`.
fn keep_parameter_set(
    slot: &mut Option<Vec<u8>>,
    nal: &[u8],
    what: &str,
    rung: &str,
) -> Result<()> {
    match slot {
        None => *slot = Some(nal.to_vec()),
        Some(prev) if prev.as_slice() == nal => {}
        Some(_) => {
            return Err(PackageError::Encoder(format!(
                "rung {rung}: openh264 changed the {what} mid-stream"
            )))
        }
    }
    Ok(())
}
