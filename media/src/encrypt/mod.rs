//! Common Encryption (ISO/IEC 23001-7, "CENC") with raw keys, as Shaka Packager's raw-key mode
//! writes it: `cenc` (AES-128 CTR) or `cbcs` (AES-128 CBC, 1:9 pattern for video, constant IV),
//! for ClearKey playback (W3C EME `org.w3.clearkey`) or any CENC-capable player given the key.
//!
//! Data flow: [`Encryption`] (keys, scheme, optional IV; from flags or a key file, see
//! [`KeyFile`]) → per track a [`TrackProtection`] ([`Encryption::for_track`]: the track's key,
//! its IV, its pattern, and for video the parameter sets that locate each slice header,
//! `avc_slice` / `hevc_slice`) → for every media segment the samples are encrypted
//! ([`sample::encrypt_samples`]: subsample map + AES) and the clear writer's output is then
//! rewritten by [`boxes`]: the init segment's sample entry becomes `encv`/`enca` with a `sinf`
//! (`frma`, `schm`, `schi/tenc`) and a W3C common `pssh` goes into `moov`; each media segment's
//! `traf` gets `saiz` + `saio` + `senc` (per-sample IVs and subsample maps). The MPD gets
//! `ContentProtection` elements from [`mpd_content_protections`], each HLS media playlist an
//! `EXT-X-KEY` from [`hls_with_key`].
//!
//! Checked against Shaka Packager v3.8 (`media/tests/it/encrypt.rs`): with the same key and
//! IV, `sinf`, `pssh`, every `senc` and every `mdat` are byte for byte the same, for H.264,
//! H.265 and AAC, `cenc` and `cbcs`. AV1 is refused (it needs OBU-based subsamples).
//!
//! Keys never reach a log or `package.json`: [`ContentKey`]'s `Debug` prints only the key id,
//! and the idempotence record holds the key id plus a truncated SHA-256 of the key
//! ([`Encryption::record`]).

mod avc_slice;
pub mod boxes;
mod hevc_slice;
pub mod sample;

pub use avc_slice::AvcParamSets;
pub use hevc_slice::HevcParamSets;

/// The parameter sets needed to find where a slice header ends, to keep it clear.
#[derive(Debug, Clone)]
pub enum SliceHeaders {
    /// H.264.
    Avc(AvcParamSets),
    /// H.265.
    Hevc(HevcParamSets),
}

impl SliceHeaders {
    /// Bytes of the VCL NAL unit `nal` (header included) up to the end of its slice header.
    pub fn slice_header_end(&self, nal: &[u8]) -> Option<usize> {
        match self {
            SliceHeaders::Avc(s) => s.slice_header_end(nal),
            SliceHeaders::Hevc(s) => s.slice_header_end(nal),
        }
    }
}

use std::fmt;

use base64::Engine;
use manifests::layout::MediaKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::track::{CodecConfig, Track};

/// `schm` scheme type (ISO/IEC 23001-7 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// AES-128 CTR, full sample or subsamples, per-sample IVs (§10.1).
    #[default]
    Cenc,
    /// AES-128 CBC with a 1:9 pattern for video and whole blocks for audio, constant IV
    /// (§10.4).
    Cbcs,
}

impl Scheme {
    /// The four-character code (`cenc`, `cbcs`).
    pub fn fourcc(self) -> &'static [u8; 4] {
        match self {
            Scheme::Cenc => b"cenc",
            Scheme::Cbcs => b"cbcs",
        }
    }
    /// The name as used on the command line and in the MPD's `@value`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Cenc => "cenc",
            Scheme::Cbcs => "cbcs",
        }
    }
}

impl std::str::FromStr for Scheme {
    type Err = EncryptError;
    fn from_str(s: &str) -> Result<Self, EncryptError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cenc" => Ok(Scheme::Cenc),
            "cbcs" => Ok(Scheme::Cbcs),
            other => Err(EncryptError::Invalid(format!(
                "unknown protection scheme {other:?}: expected cenc or cbcs"
            ))),
        }
    }
}

/// Why an encryption setting or input was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// A malformed key, key id, IV, scheme or key file; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The track's codec cannot be encrypted here.
    #[error("cannot encrypt {0}")]
    Unsupported(String),
    /// A segment or init segment does not have the boxes the writer produces.
    #[error("malformed fMP4 for encryption: {0}")]
    Malformed(String),
}

