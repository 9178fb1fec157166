//! How a live player finds its MPD ([`Entry`]: a URL, possibly the redirector's 302, or a DNS
//! lookup against the redirector's DNS port) and how it turns the MPD into a [`Ladder`] and
//! segment URLs ([`MpdPlan`]).
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
//! Below the MPD level the first BaseURL of each element is used.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::ProtoError;
use manifests::{BaseUrl, ManifestError, Mpd};
use reqwest::Url;
use url::ParseError;

use player_sim::input::Ladder;

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

/// What a player needs from an MPD: the video ladder (nominal sizes) and the segment URLs.
#[derive(Debug, Clone)]
pub struct MpdPlan {
    /// The URL the MPD was fetched from (after redirects).
    pub mpd_url: Url,
    /// Video ladder, ascending `@bandwidth`; sizes are `@bandwidth × duration`.
    pub ladder: Ladder,
    /// Representation ids by quality.
    pub representation_ids: Vec<String>,
    /// Alternative bases (MPD-level BaseURLs resolved against the MPD URL, in document order;
    /// the MPD URL itself when there are none).
    pub bases: Vec<Url>,
    /// Relative BaseURLs below the MPD level, by quality (Period, AdaptationSet,
    /// Representation).
    prefixes: Vec<Vec<String>>,
    /// Init segment template expansions by quality.
    inits: Vec<Option<String>>,
    /// Media segment URLs, `[quality][index]`, relative to the prefixes.
    media: Vec<Vec<String>>,
    /// Video segment spans `(start, end)`, seconds on the period timeline, by index.
    pub video_spans: Vec<(f64, f64)>,
    /// The audio to fetch beside the video (`None`: the MPD has no audio AdaptationSet, or
    /// audio is turned off).
    pub audio: Option<AudioPlan>,
}

/// The audio Representation a player fetches beside the video: the first audio
/// AdaptationSet's lowest `@bandwidth` Representation.
#[derive(Debug, Clone)]
pub struct AudioPlan {
    /// Its `@id`.
    pub representation_id: String,
    /// Its `@bandwidth`, kbps.
    pub bitrate_kbps: f64,
    /// Relative BaseURLs below the MPD level (Period, AdaptationSet, Representation).
    prefixes: Vec<String>,
    /// Init segment template expansion.
    init: Option<String>,
    /// Media segments: `(start s, end s, URL relative to the prefixes)`, in order.
    segments: Vec<(f64, f64, String)>,
}

impl AudioPlan {
    /// Number of audio media segments.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// Span `(start, end)` of audio segment `index`, seconds on the period timeline.
    pub fn span(&self, index: usize) -> Option<(f64, f64)> {
        self.segments.get(index).map(|s| (s.0, s.1))
    }
}

fn is_kind(set: &manifests::AdaptationSet, kind: &str) -> bool {
    let mime = |m: &Option<String>| m.as_deref().is_some_and(|m| m.starts_with(kind));
    set.content_type.as_deref() == Some(kind)
        || mime(&set.common.mime_type)
        || set
            .representations
            .iter()
            .any(|r| mime(&r.common.mime_type))
}

/// `(start, end, url)` of every media segment of `r`, seconds on the period timeline.
fn timed_segments(
    period: &manifests::Period,
    set: &manifests::AdaptationSet,
    r: &manifests::Representation,
    pdur: Option<manifests::IsoDuration>,
) -> Result<Vec<(f64, f64, String)>, ManifestError> {
    let pto = r
        .effective_segment_template(period, set)
        .and_then(|t| t.presentation_time_offset)
        .unwrap_or(0);
    Ok(r.media_segments(period, set, pdur)?
        .into_iter()
        .map(|s| {
            let start = s.segment.start_in_period(pto).as_secs_f64();
            (start, start + s.segment.duration_secs(), s.url)
        })
        .collect())
}

