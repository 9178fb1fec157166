//! How a live player finds its MPD ([`Entry`]: a URL, possibly the redirector's 302, or a DNS
//! lookup against the redirector's DNS port) and how it turns the MPD into a
//! [`Ladder`](player_sim::input::Ladder) and segment URLs ([`MpdPlan`], in [`plan`]).
//!
//! The ABR decides over the **video** AdaptationSet's ladder, as in the simulator. Segment
//! sizes are unknown before they are downloaded, so the ladder carries nominal sizes,
//! `@bandwidth × segment duration`, as a real player would assume; the events of a playback
//! carry the real downloaded sizes.
//!
//! The first **audio** AdaptationSet (if any) is planned too ([`AudioPlan`]): its lowest
//! `@bandwidth` Representation, its init segment and its media segments with their times
//! (SegmentTemplate with `@duration` and `$Number$`, or with a SegmentTimeline), so that the
//! player can fetch, beside video segment *i*, the audio segments covering *i*'s time span
//! ([`MpdPlan::audio_until`]).
//!
//! Segment URLs are resolved against the final (post-redirect) MPD URL through the BaseURLs
//! in force: MPD, Period, AdaptationSet and Representation level. The MPD level may list
//! several alternatives (the redirector's `/steered/` MPDs carry one per edge); the player
//! uses the first and falls back to the next on a connection error or a non-2xx answer.
//! Below the MPD level the first BaseURL of each element is used. With a
//! `<ContentSteering>` element the player starts on its default pathway and follows the
//! steering server's `PATHWAY-PRIORITY` during playback, re-asking every `TTL` ([`steer`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::ProtoError;
use manifests::ManifestError;
use reqwest::Url;
use url::ParseError;

pub mod plan;
pub mod steer;

pub use plan::{AudioPlan, MpdPlan};

/// Why an entry, an MPD or a segment URL could not be resolved (messages name the URL, the
/// name or the element).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The entry URL (or the one built from a DNS answer) does not parse.
    #[error("bad MPD URL {url:?}")]
    BadMpdUrl {
        /// The URL.
        url: String,
        /// Why it does not parse.
        #[source]
        source: ParseError,
    },
    /// The DNS name is not a valid name.
    #[error("bad DNS name {name:?}")]
    BadDnsName {
        /// The name.
        name: String,
        /// Why it is invalid.
        #[source]
        source: ProtoError,
    },
    /// The DNS query could not be encoded.
    #[error("encoding the DNS query")]
    EncodeQuery(#[source] ProtoError),
    /// The UDP socket of the DNS lookup failed (bind, connect, send).
    #[error(transparent)]
    Socket(#[from] std::io::Error),
    /// Receiving the DNS answer failed.
    #[error("DNS query to {server}")]
    DnsQuery {
        /// The DNS server.
        server: SocketAddr,
        /// The receive error.
        #[source]
        source: std::io::Error,
    },
    /// The DNS answer has no A record.
    #[error("DNS {server}: no A record for {name} ({code})")]
    NoARecord {
        /// The DNS server.
        server: SocketAddr,
        /// The name looked up.
        name: String,
        /// The answer's response code.
        code: String,
    },
    /// No DNS answer after three tries.
    #[error("DNS {server}: no answer for {name} A after 3 tries")]
    NoAnswer {
        /// The DNS server.
        server: SocketAddr,
        /// The name looked up.
        name: String,
    },
    /// The MPD fetched from `url` cannot be played (the source says why).
    #[error("bad MPD from {url}")]
    BadMpd {
        /// The MPD's URL (after redirects).
        url: String,
        /// What is wrong with it.
        #[source]
        source: Box<ResolveError>,
    },
    /// The MPD does not parse, or its segments cannot be listed.
    #[error(transparent)]
    Manifest(Box<ManifestError>),
    /// The MPD has no Period.
    #[error("no Period")]
    NoPeriod,
    /// The first Period has no video AdaptationSet.
    #[error("no video AdaptationSet")]
    NoVideo,
    /// The video AdaptationSet has no Representation.
    #[error("video AdaptationSet has no Representation")]
    NoVideoRepresentation,
    /// A BaseURL does not resolve.
    #[error("bad BaseURL {base:?}")]
    BadBaseUrl {
        /// The BaseURL.
        base: String,
        /// Why it does not resolve.
        #[source]
        source: ParseError,
    },
    /// The video Representations have no media segments.
    #[error("no media segments")]
    NoMediaSegments,
    /// A video segment has no duration.
    #[error("a segment has no duration")]
    NoDuration,
    /// A video Representation has no `@bandwidth`.
    #[error("a Representation has no @bandwidth")]
    NoBandwidth,
    /// The audio AdaptationSet has no Representation.
    #[error("audio AdaptationSet has no Representation")]
    NoAudioRepresentation,
    /// The audio Representation's segments cannot be listed.
    #[error("audio Representation {id}")]
    AudioSegments {
        /// The Representation's `@id`.
        id: String,
        /// Why.
        #[source]
        source: Box<ManifestError>,
    },
    /// The audio Representation has no media segments.
    #[error("audio Representation {0} has no media segments")]
    NoAudioSegments(String),
    /// A segment URL does not resolve.
    #[error("bad segment URL {rel:?}")]
    BadSegmentUrl {
        /// The relative URL.
        rel: String,
        /// Why it does not resolve.
        #[source]
        source: ParseError,
    },
    /// A video segment index beyond the Representation's segments.
    #[error("no segment {index} at quality {quality}")]
    NoSegment {
        /// Segment index.
        index: usize,
        /// Quality.
        quality: usize,
    },
    /// An audio URL asked of a plan without audio.
    #[error("no audio")]
    NoAudio,
    /// An audio segment index beyond the audio segments.
    #[error("no audio segment {0}")]
    NoAudioSegment(usize),
}

impl From<ManifestError> for ResolveError {
    fn from(e: ManifestError) -> ResolveError {
        ResolveError::Manifest(Box::new(e))
    }
}

fn bad_mpd_url(url: &str) -> impl FnOnce(ParseError) -> ResolveError + '_ {
    move |source| ResolveError::BadMpdUrl {
        url: url.to_string(),
        source,
    }
}