/// A content key and its key id (KID), 16 bytes each. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey {
    /// Key id (the `tenc` default_KID, `cenc:default_KID` in the MPD).
    pub key_id: [u8; 16],
    /// AES-128 key.
    pub key: [u8; 16],
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentKey")
            .field("key_id", &hex(&self.key_id))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ContentKey {
    /// Parses a key id and a key given as 32 hex digits each.
    pub fn from_hex(key_id: &str, key: &str) -> Result<Self, EncryptError> {
        Ok(ContentKey {
            key_id: parse_hex16("key id", key_id)?,
            key: parse_hex16("key", key)?,
        })
    }
}

/// How to encrypt a package: the scheme, one key for video and one for audio (the same key
/// for both is fine), and optionally a fixed IV (random per track otherwise, as Shaka does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// `cenc` or `cbcs`.
    pub scheme: Scheme,
    /// Key of the video tracks.
    pub video: ContentKey,
    /// Key of the audio tracks.
    pub audio: ContentKey,
    /// IV: 8 or 16 bytes for `cenc` (the first sample's IV, incremented per sample), 16 bytes
    /// for `cbcs` (the constant IV). `None`: random per track.
    pub iv: Option<Vec<u8>>,
}

impl Encryption {
    /// One key for every track.
    pub fn single(
        scheme: Scheme,
        key: ContentKey,
        iv: Option<Vec<u8>>,
    ) -> Result<Self, EncryptError> {
        let e = Encryption {
            scheme,
            video: key.clone(),
            audio: key,
            iv,
        };
        e.validate()?;
        Ok(e)
    }

    /// Checks the IV length against the scheme.
    pub fn validate(&self) -> Result<(), EncryptError> {
        match (&self.iv, self.scheme) {
            (None, _) => Ok(()),
            (Some(iv), Scheme::Cenc) if iv.len() == 8 || iv.len() == 16 => Ok(()),
            (Some(iv), Scheme::Cbcs) if iv.len() == 16 => Ok(()),
            (Some(iv), Scheme::Cenc) => Err(EncryptError::Invalid(format!(
                "cenc IV must be 8 or 16 bytes (16 or 32 hex digits), got {} bytes",
                iv.len()
            ))),
            (Some(iv), Scheme::Cbcs) => Err(EncryptError::Invalid(format!(
                "cbcs IV must be 16 bytes (32 hex digits), got {} bytes",
                iv.len()
            ))),
        }
    }

    /// The key of a track type.
    pub fn key_for(&self, kind: MediaKind) -> &ContentKey {
        match kind {
            MediaKind::Video => &self.video,
            MediaKind::Audio => &self.audio,
        }
    }

    /// What `package.json` records: scheme, key ids, a truncated SHA-256 of each key (so that
    /// a different key repackages) and the IV (or "random"). Never the key.
    pub fn record(&self) -> EncryptionRecord {
        let key_hash = |k: &ContentKey| hex(&Sha256::digest(k.key)[..8]);
        EncryptionRecord {
            scheme: self.scheme,
            video_key_id: hex(&self.video.key_id),
            video_key_sha256_64: key_hash(&self.video),
            audio_key_id: hex(&self.audio.key_id),
            audio_key_sha256_64: key_hash(&self.audio),
            iv: self
                .iv
                .as_deref()
                .map(hex)
                .unwrap_or_else(|| "random".into()),
        }
    }

    /// The protection of one track: its key, its IV (the given one or random), the pattern
    /// (1:9 for `cbcs` video, none otherwise) and how its samples are split into subsamples.
    pub fn for_track(&self, track: &Track) -> Result<TrackProtection, EncryptError> {
        self.validate()?;
        let layout = match (&track.codec, track.kind) {
            (CodecConfig::Avc { sps, pps }, MediaKind::Video) => SampleLayout::Nal {
                length_size: 4,
                header_size: 1,
                is_vcl: avc_is_vcl,
                slices: Some(std::sync::Arc::new(SliceHeaders::Avc(AvcParamSets::new(
                    sps, pps,
                )))),
            },
            // Samples carry 4-byte NAL lengths whatever the source had (`track::Sample`).
            (CodecConfig::Hevc { hvcc, .. }, MediaKind::Video) => SampleLayout::Nal {
                length_size: 4,
                header_size: 2,
                is_vcl: hevc_is_vcl,
                slices: Some(std::sync::Arc::new(SliceHeaders::Hevc(
                    HevcParamSets::from_hvcc(hvcc),
                ))),
            },
            (CodecConfig::Aac { .. }, MediaKind::Audio) => SampleLayout::Whole,
            // AV1 needs OBU-based subsamples (AV1-ISOBMFF §4): not written here.
            _ => {
                return Err(EncryptError::Unsupported(format!(
                    "track {}: only H.264/H.265 video and AAC audio can be encrypted",
                    track.id
                )))
            }
        };
        let iv = match &self.iv {
            Some(iv) => iv.clone(),
            None => {
                let mut iv = vec![0u8; if self.scheme == Scheme::Cenc { 8 } else { 16 }];
                getrandom::getrandom(&mut iv)
                    .map_err(|e| EncryptError::Invalid(format!("no random IV: {e}")))?;
                iv
            }
        };
        let (crypt, skip) = match (self.scheme, track.kind) {
            (Scheme::Cbcs, MediaKind::Video) => (1, 9),
            _ => (0, 0),
        };
        Ok(TrackProtection {
            scheme: self.scheme,
            key: self.key_for(track.kind).clone(),
            iv,
            crypt_byte_block: crypt,
            skip_byte_block: skip,
            layout,
        })
    }
}