fn first_base(b: &[BaseUrl]) -> Option<String> {
    b.first()
        .map(|b| b.url.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl MpdPlan {
    /// Parses `text` fetched from `mpd_url`. Errors name the URL.
    pub fn from_mpd(text: &str, mpd_url: &Url) -> Result<MpdPlan, ResolveError> {
        Self::build(text, mpd_url).map_err(|e| ResolveError::BadMpd {
            url: mpd_url.to_string(),
            source: Box::new(e),
        })
    }

    fn build(text: &str, mpd_url: &Url) -> Result<MpdPlan, ResolveError> {
        let mpd = Mpd::parse(text)?;
        let period = mpd.periods.first().ok_or(ResolveError::NoPeriod)?;
        let pdur = mpd.period_duration(0);
        let set = period
            .adaptation_sets
            .iter()
            .find(|s| is_kind(s, "video"))
            .ok_or(ResolveError::NoVideo)?;
        let mut reps: Vec<_> = set.representations.iter().collect();
        if reps.is_empty() {
            return Err(ResolveError::NoVideoRepresentation);
        }
        reps.sort_by_key(|r| r.bandwidth);
        let mut bases = Vec::new();
        for b in &mpd.base_urls {
            let u = b.url.trim();
            if u.is_empty() {
                continue;
            }
            bases.push(mpd_url.join(u).map_err(|source| ResolveError::BadBaseUrl {
                base: u.to_string(),
                source,
            })?);
        }
        if bases.is_empty() {
            bases.push(mpd_url.clone());
        }
        let mut prefixes = Vec::new();
        let mut inits = Vec::new();
        let mut media = Vec::new();
        let mut durations: Vec<f64> = Vec::new();
        let mut video_spans: Vec<(f64, f64)> = Vec::new();
        for r in &reps {
            let segs = timed_segments(period, set, r, pdur)?;
            if durations.is_empty() || segs.len() < durations.len() {
                durations = segs.iter().map(|s| s.1 - s.0).collect();
                video_spans = segs.iter().map(|s| (s.0, s.1)).collect();
            }
            prefixes.push(
                [
                    first_base(&period.base_urls),
                    first_base(&set.base_urls),
                    first_base(&r.base_urls),
                ]
                .into_iter()
                .flatten()
                .collect(),
            );
            inits.push(r.init_url(period, set));
            media.push(segs.into_iter().map(|s| s.2).collect::<Vec<_>>());
        }
        let n = media.iter().map(Vec::len).min().unwrap_or(0);
        if n == 0 {
            return Err(ResolveError::NoMediaSegments);
        }
        durations.truncate(n);
        video_spans.truncate(n);
        if !durations.iter().all(|d| *d > 0.0) {
            return Err(ResolveError::NoDuration);
        }
        let bitrates_kbps: Vec<f64> = reps.iter().map(|r| r.bandwidth as f64 / 1000.0).collect();
        if !bitrates_kbps.iter().all(|b| *b > 0.0) {
            return Err(ResolveError::NoBandwidth);
        }
        let name = mpd_url
            .path_segments()
            .and_then(|s| s.rev().nth(1).map(str::to_string))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| mpd_url.to_string());
        let audio = match period.adaptation_sets.iter().find(|s| is_kind(s, "audio")) {
            None => None,
            Some(aset) => {
                let r = aset
                    .representations
                    .iter()
                    .min_by_key(|r| r.bandwidth)
                    .ok_or(ResolveError::NoAudioRepresentation)?;
                let segments = timed_segments(period, aset, r, pdur).map_err(|source| {
                    ResolveError::AudioSegments {
                        id: r.id.clone(),
                        source: Box::new(source),
                    }
                })?;
                if segments.is_empty() {
                    return Err(ResolveError::NoAudioSegments(r.id.clone()));
                }
                Some(AudioPlan {
                    representation_id: r.id.clone(),
                    bitrate_kbps: r.bandwidth as f64 / 1000.0,
                    prefixes: [
                        first_base(&period.base_urls),
                        first_base(&aset.base_urls),
                        first_base(&r.base_urls),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                    init: r.init_url(period, aset),
                    segments,
                })
            }
        };
        let ladder = Ladder {
            name,
            bitrates_kbps: bitrates_kbps.clone(),
            segment_duration_ms: durations[0] * 1000.0,
            sizes_bits: durations
                .iter()
                .map(|d| bitrates_kbps.iter().map(|b| b * 1000.0 * d).collect())
                .collect(),
        };
        Ok(MpdPlan {
            mpd_url: mpd_url.clone(),
            ladder,
            representation_ids: reps.iter().map(|r| r.id.clone()).collect(),
            bases,
            prefixes,
            inits,
            media,
            video_spans,
            audio,
        })
    }

    fn resolve(&self, base: usize, quality: usize, rel: &str) -> Result<Url, ResolveError> {
        self.resolve_with(base, &self.prefixes[quality], rel)
    }

    fn resolve_with(
        &self,
        base: usize,
        prefixes: &[String],
        rel: &str,
    ) -> Result<Url, ResolveError> {
        let mut u = self.bases[base % self.bases.len()].clone();
        for p in prefixes {
            u = u.join(p).map_err(|source| ResolveError::BadBaseUrl {
                base: p.clone(),
                source,
            })?;
        }
        u.join(rel).map_err(|source| ResolveError::BadSegmentUrl {
            rel: rel.to_string(),
            source,
        })
    }

    /// URL of media segment `index` (0-based) at `quality` under alternative base `base`
    /// (taken modulo the number of bases).
    pub fn media_url(
        &self,
        base: usize,
        quality: usize,
        index: usize,
    ) -> Result<Url, ResolveError> {
        let rel = self.media[quality]
            .get(index)
            .ok_or(ResolveError::NoSegment { index, quality })?;
        self.resolve(base, quality, rel)
    }

    /// URL of the init segment of `quality` under alternative base `base` (`None` when the
    /// Representation has none).
    pub fn init_url(&self, base: usize, quality: usize) -> Result<Option<Url>, ResolveError> {
        match &self.inits[quality] {
            Some(rel) => self.resolve(base, quality, rel).map(Some),
            None => Ok(None),
        }
    }
}

impl MpdPlan {
    /// URL of audio media segment `index` under alternative base `base`.
    pub fn audio_url(&self, base: usize, index: usize) -> Result<Url, ResolveError> {
        let a = self.audio.as_ref().ok_or(ResolveError::NoAudio)?;
        let rel = &a
            .segments
            .get(index)
            .ok_or(ResolveError::NoAudioSegment(index))?
            .2;
        self.resolve_with(base, &a.prefixes, rel)
    }

    /// URL of the audio init segment under alternative base `base` (`None` without audio or
    /// without an init segment).
    pub fn audio_init_url(&self, base: usize) -> Result<Option<Url>, ResolveError> {
        match self
            .audio
            .as_ref()
            .and_then(|a| a.init.as_ref().map(|i| (a, i)))
        {
            Some((a, rel)) => self.resolve_with(base, &a.prefixes, rel).map(Some),
            None => Ok(None),
        }
    }

    /// The audio segments to fetch beside video segment `index` when audio segments before
    /// `next` are already fetched: `next..end` where `end` is the first audio segment starting
    /// at or after the video segment's end (1 µs tolerance). Fetching these for each video
    /// segment in turn covers every video span with audio, each audio segment once.
    pub fn audio_until(&self, index: usize, next: usize) -> std::ops::Range<usize> {
        let Some(a) = &self.audio else {
            return next..next;
        };
        let Some(&(_, end)) = self.video_spans.get(index) else {
            return next..next;
        };
        let stop = a.segments.partition_point(|s| s.0 < end - 1e-6);
        next..stop.max(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MPD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT7S" minBufferTime="PT2S">
  BASES
  <Period id="0" start="PT0S">
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4">
      <SegmentTemplate timescale="1000" duration="2000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.m4a"/>
      <Representation id="a128" bandwidth="128000"/>
    </AdaptationSet>
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      SETBASE
      <SegmentTemplate timescale="90000" duration="180000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
      <Representation id="v720" bandwidth="3000000"/>
      <Representation id="v144" bandwidth="200000"/>
    </AdaptationSet>
  </Period>
</MPD>"#;

    fn mpd(bases: &str, set: &str) -> String {
        MPD.replace("BASES", bases).replace("SETBASE", set)
    }

    #[test]
    fn ladder_from_the_video_set_with_nominal_sizes() {
        let url = Url::parse("http://127.0.0.2:8081/default/manifest.mpd").unwrap();
        let p = MpdPlan::from_mpd(&mpd("", ""), &url).unwrap();
        assert_eq!(p.ladder.name, "default");
        assert_eq!(p.ladder.bitrates_kbps, vec![200.0, 3000.0]);
        assert_eq!(p.representation_ids, vec!["v144", "v720"]);
        assert_eq!(p.ladder.segment_duration_ms, 2000.0);
        // 7 s in 2 s segments: 4 segments, the last one 1 s.
        assert_eq!(p.ladder.segments(), 4);
        assert_eq!(p.ladder.sizes_bits[0], vec![400_000.0, 6_000_000.0]);
        assert_eq!(p.ladder.sizes_bits[3], vec![200_000.0, 3_000_000.0]);
        assert_eq!(
            p.media_url(0, 1, 0).unwrap().as_str(),
            "http://127.0.0.2:8081/default/v720/1.m4s"
        );
        assert_eq!(
            p.init_url(0, 0).unwrap().unwrap().as_str(),
            "http://127.0.0.2:8081/default/v144/init.mp4"
        );
        assert!(p.media_url(0, 0, 4).is_err());
    }

    #[test]
    fn base_urls_alternatives_and_nesting() {
        let url = Url::parse("http://127.0.0.1:8053/steered/default/manifest.mpd").unwrap();
        let bases = r#"<BaseURL serviceLocation="a">http://127.0.0.2:9001/default/</BaseURL>
  <BaseURL serviceLocation="b">http://127.0.0.3:9002/default/</BaseURL>"#;
        let p = MpdPlan::from_mpd(&mpd(bases, "<BaseURL>video/</BaseURL>"), &url).unwrap();
        assert_eq!(p.bases.len(), 2);
        assert_eq!(
            p.media_url(0, 0, 1).unwrap().as_str(),
            "http://127.0.0.2:9001/default/video/v144/2.m4s"
        );
        assert_eq!(
            p.media_url(1, 0, 1).unwrap().as_str(),
            "http://127.0.0.3:9002/default/video/v144/2.m4s"
        );
        assert_eq!(
            p.media_url(2, 0, 1).unwrap().as_str(),
            "http://127.0.0.2:9001/default/video/v144/2.m4s"
        );
        // A relative MPD-level BaseURL resolves against the MPD URL.
        let p = MpdPlan::from_mpd(&mpd("<BaseURL>../cdn/</BaseURL>", ""), &url).unwrap();
        assert_eq!(
            p.init_url(0, 1).unwrap().unwrap().as_str(),
            "http://127.0.0.1:8053/steered/cdn/v720/init.mp4"
        );
    }

    #[test]
    fn bad_mpd_names_the_url() {
        let url = Url::parse("http://h/x/manifest.mpd").unwrap();
        let e = MpdPlan::from_mpd("<html>nope</html>", &url).unwrap_err();
        assert!(e.to_string().contains("http://h/x/manifest.mpd"), "{e}");
        let audio_only = mpd("", "").replace("contentType=\"video\" mimeType=\"video/mp4\"", "");
        let e = MpdPlan::from_mpd(&audio_only, &url).unwrap_err();
        assert_eq!(
            crate::error_chain(&e),
            "bad MPD from http://h/x/manifest.mpd: no video AdaptationSet"
        );
        assert!(
            matches!(e, ResolveError::BadMpd { ref source, .. } if matches!(**source, ResolveError::NoVideo))
        );
    }

    #[test]
    fn audio_with_number_and_duration() {
        let url = Url::parse("http://127.0.0.2:8081/default/manifest.mpd").unwrap();
        let p = MpdPlan::from_mpd(&mpd("", ""), &url).unwrap();
        let a = p.audio.as_ref().expect("audio planned");
        assert_eq!(a.representation_id, "a128");
        assert_eq!(a.bitrate_kbps, 128.0);
        // 7 s in 2 s segments, the last 1 s; the video spans are the same.
        assert_eq!(a.segments(), 4);
        assert_eq!(a.span(3), Some((6.0, 7.0)));
        assert_eq!(p.video_spans[3], (6.0, 7.0));
        assert_eq!(
            p.audio_init_url(0).unwrap().unwrap().as_str(),
            "http://127.0.0.2:8081/default/a128/init.m4a"
        );
        assert_eq!(
            p.audio_url(0, 1).unwrap().as_str(),
            "http://127.0.0.2:8081/default/a128/2.m4s"
        );
        // Aligned: one audio segment per video segment, none twice.
        assert_eq!(p.audio_until(0, 0), 0..1);
        assert_eq!(p.audio_until(1, 1), 1..2);
        assert_eq!(p.audio_until(3, 3), 3..4);
        assert_eq!(p.audio_until(1, 2), 2..2);
        assert!(p.audio_url(0, 4).is_err());
    }

    #[test]
    fn audio_with_a_segment_timeline_covers_each_video_span() {
        // Our packager's audio: 1024-sample AAC frames, 47 or 48 frames per segment at 48 kHz.
        let timeline = r#"<SegmentTemplate timescale="48000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.m4a">
        <SegmentTimeline><S t="0" d="96256" r="1"/><S d="95232"/><S d="96256"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="a64" bandwidth="64000"/>"#;
        let text = mpd("", "").replace(
            r#"<SegmentTemplate timescale="1000" duration="2000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.m4a"/>"#,
            timeline,
        );
        let url = Url::parse("http://h/t/manifest.mpd").unwrap();
        let p = MpdPlan::from_mpd(&text, &url).unwrap();
        let a = p.audio.as_ref().unwrap();
        // The lowest-bandwidth audio Representation.
        assert_eq!(a.representation_id, "a64");
        assert_eq!(a.segments(), 4);
        let (s1, e1) = a.span(1).unwrap();
        assert!((s1 - 96256.0 / 48000.0).abs() < 1e-9 && (e1 - 192512.0 / 48000.0).abs() < 1e-9);
        assert_eq!(p.audio_url(0, 3).unwrap().as_str(), "http://h/t/a64/4.m4s");
        // Walk the video segments as a player does: every video span is covered by the audio
        // fetched so far, each audio segment fetched once.
        let mut next = 0;
        let mut got = Vec::new();
        for i in 0..p.video_spans.len() {
            let r = p.audio_until(i, next);
            got.extend(r.clone());
            next = r.end;
            let covered = a.span(next - 1).unwrap().1;
            assert!(covered >= p.video_spans[i].1.min(7.0) - 0.01, "segment {i}");
        }
        assert_eq!(got, vec![0, 1, 2, 3]);
    }

    #[test]
    fn no_audio_set_no_audio_plan() {
        let url = Url::parse("http://h/x/manifest.mpd").unwrap();
        let video_only = mpd("", "").replace("contentType=\"audio\" mimeType=\"audio/mp4\"", "");
        let p = MpdPlan::from_mpd(&video_only, &url).unwrap();
        assert!(p.audio.is_none());
        assert_eq!(p.audio_until(0, 0), 0..0);
        assert!(p.audio_init_url(0).unwrap().is_none());
    }
}
