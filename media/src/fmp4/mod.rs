//! CMAF / fragmented-MP4 writer (init segments, media segments) and a small ISO-BMFF box reader.
//!
//! Every output file holds exactly one track with `track_ID` 1 (one CMAF track per
//! representation). Media segments are `styp` + one `moof` + one `mdat`; the `trun`
//! data offset is relative to the `moof` (`default-base-is-moof`).

mod reader;
mod writer;

pub use reader::{find_all, find_box, parse_box_header, BoxIter, BoxRef};
pub use writer::{
    init_segment, init_segment_with_edit, media_segment, media_segment_head, pack_language,
    unpack_language, Bitrates, BoxWriter,
};

/// `sample_flags` of a sync sample (sample_depends_on = 2: independent).
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample (depends on others, sample_is_non_sync_sample).
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// The track id used in every file written here.
pub const TRACK_ID: u32 = 1;