/// The encryption part of `package.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionRecord {
    /// `cenc` or `cbcs`.
    pub scheme: Scheme,
    /// Video key id, hex.
    pub video_key_id: String,
    /// First 8 bytes of SHA-256(video key), hex.
    pub video_key_sha256_64: String,
    /// Audio key id, hex.
    pub audio_key_id: String,
    /// First 8 bytes of SHA-256(audio key), hex.
    pub audio_key_sha256_64: String,
    /// The IV given, hex, or `random`.
    pub iv: String,
}

/// How a track's samples are split into clear and protected bytes.
#[derive(Debug, Clone)]
pub enum SampleLayout {
    /// Length-prefixed NAL units: each VCL NAL unit's length field and header stay clear
    /// (ISO/IEC 23001-7 §10.2, ISO/IEC 14496-15 "NAL unit based subsample encryption"),
    /// other NAL units are entirely clear.
    Nal {
        /// Bytes of each NAL unit's length prefix.
        length_size: usize,
        /// Bytes of the NAL unit header (1 for H.264, 2 for H.265).
        header_size: usize,
        /// Whether a NAL unit (its first header byte) is a coded slice.
        is_vcl: fn(u8) -> bool,
        /// The parameter sets, to keep each slice header clear too (as Shaka does); `None`
        /// or an unparseable slice: only the NAL header is kept clear.
        slices: Option<std::sync::Arc<SliceHeaders>>,
    },
    /// The whole sample is protected (audio; no subsamples).
    Whole,
}

/// H.264 coded slices: nal_unit_type 1-5 (ISO/IEC 14496-10 Table 7-1).
pub(crate) fn avc_is_vcl(header: u8) -> bool {
    (1..=5).contains(&(header & 0x1f))
}

/// H.265 VCL NAL units: nal_unit_type 0-31 (ITU-T H.265 Table 7-1).
fn hevc_is_vcl(header: u8) -> bool {
    (header >> 1) & 0x3f < 32
}

/// Everything needed to encrypt one track and describe it in its init segment.
#[derive(Debug, Clone)]
pub struct TrackProtection {
    /// `cenc` or `cbcs`.
    pub scheme: Scheme,
    /// The track's key.
    pub key: ContentKey,
    /// `cenc`: IV of the track's first sample (8 or 16 bytes); `cbcs`: the constant IV.
    pub iv: Vec<u8>,
    /// Encrypted 16-byte blocks per pattern period (0 with `skip_byte_block` 0: no pattern).
    pub crypt_byte_block: u8,
    /// Clear 16-byte blocks per pattern period.
    pub skip_byte_block: u8,
    /// Subsample split.
    pub layout: SampleLayout,
}

impl TrackProtection {
    /// The init-segment hook: the clear writer's init segment with `encv`/`enca`, `sinf`
    /// and `pssh` ([`boxes::protect_init`]).
    pub fn protect_init(&self, init: &[u8], kind: MediaKind) -> Result<Vec<u8>, EncryptError> {
        boxes::protect_init(init, kind, self)
    }

    /// The media-segment hook: encrypts `samples` (the track's `first_index`-th onwards),
    /// has `write` lay out the segment from the encrypted samples as it would the clear ones,
    /// then adds `saiz`/`saio`/`senc` ([`boxes::protect_segment`]).
    pub fn protect_segment(
        &self,
        first_index: u64,
        samples: &[crate::track::Sample],
        write: impl FnOnce(&[crate::track::Sample]) -> Vec<u8>,
    ) -> Result<Vec<u8>, EncryptError> {
        let (encrypted, aux) = sample::encrypt_samples(self, first_index, samples)?;
        boxes::protect_segment(&write(&encrypted), &aux)
    }

