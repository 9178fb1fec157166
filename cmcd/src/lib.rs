//! Common Media Client Data (CMCD, CTA-5004) and Common Media Server Data (CMSD, CTA-5006):
//! the protocol only, no I/O and no hop crate (edge, origin and player depend on this one).
//!
//! Data flow:
//! - **CMCD in** (a server): the request's query string → [`Cmcd::from_query`], or its
//!   `CMCD-Request`/`-Object`/`-Status`/`-Session` headers → [`Cmcd::from_headers`] → a
//!   typed [`Cmcd`] or an [`Error`] (bad syntax, wrong type, duplicate key, too long: the
//!   caller counts it and ignores the data). [`strip_query`] removes the argument before a
//!   request goes upstream; [`Cmcd::resolve_nor`] turns the next-object hint into a path.
//! - **CMCD out** (a player): fill a [`Cmcd`] → [`Cmcd::to_query_arg`] (`CMCD=` +
//!   `encodeURIComponent` of the sorted dictionary) or [`Cmcd::to_headers`] (each key in the
//!   header CTA-5004 assigns it, [`cmcd::header_for_key`]).
//! - **CMSD out** (a server): [`CmsdStatic`] → `CMSD-Static` on cacheable objects, one
//!   [`DynamicEntry`] per hop in [`CmsdDynamic`] → `CMSD-Dynamic`; **CMSD in** (a player):
//!   [`CmsdStatic::parse`], [`CmsdDynamic::parse`] and [`CmsdDynamic::closest`].
//!
//! Both specs write RFC 8941 structured fields with a few deviations; [`sf`] is the small
//! hand-written reader/writer they share, and says why it is not the `sfv` crate.

pub mod cmcd;
pub mod cmsd;
pub mod sf;

pub use cmcd::{Cmcd, Mode};
pub use cmsd::{CmsdDynamic, CmsdStatic, DynamicEntry, CMSD_DYNAMIC, CMSD_STATIC};
pub use sf::Value;

/// Why a CMCD or CMSD field was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Longer than [`sf::MAX_LEN`].
    #[error("field of {len} bytes is longer than {max}")]
    TooLong {
        /// Bytes seen.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not a structured field: a bad token, number, string or separator.
    #[error("syntax error at byte {pos}: {what}")]
    Syntax {
        /// Byte offset in the field.
        pos: usize,
        /// What was expected or found.
        what: &'static str,
    },
    /// A reserved key with a value of the wrong type (e.g. `br="high"`).
    #[error("key {key}: expected {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// The type the spec gives it.
        expected: &'static str,
    },
    /// A reserved key with a value of the right type but outside its domain.
    #[error("key {key}: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// The same key twice (in one field, or across the CMCD headers).
    #[error("duplicate key {0}")]
    DuplicateKey(String),
    /// The same CMCD header twice in one request.
    #[error("duplicate header {0}")]
    DuplicateHeader(&'static str),
    /// The `CMCD` query argument twice in one URL.
    #[error("duplicate CMCD query argument")]
    DuplicateParam,
}

macro_rules! tokens {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $t:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $v),* }
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The wire token.
            pub fn token(self) -> &'static str { match self { $($name::$v => $t),* } }
            /// From the wire token.
            pub fn from_token(t: &str) -> Option<Self> { match t { $($t => Some($name::$v),)* _ => None } }
        }
    };
}

tokens!(
    /// `ot`: the type of object requested.
    ObjectType {
        /// `m`: manifest or playlist.
        Manifest = "m",
        /// `a`: audio only.
        Audio = "a",
        /// `v`: video only.
        Video = "v",
        /// `av`: muxed audio and video.
        Muxed = "av",
        /// `i`: init segment.
        Init = "i",
        /// `c`: caption or subtitle.
        Caption = "c",
        /// `tt`: ISOBMFF timed text track.
        TimedText = "tt",
        /// `k`: cryptographic key, license or certificate.
        Key = "k",
        /// `o`: other.
        Other = "o",
    }
);

tokens!(
    /// `sf`: the streaming format.
    StreamingFormat {
        /// `d`: MPEG-DASH.
        Dash = "d",
        /// `h`: HLS.
        Hls = "h",
        /// `s`: Smooth Streaming.
        Smooth = "s",
        /// `o`: other.
        Other = "o",
    }
);

tokens!(
    /// `st`: the stream type.
    StreamType {
        /// `v`: all segments available (VOD).
        Vod = "v",
        /// `l`: segments become available over time (live).
        Live = "l",
    }
);

/// Remove every `CMCD` argument from a raw query string (without `?`), keeping the other
/// arguments in order; `None` when nothing is left.
pub fn strip_query(query: &str) -> Option<String> {
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split_once('=').map_or(*p, |(n, _)| n) != cmcd::QUERY_PARAM)
        .collect();
    (!rest.is_empty()).then(|| rest.join("&"))
}

#[cfg(test)]
mod tests;
