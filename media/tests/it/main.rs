//! The media crate's integration tests, one test binary (one link on two cores) with a
//! module per former test file.

mod codec_ffmpeg;
mod codecs;
mod common;
mod encrypt;
mod fuzz_seeds;
mod hls;
mod ladder;
mod package_default;
mod package_file;
mod streaming;