    /// `default_Per_Sample_IV_Size` of `tenc`: 0 for `cbcs` (constant IV), else the IV size.
    pub fn per_sample_iv_size(&self) -> u8 {
        match self.scheme {
            Scheme::Cenc => self.iv.len() as u8,
            Scheme::Cbcs => 0,
        }
    }
}

/// The W3C "common" protection system (`pssh` with key ids and no data), which Chromium's
/// and Firefox's ClearKey read as `cenc` init data.
pub const COMMON_SYSTEM_ID: [u8; 16] = [
    0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
];
/// `ContentProtection@schemeIdUri` of the W3C common system.
pub const COMMON_SYSTEM_URN: &str = "urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b";
/// `ContentProtection@schemeIdUri` of ClearKey (DASH-IF).
pub const CLEARKEY_SYSTEM_URN: &str = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e";
/// `ContentProtection@schemeIdUri` of the MPEG Common Encryption descriptor.
pub const MP4_PROTECTION_SCHEME: &str = "urn:mpeg:dash:mp4protection:2011";

/// The `ContentProtection` elements of an AdaptationSet of `kind`, as Shaka writes them: the
/// mp4protection one with the scheme and `cenc:default_KID`, then the ClearKey system and the
/// W3C common system, each with the common `pssh` box (base64) in `cenc:pssh`.
pub fn mpd_content_protections(
    enc: &Encryption,
    kind: MediaKind,
) -> Vec<manifests::mpd::ContentProtection> {
    use manifests::mpd::ContentProtection;
    use manifests::xml::{XmlElement, XmlNode};
    let key = enc.key_for(kind);
    let pssh = base64::engine::general_purpose::STANDARD.encode(boxes::common_pssh(&[key.key_id]));
    let with_pssh = |uri: &str| {
        let mut cp = ContentProtection {
            scheme_id_uri: uri.into(),
            ..Default::default()
        };
        let mut el = XmlElement::new("cenc:pssh");
        el.children.push(XmlNode::Text(pssh.clone()));
        cp.extra.children.push(XmlNode::Element(el));
        cp
    };
    let mut clearkey = with_pssh(CLEARKEY_SYSTEM_URN);
    clearkey.value = Some("ClearKey1.0".into());
    vec![
        ContentProtection {
            scheme_id_uri: MP4_PROTECTION_SCHEME.into(),
            value: Some(enc.scheme.name().into()),
            default_kid: Some(uuid_string(&key.key_id)),
            ..Default::default()
        },
        clearkey,
        with_pssh(COMMON_SYSTEM_URN),
    ]
}

/// The `EXT-X-KEY` tag of an encrypted media playlist, as Shaka Packager writes it for raw
/// keys (draft-pantos-hls-rfc8216bis §4.4.4.4): `METHOD=SAMPLE-AES-CTR` for `cenc`,
/// `SAMPLE-AES` for `cbcs`, the W3C common system as `KEYFORMAT` with its `pssh` box as a
/// data URI and the key id in `KEYID`. The playlist then says the segments are encrypted; a
/// player still needs the key from elsewhere (EME ClearKey or its own key delivery).
pub fn hls_key_tag(enc: &Encryption, kind: MediaKind) -> String {
    let key = enc.key_for(kind);
    let pssh = base64::engine::general_purpose::STANDARD.encode(boxes::common_pssh(&[key.key_id]));
    let method = match enc.scheme {
        Scheme::Cenc => "SAMPLE-AES-CTR",
        Scheme::Cbcs => "SAMPLE-AES",
    };
    format!(
        "#EXT-X-KEY:METHOD={method},URI=\"data:text/plain;base64,{pssh}\",KEYID=0x{},\
         KEYFORMAT=\"{}\",KEYFORMATVERSIONS=\"1\"",
        hex(&key.key_id),
        COMMON_SYSTEM_URN
    )
}

/// Inserts [`hls_key_tag`] into a media playlist, before its first segment.
pub fn hls_with_key(playlist: &str, enc: &Encryption, kind: MediaKind) -> String {
    let tag = hls_key_tag(enc, kind);
    match playlist.find("#EXTINF") {
        Some(at) => format!("{}{tag}\n{}", &playlist[..at], &playlist[at..]),
        None => playlist.to_string(),
    }
}

