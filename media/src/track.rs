//! Elementary streams: what encoders and demuxers produce and the packager consumes. A
//! track's samples are in memory or tables left in the input file ([`Samples`]).

use manifests::layout::MediaKind;

pub use crate::codec::CodecConfig;
pub use crate::samples::{Sample, SampleInfo, SampleTable, Samples};

/// One elementary stream ready for packaging: configuration plus its samples (in memory,
/// or tables over a file read segment by segment).
#[derive(Debug, Clone)]
pub struct Track {
    /// Representation id to use in the MPD and the content layout (e.g. `v720`, `a128`).
    pub id: String,
    /// Video or audio.
    pub kind: MediaKind,
    /// Ticks per second of sample durations.
    pub timescale: u32,
    /// Decoder configuration.
    pub codec: CodecConfig,
    /// ISO 639-2/T language code ("und" when unknown).
    pub language: String,
    /// Samples in decode order (`Vec<Sample>` converts with `.into()`).
    pub samples: Samples,
}
