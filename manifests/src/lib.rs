//! manifests: the MPEG-DASH MPD model and the content layout every hop shares.
//!
//! Data flow: `media` builds an [`Mpd`](mpd) value and writes it with `to_xml`; the origin
//! serves the file as is; edges and the player simulator parse MPDs (ours or anyone's)
//! with `parse`. Segment and file naming lives in [`layout`] and nowhere else.

pub mod layout;