/// A 16-byte id in UUID form (`8-4-4-4-12` lowercase hex), as `cenc:default_KID` wants it.
pub fn uuid_string(id: &[u8; 16]) -> String {
    let h = hex(id);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Lowercase hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses hex (dashes of the UUID form and a `0x` prefix are accepted) into bytes.
pub fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>, EncryptError> {
    let t: String = s
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|&c| c != '-')
        .collect();
    if !t.len().is_multiple_of(2) || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(EncryptError::Invalid(format!(
            "{what} must be hex digits, got {} characters that are not (an even number of [0-9a-fA-F])",
            s.trim().len()
        )));
    }
    Ok((0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&t[i..i + 2], 16).expect("hex checked"))
        .collect())
}

/// Parses exactly 16 bytes (32 hex digits). The error never repeats the value (it may be a key).
pub fn parse_hex16(what: &str, s: &str) -> Result<[u8; 16], EncryptError> {
    let v = parse_hex(what, s)?;
    <[u8; 16]>::try_from(v.as_slice()).map_err(|_| {
        EncryptError::Invalid(format!(
            "{what} must be 16 bytes (32 hex digits), got {} bytes",
            v.len()
        ))
    })
}

/// A key file (TOML):
///
/// ```toml
/// protection_scheme = "cenc"      # optional: cenc (default) or cbcs
/// iv = "0123456789abcdef"         # optional: 16 or 32 hex digits
/// [keys.all]                      # or [keys.video] and [keys.audio] (each falls back to all)
/// key_id = "…32 hex…"
/// key = "…32 hex…"
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// `cenc` or `cbcs`.
    pub protection_scheme: Option<String>,
    /// IV in hex.
    pub iv: Option<String>,
    /// Keys by label: `all`, `video`, `audio`.
    pub keys: KeyLabels,
}

/// The `[keys.*]` tables of a [`KeyFile`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLabels {
    /// Key of every track without its own.
    pub all: Option<HexKey>,
    /// Key of the video tracks.
    pub video: Option<HexKey>,
    /// Key of the audio tracks.
    pub audio: Option<HexKey>,
}

/// A key id and key in hex.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HexKey {
    /// 32 hex digits.
    pub key_id: String,
    /// 32 hex digits.
    pub key: String,
}