/// Where a live player enters the CDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An MPD URL on an origin, an edge or the redirector (whose `302` is followed; the final
    /// URL is the one segments are resolved against).
    Url(String),
    /// Ask the redirector's DNS for `name` (an A query over UDP to `server`), then GET
    /// `http://<first A record>:<port><path>`.
    Dns {
        /// The redirector's DNS address.
        server: SocketAddr,
        /// The name to look up (the CDN name, e.g. `cdn.example.test`).
        name: String,
        /// HTTP port of the edges.
        port: u16,
        /// Path of the MPD, e.g. `/default/manifest.mpd`.
        path: String,
    },
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Url(u) => f.write_str(u),
            Entry::Dns {
                server,
                name,
                port,
                path,
            } => write!(f, "dns://{server}/{name} -> :{port}{path}"),
        }
    }
}

impl Entry {
    /// The URL to GET first: the URL itself, or the one built from a DNS answer.
    pub async fn initial_url(&self) -> Result<Url, ResolveError> {
        match self {
            Entry::Url(u) => Url::parse(u).map_err(bad_mpd_url(u)),
            Entry::Dns {
                server,
                name,
                port,
                path,
            } => {
                let ip = lookup_a(*server, name, Duration::from_secs(2)).await?;
                let path = if path.starts_with('/') {
                    path.clone()
                } else {
                    format!("/{path}")
                };
                let u = format!("http://{ip}:{port}{path}");
                tracing::debug!(%server, name, %ip, url = %u, "resolved by DNS");
                Url::parse(&u).map_err(bad_mpd_url(&u))
            }
        }
    }
}

/// Sends an A query for `name` over UDP to `server` (three tries of `timeout`) and returns the
/// first A record of the answer.
pub async fn lookup_a(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Ipv4Addr, ResolveError> {
    let qname = Name::from_ascii(name).map_err(|source| ResolveError::BadDnsName {
        name: name.to_string(),
        source,
    })?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    let id: u16 = (std::process::id() as u16) ^ (name.len() as u16).rotate_left(7);
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname, RecordType::A));
    let packet = msg.to_vec().map_err(ResolveError::EncodeQuery)?;
    let mut buf = vec![0u8; 4096];
    for attempt in 0..3 {
        sock.send(&packet).await?;
        let got = tokio::time::timeout(timeout, async {
            loop {
                let n = sock.recv(&mut buf).await?;
                match Message::from_vec(&buf[..n]) {
                    Ok(m) if m.metadata.id == id => return Ok::<_, std::io::Error>(m),
                    _ => continue,
                }
            }
        })
        .await;
        let Ok(answer) = got else {
            tracing::debug!(%server, name, attempt, "DNS timeout");
            continue;
        };
        let answer = answer.map_err(|source| ResolveError::DnsQuery { server, source })?;
        return answer
            .answers
            .iter()
            .find_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .ok_or_else(|| ResolveError::NoARecord {
                server,
                name: name.to_string(),
                code: answer.metadata.response_code.to_string(),
            });
    }
    Err(ResolveError::NoAnswer {
        server,
        name: name.to_string(),
    })
}
