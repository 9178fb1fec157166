//! manifests: the MPEG-DASH MPD model and the content layout every hop shares.
//!
//! Data flow: `media` builds an [`Mpd`](mpd) value and writes it with `to_xml`; the origin
//! serves the file as is; edges and the player simulator parse MPDs (ours or anyone's)
//! with `parse`. Segment and file naming lives in [`layout`] and nowhere else.
//!
//! # Pieces
//!
//! - [`mpd`]: one struct per schema element ([`Mpd`], [`Period`], [`AdaptationSet`],
//!   [`Representation`], [`SegmentTemplate`], ...), public fields with `Default`,
//!   children declared in the schema's sequence order. [`Mpd::parse`] reads any MPD
//!   (unknown content is kept in each element's `extra`); [`Mpd::to_xml`] writes it back.
//! - [`values`]: attribute types with their schema semantics: [`IsoDuration`]
//!   (`xs:duration`), [`DateTime`], [`FrameRate`], [`Ratio`], [`PresentationType`].
//! - [`segments`]: for readers: [`expand_template`](segments::expand_template),
//!   SegmentTemplate inheritance, and segment lists from `@duration` or a SegmentTimeline.
//! - [`schema`]: validation of written MPDs against `DASH-MPD.xsd` with xmllint.
//!
//! # Writing an MPD
//!
//! ```
//! use manifests::*;
//! let mut mpd = Mpd::new_static(IsoDuration::from_secs(30), IsoDuration::from_secs(2));
//! let template = SegmentTemplate {
//!     timescale: Some(1000),
//!     duration: Some(2000),
//!     start_number: Some(1),
//!     initialization: Some(layout::init_template(layout::MediaKind::Video)),
//!     media: Some(layout::media_template()),
//!     ..Default::default()
//! };
//! let mut video = AdaptationSet { content_type: Some("video".into()), segment_template: Some(template), ..Default::default() };
//! video.common.mime_type = Some("video/mp4".into());
//! let mut rep = Representation { id: "v360".into(), bandwidth: 800_000, ..Default::default() };
//! rep.common.codecs = Some("avc1.42C01E".into());
//! video.representations.push(rep);
//! mpd.periods.push(Period { id: Some("0".into()), adaptation_sets: vec![video], ..Default::default() });
//! let xml = mpd.to_xml().unwrap();
//! assert_eq!(Mpd::parse(&xml).unwrap(), mpd);
//! ```

#![warn(missing_docs)]

mod error;
pub mod layout;
pub mod mpd;
pub mod schema;
pub mod segments;
pub mod values;
pub mod xml;

pub use error::ManifestError;
pub use mpd::*;
pub use values::{DateTime, FrameRate, IsoDuration, PresentationType, Ratio};
pub use xml::{Extensions, XmlElement, XmlNode};