impl fmt::Debug for HexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HexKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl KeyFile {
    /// Parses a key file's text. `scheme` and `iv` given on the command line override the file's.
    pub fn parse(
        text: &str,
        scheme: Option<Scheme>,
        iv: Option<Vec<u8>>,
    ) -> Result<Encryption, EncryptError> {
        // The TOML error quotes the offending line, which may hold a key: keep only its position.
        let file: KeyFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" at line {line}")
                })
                .unwrap_or_default();
            EncryptError::Invalid(format!("key file{at}: {}", e.message()))
        })?;
        let parse = |label: &str, k: &Option<HexKey>| -> Result<Option<ContentKey>, EncryptError> {
            k.as_ref()
                .map(|k| {
                    ContentKey::from_hex(&k.key_id, &k.key)
                        .map_err(|e| EncryptError::Invalid(format!("key file, keys.{label}: {e}")))
                })
                .transpose()
        };
        let all = parse("all", &file.keys.all)?;
        let video = parse("video", &file.keys.video)?.or_else(|| all.clone());
        let audio = parse("audio", &file.keys.audio)?.or_else(|| all.clone());
        let (Some(video), Some(audio)) = (video, audio) else {
            return Err(EncryptError::Invalid(
                "key file: needs [keys.all], or both [keys.video] and [keys.audio]".into(),
            ));
        };
        let scheme = match (scheme, &file.protection_scheme) {
            (Some(s), _) => s,
            (None, Some(s)) => s.parse()?,
            (None, None) => Scheme::Cenc,
        };
        let iv = match (iv, &file.iv) {
            (Some(iv), _) => Some(iv),
            (None, Some(s)) => Some(parse_hex("key file iv", s)?),
            (None, None) => None,
        };
        let e = Encryption {
            scheme,
            video,
            audio,
            iv,
        };
        e.validate()?;
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing_and_errors_never_echo_the_value() {
        let k = parse_hex16("key", "00112233-4455-6677-8899-aabbccddeeff").unwrap();
        assert_eq!(k[0], 0x00);
        assert_eq!(k[15], 0xff);
        let e = parse_hex16("key", "0011").unwrap_err().to_string();
        assert!(e.contains("16 bytes") && e.contains("got 2 bytes"), "{e}");
        let e = parse_hex16("key", "zz112233445566778899aabbccddeeff")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hex") && !e.contains("zz11"), "{e}");
        assert!(parse_hex("iv", "abc").is_err());
    }

    #[test]
    fn key_debug_is_redacted() {
        let k = ContentKey::from_hex(
            "0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210",
        )
        .unwrap();
        let s = format!("{k:?}");
        assert!(
            s.contains("0123456789abcdef") && !s.contains("fedcba98"),
            "{s}"
        );
    }

    #[test]
    fn iv_lengths_by_scheme() {
        let k = ContentKey::from_hex(&"11".repeat(16), &"22".repeat(16)).unwrap();
        assert!(Encryption::single(Scheme::Cenc, k.clone(), Some(vec![0; 8])).is_ok());
        assert!(Encryption::single(Scheme::Cenc, k.clone(), Some(vec![0; 16])).is_ok());
        assert!(Encryption::single(Scheme::Cenc, k.clone(), Some(vec![0; 12])).is_err());
        assert!(Encryption::single(Scheme::Cbcs, k.clone(), Some(vec![0; 8])).is_err());
        assert!(Encryption::single(Scheme::Cbcs, k, Some(vec![0; 16])).is_ok());
    }

    #[test]
    fn key_file_labels_and_fallback() {
        let text = r#"
protection_scheme = "cbcs"
[keys.all]
key_id = "11111111111111111111111111111111"
key = "22222222222222222222222222222222"
[keys.audio]
key_id = "33333333333333333333333333333333"
key = "44444444444444444444444444444444"
"#;
        let e = KeyFile::parse(text, None, None).unwrap();
        assert_eq!(e.scheme, Scheme::Cbcs);
        assert_eq!(e.video.key_id, [0x11; 16]);
        assert_eq!(e.audio.key, [0x44; 16]);
        // The command line overrides the file's scheme.
        assert_eq!(
            KeyFile::parse(text, Some(Scheme::Cenc), None)
                .unwrap()
                .scheme,
            Scheme::Cenc
        );
        // Only a video key: refused.
        let only_video = "[keys.video]\nkey_id = \"11111111111111111111111111111111\"\nkey = \"22222222222222222222222222222222\"\n";
        assert!(KeyFile::parse(only_video, None, None).is_err());
        // A malformed key: the error names the label, not the value.
        let bad = "[keys.all]\nkey_id = \"11111111111111111111111111111111\"\nkey = \"2222\"\n";
        let err = KeyFile::parse(bad, None, None).unwrap_err().to_string();
        assert!(
            err.contains("keys.all") && err.contains("16 bytes") && !err.contains("2222"),
            "{err}"
        );
    }

    #[test]
    fn record_changes_with_the_key_but_holds_no_key() {
        let a = ContentKey::from_hex(&"11".repeat(16), &"22".repeat(16)).unwrap();
        let b = ContentKey::from_hex(&"11".repeat(16), &"23".repeat(16)).unwrap();
        let ra = Encryption::single(Scheme::Cenc, a, None).unwrap().record();
        let rb = Encryption::single(Scheme::Cenc, b, None).unwrap().record();
        assert_ne!(ra, rb);
        let json = serde_json::to_string(&ra).unwrap();
        assert!(!json.contains(&"22".repeat(16)), "{json}");
        assert!(json.contains(&"11".repeat(16)));
    }

    #[test]
    fn hls_key_tag_before_the_first_segment() {
        let k = ContentKey::from_hex(&"ab".repeat(16), &"cd".repeat(16)).unwrap();
        let enc = Encryption::single(Scheme::Cenc, k, None).unwrap();
        let pl = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000000,\n1.m4s\n#EXT-X-ENDLIST\n";
        let out = hls_with_key(pl, &enc, MediaKind::Video);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[2].starts_with(
                "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;base64,AAAANHBzc2g"
            ),
            "{out}"
        );
        assert!(lines[2].contains(&format!("KEYID=0x{}", "ab".repeat(16))));
        assert!(lines[2].ends_with(
            r#"KEYFORMAT="urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b",KEYFORMATVERSIONS="1""#
        ));
        assert_eq!(lines[3], "#EXTINF:2.000000,");
        assert!(!out.contains(&"cd".repeat(16)));
    }

    #[test]
    fn uuid_form() {
        let id: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(uuid_string(&id), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
