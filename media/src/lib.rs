//! media: the packager.
//!
//! Data flow: content comes in as [`track::Track`]s (generated test pattern from `synth`,
//! or samples read from an MP4 by the demuxer, or ffmpeg-transcoded renditions of a file);
//! the packager cuts each track at sync samples into aligned segments, writes CMAF init and
//! media segments with the fMP4 writer, and writes the MPD (`manifests`) into the layout
//! of `manifests::layout`.

pub mod codec;
pub mod demux;
mod error;
pub mod fmp4;
pub mod ladder;
pub mod package;
pub mod synth;
pub mod track;
pub use codec::MediaError;
pub use error::PackageError;
