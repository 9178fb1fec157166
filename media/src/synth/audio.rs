//! The audio track: a quiet 440 Hz tone with a 1 kHz beep at every whole second, encoded
//! to raw AAC-LC frames with fdk-aac, encoder delay trimmed so sample 0 is media time 0.

use crate::error::{PackageError, Result};
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};
use manifests::layout::MediaKind;

use crate::track::{CodecConfig, Sample, Track};

/// Sampling rate of the generated audio (also the track timescale), in Hz.
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// Channel count of the generated audio.
pub const AUDIO_CHANNELS: u16 = 2;
/// Target AAC bitrate in bits per second.
pub const AUDIO_BITRATE_BPS: u32 = 128_000;
/// PCM samples per channel in one AAC-LC frame (= each sample's duration).
pub const AAC_FRAME_SAMPLES: u32 = 1024;
/// Representation id of the audio track.
pub const AUDIO_ID: &str = "a128";
/// Media-time offset the packager must compensate with an edit list: none. The encoder's
/// delay (priming, `nDelay` from fdk-aac, 2048 samples for AAC-LC at 48 kHz) is removed
/// here by pre-rolling the input and dropping the leading frames, so the first sample
/// decodes to media time 0 (its first ~1024 PCM samples lack the overlap of a previous
/// frame, like any AAC stream's first frame).
pub const AUDIO_PRIMING_SAMPLES: u32 = 0;

/// Amplitude of the continuous tone (−20 dBFS).
const TONE_LEVEL: f64 = 0.1;
/// Amplitude of the beep (−6 dBFS).
const BEEP_LEVEL: f64 = 0.5;
const TONE_HZ: u64 = 440;
const BEEP_HZ: u64 = 1000;
/// Fade-in/out of the beep in samples (1 ms), against clicks.
const BEEP_RAMP: u64 = 48;

/// The generated signal at sample index `n` (media time `n / 48000` s), in [-1, 1].
/// Negative indices (pre-roll fed to the encoder before media time 0) are silence.
pub(crate) fn signal(n: i64) -> f64 {
    if n < 0 {
        return 0.0;
    }
    let n = n as u64;
    let sr = u64::from(AUDIO_SAMPLE_RATE);
    let tau = std::f64::consts::TAU;
    // Phase from exact integer arithmetic so precision does not drift over time.
    let phase = |hz: u64| ((n * hz) % sr) as f64 / sr as f64;
    let mut x = TONE_LEVEL * (tau * phase(TONE_HZ)).sin();
    let in_sec = n % sr;
    let beep_len = sr * u64::from(super::pattern::FLASH_MS) / 1000;
    if in_sec < beep_len {
        let ramp = (in_sec.min(beep_len - 1 - in_sec) + 1).min(BEEP_RAMP) as f64 / BEEP_RAMP as f64;
        x += BEEP_LEVEL * ramp * (tau * phase(BEEP_HZ)).sin();
    }
    x
}

fn to_i16(x: f64) -> i16 {
    (x * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Encodes `duration_secs` of the signal: ceil(duration × 48000 / 1024) frames (so the audio
/// covers the whole video; it may be up to one frame longer).
pub(crate) fn encode_audio(duration_secs: u32) -> Result<Track> {
    let fdk = |e| PackageError::Encoder(format!("fdk-aac: {e}"));
    let encoder = Encoder::new(EncoderParams {
        bit_rate: BitRate::Cbr(AUDIO_BITRATE_BPS),
        sample_rate: AUDIO_SAMPLE_RATE,
        transport: Transport::Raw,
        channels: ChannelMode::Stereo,
        audio_object_type: AudioObjectType::Mpeg4LowComplexity,
    })
    .map_err(fdk)?;
    let info = encoder.info().map_err(fdk)?;
    if info.frameLength != AAC_FRAME_SAMPLES {
        return Err(PackageError::Encoder(format!(
            "fdk-aac: unexpected frame length {}",
            info.frameLength
        )));
    }
    let asc = info.confBuf[..info.confSize as usize].to_vec();
    if asc.len() < 2 {
        return Err(PackageError::Encoder(
            "fdk-aac returned no AudioSpecificConfig".into(),
        ));
    }

    // Pre-roll so that the encoder delay becomes a whole number of frames, then drop them.
    let frame = u64::from(AAC_FRAME_SAMPLES);
    let delay = u64::from(info.nDelay);
    let drop_frames = delay.div_ceil(frame);
    let preroll = drop_frames * frame - delay;
    let wanted = (u64::from(duration_secs) * u64::from(AUDIO_SAMPLE_RATE)).div_ceil(frame);

    let channels = usize::from(AUDIO_CHANNELS);
    let mut out = vec![0u8; info.maxOutBufBytes.max(8192) as usize];
    let mut frames: Vec<Vec<u8>> = Vec::with_capacity((wanted + drop_frames) as usize);
    let mut pcm: Vec<i16> = Vec::with_capacity(frame as usize * channels);
    let mut next_input: i64 = -(preroll as i64);
    // Generous bound: the encoder needs a few frames of input before it emits anything.
    let max_calls = (wanted + drop_frames + 16) * 4;
    let mut calls = 0;
    while (frames.len() as u64) < wanted + drop_frames {
        calls += 1;
        if calls > max_calls {
            return Err(PackageError::Encoder(
                "fdk-aac produced too few frames".into(),
            ));
        }
        if pcm.is_empty() {
            for _ in 0..frame {
                let s = to_i16(signal(next_input));
                pcm.extend(std::iter::repeat_n(s, channels));
                next_input += 1;
            }
        }
        let r = encoder.encode(&pcm, &mut out).map_err(fdk)?;
        pcm.drain(..r.input_consumed.min(pcm.len()));
        if r.output_size > 0 {
            frames.push(out[..r.output_size].to_vec());
        }
    }

    let samples: Vec<Sample> = frames
        .into_iter()
        .skip(drop_frames as usize)
        .take(wanted as usize)
        .map(|data| Sample {
            data,
            duration: AAC_FRAME_SAMPLES,
            composition_offset: 0,
            is_sync: true,
        })
        .collect();
    Ok(Track {
        id: AUDIO_ID.to_string(),
        kind: MediaKind::Audio,
        timescale: AUDIO_SAMPLE_RATE,
        codec: CodecConfig::Aac {
            audio_specific_config: asc,
            sample_rate: AUDIO_SAMPLE_RATE,
            channels: AUDIO_CHANNELS,
        },
        language: "und".to_string(),
        samples: samples.into(),
    })
}
