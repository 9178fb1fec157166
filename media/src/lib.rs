//! media: the packager.
//!
//! Data flow: content comes in as [`track::Track`]s (generated test pattern from `synth`,
//! or samples read from an MP4 by the demuxer, or ffmpeg-transcoded renditions of a file);
//! the packager cuts each track at sync samples into aligned segments, writes CMAF init and
//! media segments with the fMP4 writer, and writes the MPD (`manifests`) into the layout
//! of `manifests::layout`. A demuxed file is streamed: its tracks' sample tables stay in the
//! file, read through small windows from checkpoints ([`samples`]), and each segment's bytes
//! are read (or copied by the kernel) from the file when it is written, so memory does not
//! grow with the input's length.
//!
//! # Modules
//!
//! - [`synth`]: the embedded default (test pattern + tone, encoded with openh264/fdk-aac).
//! - [`samples`]: a track's samples, in memory or as tables left in the input file (walked
//!   on demand from checkpoints) whose bytes are read one segment at a time.
//! - [`demux`]: progressive MP4 → tracks; [`ladder`]: an MP4 through ffmpeg into a ladder
//!   whose rungs [`rungs`] chooses (fitted to the source, or from a ladder file).
//! - [`package`]: the pipeline (`record`: the idempotence record `package.json`; `plan`: the
//!   cuts; `write`: the files and the atomic swap; `mpd`: the manifest).
//! - [`encrypt`]: Common Encryption (`cenc`/`cbcs`, raw keys for ClearKey): `write` encrypts
//!   each segment's samples and adds the encryption boxes to the writer's output; `mpd` adds
//!   the `ContentProtection` elements.
//! - [`fmp4`]: the CMAF writer and a box reader; [`codec`]: bit reader, H.264 SPS/`avcC`,
//!   HEVC `hvcC`/SPS, AV1 `av1C`/sequence header, AAC AudioSpecificConfig, RFC 6381 codecs
//!   strings.
//!
//! # Errors
//!
//! Parsers return [`MediaError`]; the packaging entry points ([`package::package_default`],
//! [`package::package_file`], [`package::package_tracks`], [`ladder::package_ladder`],
//! [`synth::generate`]) return [`PackageError`], whose `source()` chain carries the lower
//! errors. Parsers of untrusted input are fuzzed: see `media/fuzz/README.md`.

pub mod codec;
pub mod demux;
pub mod encrypt;
mod error;
pub mod fmp4;
pub mod ladder;
pub mod package;
pub mod progress;
pub mod rungs;
pub mod samples;
pub mod synth;
pub mod track;

pub use codec::MediaError;
pub use error::PackageError;
