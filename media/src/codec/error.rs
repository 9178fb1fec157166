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
    /// The file is MP4 but holds no track this packager supports (H.264 video, AAC audio).
    #[error("no usable track (need H.264 video and/or AAC audio): {0}")]
    NoUsableTrack(String),
    /// An H.264 SPS / PPS / decoder configuration record is malformed.
    #[error("invalid H.264 parameter set: {0}")]
    InvalidAvc(String),
    /// An AAC AudioSpecificConfig is malformed or unsupported.
    #[error("invalid AudioSpecificConfig: {0}")]
    InvalidAac(String),
    /// The data is valid but uses a feature not supported here.
    #[error("unsupported: {0}")]
    Unsupported(String),
}
