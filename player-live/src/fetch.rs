//! What a live player records of each HTTP request ([`SegmentFetch`]: what it fetched, the
//! server that answered and its `X-Cache`), and the hook that receives them as they complete.
//! The network ([`crate::http_net`]) fills them in; [`crate::play()`] collects them into the
//! playback's result and the swarm's report reads them.

use std::sync::Arc;

use serve::wire;

/// A callback handed every request of a player as it completes (e.g. to print a live log).
/// Called from the player's thread or the runtime's; keep it short.
pub type FetchHook = Arc<dyn Fn(&SegmentFetch) + Send + Sync>;

/// The `X-Cache` answer of a response as a player saw it: one of the edges' values
/// ([`serve::wire::CacheStatus`]), another cache's value, or none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheStatus {
    /// `HIT`.
    Hit,
    /// `MISS`.
    Miss,
    /// `STALE` (served from cache past its freshness, e.g. because upstream failed).
    Stale,
    /// `REVALIDATED` (the stored copy, confirmed by a `304` from upstream).
    Revalidated,
    /// Any other value (as received, trimmed).
    Other(String),
    /// No `X-Cache` header (an origin, or a failed request).
    None,
}

impl From<wire::CacheStatus> for CacheStatus {
    fn from(c: wire::CacheStatus) -> CacheStatus {
        match c {
            wire::CacheStatus::Hit => CacheStatus::Hit,
            wire::CacheStatus::Miss => CacheStatus::Miss,
            wire::CacheStatus::Stale => CacheStatus::Stale,
            wire::CacheStatus::Revalidated => CacheStatus::Revalidated,
        }
    }
}

impl CacheStatus {
    /// Parses an `X-Cache` header value as [`serve::wire::CacheStatus`] does
    /// (case-insensitive; the first word counts, so `HIT from x` is a hit).
    pub fn from_header(v: Option<&str>) -> CacheStatus {
        let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
            return CacheStatus::None;
        };
        match v.parse::<wire::CacheStatus>() {
            Ok(c) => c.into(),
            Err(_) => CacheStatus::Other(v.to_string()),
        }
    }

    /// As written in reports: `HIT`, `MISS`, `STALE`, `REVALIDATED`, the other value, or ``
    /// (none).
    pub fn as_str(&self) -> &str {
        match self {
            CacheStatus::Hit => wire::CacheStatus::Hit.as_str(),
            CacheStatus::Miss => wire::CacheStatus::Miss.as_str(),
            CacheStatus::Stale => wire::CacheStatus::Stale.as_str(),
            CacheStatus::Revalidated => wire::CacheStatus::Revalidated.as_str(),
            CacheStatus::Other(s) => s,
            CacheStatus::None => "",
        }
    }
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CacheStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What an HTTP request fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FetchKind {
    /// The MPD.
    Mpd,
    /// A video init segment.
    Init,
    /// A video media segment.
    Media,
    /// The audio init segment (`"audio_init"`).
    #[serde(rename = "audio_init")]
    AudioInit,
    /// An audio media segment (`index` is the audio segment's, `quality` 0).
    Audio,
    /// A live player's clock synchronisation request (the MPD's `UTCTiming` URL).
    Time,
}

impl FetchKind {
    /// As written in reports: `mpd`, `init`, `media`, `audio_init`, `audio`, `time`.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchKind::Mpd => "mpd",
            FetchKind::Init => "init",
            FetchKind::Media => "media",
            FetchKind::AudioInit => "audio_init",
            FetchKind::Audio => "audio",
            FetchKind::Time => "time",
        }
    }

    /// An audio request (init or media).
    pub fn is_audio(self) -> bool {
        matches!(self, FetchKind::AudioInit | FetchKind::Audio)
    }
}

/// One HTTP request of a player (MPD, init, media, audio init or audio), failed ones
/// included.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentFetch {
    /// Segment index, 0-based (0 for the MPD and init segments; the audio segment's own
    /// index for audio).
    pub index: usize,
    /// Video quality (0 for the MPD and audio).
    pub quality: usize,
    /// Final URL (after redirects).
    pub url: String,
    /// URL requested (differs from `url` when redirected, e.g. by the redirector).
    pub requested: String,
    /// Server that answered: its `X-Served-By`, else `host:port` of the final URL.
    pub edge: Option<String>,
    /// Its `X-Cache`.
    pub cache: CacheStatus,
    /// HTTP status (0 when no response arrived).
    pub status: u16,
    /// Body bytes received.
    pub bytes: u64,
    /// Request to last byte (or to abandonment), scaled ms.
    pub ms: f64,
    /// Request to response headers, scaled ms.
    pub ttfb_ms: f64,
    /// The ABR abandoned it (response dropped).
    pub abandoned: bool,
    /// MPD, init, media, audio init or audio.
    pub kind: FetchKind,
    /// Player clock at the request, scaled ms (the MPD fetch is at 0; the player clock
    /// starts after it).
    pub at_ms: f64,
    /// The response's `CMSD-Dynamic` as the player read it (the hop closest to it), if any.
    pub cmsd: Option<crate::cmsd_abr::ServerCmsd>,
    /// What went wrong (non-2xx status or transport error), if anything.
    pub error: Option<String>,
}
