//! [`MediaError`]: the error type of every bitstream and container parser in this crate.

/// Errors of the bitstream and container parsers (demuxer, box reader, codec parsers).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Reading the input failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File involved.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not an ISO-BMFF/MP4 file at all.
    #[error("not an MP4 file: {0}")]
    NotMp4(String),
    /// The input ends before a structure it announces (box, sample data).
    #[error("truncated MP4: {0}")]
    Truncated(String),
    /// A box or table is malformed.
    #[error("invalid MP4 structure: {0}")]
    InvalidBox(String),
    /// The file is MP4 but holds no audio or video track.
    #[error("no usable track (need H.264/HEVC/AV1 video and/or AAC audio): {0}")]
    NoUsableTrack(String),
    /// An H.264 SPS / PPS / decoder configuration record is malformed.
    #[error("invalid H.264 parameter set: {0}")]
    InvalidAvc(String),
    /// An HEVC `hvcC` record or SPS is malformed.
    #[error("invalid HEVC configuration: {0}")]
    InvalidHevc(String),
    /// An AV1 `av1C` record or sequence header OBU is malformed.
    #[error("invalid AV1 configuration: {0}")]
    InvalidAv1(String),
    /// An audio or video track uses a codec the packager does not package (VP9, MP3, Opus,
    /// AC-3, MPEG-4 Part 2...). The whole input is refused: a partial asset would play
    /// without that track.
    #[error(
        "track {track_id}: {kind} codec {codec} is not supported (video: H.264, HEVC, AV1; \
         audio: AAC); {}",
        unsupported_hint(kind, *stream_index)
    )]
    UnsupportedCodec {
        /// The input's `track_ID`.
        track_id: u32,
        /// `video` or `audio`.
        kind: &'static str,
        /// The codec as named in the input (sample entry 4CC, and the format's name when known).
        codec: String,
        /// The track's position among the input's tracks (ffmpeg's stream index), when known.
        stream_index: Option<usize>,
    },
    /// An AAC AudioSpecificConfig is malformed or unsupported.
    #[error("invalid AudioSpecificConfig: {0}")]
    InvalidAac(String),
    /// The data is valid but uses a feature not supported here.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// What to do about an unsupported track: transcode it, or (audio) leave it out with ffmpeg,
/// whose stream index is the track's position in the file.
fn unsupported_hint(kind: &str, stream_index: Option<usize>) -> String {
    if kind == "video" {
        return "transcode it (with --ladder, or ffmpeg -i IN -c:v libx264 -c:a copy OUT.mp4)"
            .into();
    }
    let mut hint = "transcode it (ffmpeg -i IN -c:v copy -c:a aac OUT.mp4)".to_string();
    if let Some(i) = stream_index {
        hint.push_str(&format!(
            " or leave it out (ffmpeg -i IN -map 0 -map -0:{i} -c copy OUT.mp4)"
        ));
    }
    hint
}

impl MediaError {
    /// Adds the track's position in the file to an [`MediaError::UnsupportedCodec`] (other
    /// errors are returned as they are).
    pub(crate) fn at_stream(self, index: usize) -> Self {
        match self {
            MediaError::UnsupportedCodec {
                track_id,
                kind,
                codec,
                ..
            } => MediaError::UnsupportedCodec {
                track_id,
                kind,
                codec,
                stream_index: Some(index),
            },
            e => e,
        }
    }
}
