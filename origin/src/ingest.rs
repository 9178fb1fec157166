//! Push ingest: a live encoder (ffmpeg's dash muxer with `-method PUT`, or any source
//! following the DASH-IF Live Media Ingest Protocol v1.2, Interface-2 "DASH and HLS
//! ingest") uploads its MPD and segments to the origin with HTTP `PUT` or `POST`, and
//! removes old segments with `DELETE`; players read them back with `GET`.
//!
//! ## Paths: written and read at the same URL
//! An object pushed to `/<prefix>/<stream>/<object path>` (prefix `ingest` by default) is
//! stored at `<content_root>/<prefix>/<stream>/<object path>` and served back by the
//! ordinary file handler at the **same** path. The same path, not a separate read prefix,
//! because the pushed MPD addresses its segments by URLs relative to itself (Interface-2
//! §7.2.2 "relative paths"; ffmpeg writes `media="chunk-stream$RepresentationID$-…"`), so
//! reading the MPD back from where it was written needs no rewriting, and an edge in
//! front of the origin forwards the `GET`s unchanged. Reads and writes are told apart by
//! the method and the token, not the path: `GET`/`HEAD` need no token, everything that
//! changes the store does.
//!
//! ## Request flow (`PUT`/`POST`/`DELETE` under the prefix, [`crate::ingest_http::handle`])
//! 1. [`authorize`]: `Authorization: Bearer <token>` compared in constant time
//!    (`subtle`) with the configured token: none → `401` with `WWW-Authenticate: Bearer`
//!    (RFC 6750 §3), a wrong one → `403` (Interface-2 §5.3 lets the source stop on it).
//! 2. [`serve::path::sanitize`] (`400`/`404`/`414` for `..`, encoded slashes, hidden
//!    segments …), then [`target`]: `<stream>/<object>` with both parts present (`400`).
//! 3. `PUT`/`POST`: [`admit`] checks `Content-Length` against `max_object_bytes`
//!    (`413`) and the stream's object count against `max_objects_per_stream` / the number
//!    of streams against `max_streams` (`507 Insufficient Storage`, RFC 4918 §11.5). The
//!    body — `Content-Length` or chunked transfer coding, as ffmpeg sends it with
//!    `-http_persistent 1` — is streamed into a hidden temp file beside the target
//!    (`.<name>.<n>.part`; hidden names are never served, [`serve::path`]), counted
//!    against the size limit as it arrives, and renamed over the target only when the
//!    whole body arrived: an aborted or oversized upload is deleted and never visible.
//!    `201 Created` for a new object, `204 No Content` for a replaced one (RFC 9110
//!    §9.3.4). The hot cache's entry for the path is dropped, so the next `GET` sees the
//!    new object at once.
//! 4. `DELETE`: removes the object (`204`, `404` if absent) and its hot-cache entry.
//!
//! Steps 1–4 run in a task of their own ([`crate::ingest_http::handle`]), so a client hanging up cannot cut
//! them short; each answer is counted in `dashcdn_origin_ingest_requests_total{outcome}`
//! ([`crate::ingest_http::outcome`]) and the bytes of completed uploads in `dashcdn_origin_ingest_bytes_total`.
//!
//! ## Serving back
//! The file handler serves ingested objects like any other file (ranges, ETags, `304`),
//! with two differences decided here: an ingested MPD gets `Cache-Control: public,
//! max-age=<mpd_max_age_secs>` (1 s by default: the pushed MPD is dynamic and changes
//! every segment; it is served as pushed), and a media segment's `Content-Type` comes
//! from the init segment uploaded into the same directory (its `hdlr` handler type, read
//! at upload: `soun` → `audio/mp4`, `vide` → `video/mp4`). A directory holding inits of
//! both kinds (ffmpeg's default flat naming) gives `video/mp4` for its `.m4s`, which
//! players ignore; one representation per directory (`-init_seg_name
//! 'stream$RepresentationID$/init.$ext$' -media_seg_name
//! 'stream$RepresentationID$/$Number%05d$.$ext$'`) gets the exact type. Segments stay
//! `immutable` (Interface-2 §7.1.2 requires unique segment names).
//!
//! ## Growing objects (low latency)
//! A **new** object's upload in progress is relayed to `GET` readers as it grows
//! ([`crate::growing`], [`crate::ingest_http::read`]): chunked transfer coding, each chunk
//! as it arrives, a clean end when the upload completes, a cut response when it is
//! aborted; `relay_bytes` bounds the memory (0 turns it off, and then an upload is
//! invisible until complete). A replaced object (the MPD) is served in its previous
//! version until the new one is complete.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use http::header::HeaderValue;
use manifests::layout::MediaKind;
use subtle::ConstantTimeEq;

use crate::config::OriginError;

pub use crate::config::{IngestConfig, MIN_TOKEN_LEN, TOKEN_ENV};

/// Bytes of an upload kept in memory to read an init segment's handler type.
pub(crate) const SNIFF_BYTES: usize = 64 << 10;

/// Outcome of checking a request's `Authorization` header ([`authorize`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The bearer token matches.
    Granted,
    /// No `Authorization: Bearer` credentials: `401` (RFC 6750 §3.1).
    Missing,
    /// Credentials given but wrong: `403`.
    Wrong,
}

/// Checks `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1)
/// against `token`, in time independent of where the two differ.
pub fn authorize(header: Option<&HeaderValue>, token: &[u8]) -> Auth {
    let Some(value) = header else {
        return Auth::Missing;
    };
    let v = value.as_bytes();
    if v.len() < 7 || !v[..7].eq_ignore_ascii_case(b"bearer ") {
        return Auth::Missing;
    }
    let given = v[7..].trim_ascii();
    if given.is_empty() {
        return Auth::Missing;
    }
    if bool::from(given.ct_eq(token)) {
        Auth::Granted
    } else {
        Auth::Wrong
    }
}

/// The stream and object path of an ingest request path (already sanitized, prefix
/// removed): `None` unless both are present and it does not end in `/`.
pub fn target(rel: &serve::path::SafePath) -> Option<(&str, &str)> {
    if rel.is_dir_request() {
        return None;
    }
    let (stream, object) = rel.as_str().split_once('/')?;
    (!stream.is_empty() && !object.is_empty()).then_some((stream, object))
}

/// Whether an upload may start ([`admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Accept,
    /// Announced body larger than the limit: `413`.
    TooLarge,
    /// A new object in a stream already at its object limit: `507`.
    TooManyObjects,
    /// A new stream while at the stream limit: `507`.
    TooManyStreams,
}

/// Decides whether an upload may start: `content_length` (if announced) within
/// `max_object_bytes`; a new object (`exists == false`) only while the stream holds
/// fewer than `max_objects_per_stream`; a new stream only below `max_streams`.
pub fn admit(
    limits: &IngestConfig,
    content_length: Option<u64>,
    stream_objects: Option<usize>,
    streams: usize,
    exists: bool,
) -> Admission {
    if content_length.is_some_and(|n| n > limits.max_object_bytes) {
        return Admission::TooLarge;
    }
    match stream_objects {
        None if streams >= limits.max_streams => Admission::TooManyStreams,
        Some(n) if !exists && n >= limits.max_objects_per_stream => Admission::TooManyObjects,
        _ => Admission::Accept,
    }
}

/// The handler type of an init segment's first track (`moov/trak/mdia/hdlr`), as a
/// media kind: `vide` → video, `soun` → audio; `None` for anything else (a media
/// segment, a manifest, text tracks).
pub fn init_kind(data: &[u8]) -> Option<MediaKind> {
    let moov = child(data, b"moov")?;
    let trak = child(moov, b"trak")?;
    let mdia = child(trak, b"mdia")?;
    let hdlr = child(mdia, b"hdlr")?;
    // FullBox: version+flags (4), pre_defined (4), handler_type (4).
    match hdlr.get(8..12)? {
        b"vide" => Some(MediaKind::Video),
        b"soun" => Some(MediaKind::Audio),
        _ => None,
    }
}

/// The payload of the first box of type `kind` among the boxes in `data` (32-bit and
/// 64-bit sizes; a box running past the end is cut at the end).
fn child<'a>(mut data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    while data.len() >= 8 {
        let size32 = u32::from_be_bytes(data[0..4].try_into().ok()?) as u64;
        let (header, size) = match size32 {
            1 => (16, u64::from_be_bytes(data.get(8..16)?.try_into().ok()?)),
            0 => (8, data.len() as u64),
            n => (8, n),
        };
        if size < header as u64 {
            return None;
        }
        let end = (size.min(data.len() as u64)) as usize;
        if &data[4..8] == kind {
            return data.get(header..end);
        }
        data = &data[end..];
    }
    None
}

/// What is known of one directory's media kind from the inits uploaded into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirKind {
    One(MediaKind),
    Mixed,
}

/// The ingest side of an origin: token, limits, the objects of each stream and the
/// media kind of each directory (see the module docs).
#[derive(Debug)]
pub struct Ingest {
    pub(crate) config: IngestConfig,
    pub(crate) token: Vec<u8>,
    /// `<content_root>/<prefix>`, created at startup and canonicalized.
    pub(crate) root: PathBuf,
    cc_mpd: String,
    streams: Mutex<HashMap<String, HashSet<String>>>,
    kinds: Mutex<HashMap<String, DirKind>>,
    pub(crate) temp_counter: AtomicU64,
    /// New objects still being uploaded, served to readers as they grow.
    pub(crate) growing: crate::growing::GrowingRegistry,
}

impl Ingest {
    /// Reads the token ([`IngestConfig::load_token`]) and creates `<content_root>/<prefix>`.
    pub fn new(config: IngestConfig, content_root: &Path) -> Result<Ingest, OriginError> {
        let bad = |m: String| OriginError::Ingest(m);
        let token = config.load_token()?;
        let root = content_root.join(&config.prefix);
        std::fs::create_dir_all(&root)
            .and_then(|_| std::fs::canonicalize(&root))
            .map_err(|e| bad(format!("ingest directory {}: {e}", root.display())))
            .map(|root| Ingest {
                growing: crate::growing::GrowingRegistry::new(config.relay_bytes),
                cc_mpd: format!("public, max-age={}", config.mpd_max_age_secs),
                config,
                token,
                root,
                streams: Mutex::new(HashMap::new()),
                kinds: Mutex::new(HashMap::new()),
                temp_counter: AtomicU64::new(0),
            })
    }

    /// The configuration in use.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// New objects still being uploaded, relayed to readers as they grow.
    pub fn growing(&self) -> &crate::growing::GrowingRegistry {
        &self.growing
    }

    /// The object path under the prefix, if `rel` (relative to the content root) is in
    /// the ingest tree.
    pub(crate) fn under_prefix<'a>(&self, rel: &'a str) -> Option<&'a str> {
        rel.strip_prefix(self.config.prefix.as_str())?
            .strip_prefix('/')
    }

    /// `Cache-Control` for an ingested MPD, `None` for anything else.
    pub fn cache_control_for(&self, rel: &str) -> Option<&str> {
        let rest = self.under_prefix(rel)?;
        matches!(serve::CacheClass::of(rest), serve::CacheClass::Manifest)
            .then_some(self.cc_mpd.as_str())
    }

    /// `Content-Type` of an ingested media segment (`.m4s`), `None` outside the ingest
    /// tree or for other names.
    pub fn segment_type_for(&self, rel: &str) -> Option<&'static str> {
        let rest = self.under_prefix(rel)?;
        let ext = rest.rsplit_once('.').map(|(_, e)| e)?;
        if !ext.eq_ignore_ascii_case(manifests::layout::MEDIA_SEGMENT_EXT) {
            return None;
        }
        let dir = rest.rsplit_once('/').map_or("", |(d, _)| d);
        let kind = match lock(&self.kinds).get(dir) {
            Some(DirKind::One(k)) => Some(*k),
            _ => None,
        };
        Some(manifests::layout::mime_for_segment(kind))
    }

    pub(crate) fn note_kind(&self, object: &str, stream: &str, kind: MediaKind) {
        let dir = match object.rsplit_once('/') {
            Some((d, _)) => format!("{stream}/{d}"),
            None => stream.to_string(),
        };
        let mut kinds = lock(&self.kinds);
        let entry = kinds.entry(dir).or_insert(DirKind::One(kind));
        if *entry != DirKind::One(kind) {
            *entry = DirKind::Mixed;
        }
    }

    /// Reserves `object` in `stream` after [`admit`]; returns whether it is new.
    pub(crate) fn reserve(
        &self,
        stream: &str,
        object: &str,
        len: Option<u64>,
    ) -> Result<bool, Admission> {
        let stream_dir = self.root.join(stream);
        let mut streams = lock(&self.streams);
        if !streams.contains_key(stream) && stream_dir.is_dir() {
            // An origin restarted over an existing stream: count what is on disk.
            streams.insert(stream.to_string(), list_files(&stream_dir));
        }
        let objects = streams.get(stream);
        let exists = objects.is_some_and(|o| o.contains(object));
        match admit(
            &self.config,
            len,
            objects.map(HashSet::len),
            streams.len(),
            exists,
        ) {
            Admission::Accept => {}
            refused => return Err(refused),
        }
        streams
            .entry(stream.to_string())
            .or_default()
            .insert(object.to_string());
        Ok(!exists)
    }

    pub(crate) fn release(&self, stream: &str, object: &str) {
        let mut streams = lock(&self.streams);
        if let Some(objects) = streams.get_mut(stream) {
            objects.remove(object);
            if objects.is_empty() {
                streams.remove(stream);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every regular file under `dir` (recursively), as `/`-joined paths relative to it;
/// hidden (temp) files are left out.
fn list_files(dir: &Path) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = format!("{prefix}{name}");
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push((e.path(), format!("{rel}/"))),
                Ok(t) if t.is_file() => {
                    out.insert(rel);
                }
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &[u8] = b"0123456789abcdef-token";

    #[test]
    fn bearer_checks() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(authorize(None, TOKEN), Auth::Missing);
        assert_eq!(authorize(Some(&h("Basic abc")), TOKEN), Auth::Missing);
        assert_eq!(authorize(Some(&h("Bearer ")), TOKEN), Auth::Missing);
        assert_eq!(
            authorize(Some(&h("Bearer 0123456789abcdef-token")), TOKEN),
            Auth::Granted
        );
        assert_eq!(
            authorize(Some(&h("bearer 0123456789abcdef-token ")), TOKEN),
            Auth::Granted
        );
        assert_eq!(
            authorize(Some(&h("Bearer 0123456789abcdef-tokeN")), TOKEN),
            Auth::Wrong
        );
        assert_eq!(authorize(Some(&h("Bearer 0123")), TOKEN), Auth::Wrong);
    }

    #[test]
    fn targets() {
        let t = |p: &str| {
            let s = serve::path::sanitize(p).unwrap();
            target(&s).map(|(a, b)| (a.to_string(), b.to_string()))
        };
        assert_eq!(
            t("/s1/manifest.mpd"),
            Some(("s1".into(), "manifest.mpd".into()))
        );
        assert_eq!(t("/s1/v/1.m4s"), Some(("s1".into(), "v/1.m4s".into())));
        assert_eq!(t("/s1"), None);
        assert_eq!(t("/s1/"), None);
        assert_eq!(t("/s1/v/"), None);
    }

    #[test]
    fn admission() {
        let l = IngestConfig {
            max_object_bytes: 100,
            max_objects_per_stream: 2,
            max_streams: 1,
            ..IngestConfig::default()
        };
        assert_eq!(admit(&l, Some(100), Some(0), 1, false), Admission::Accept);
        assert_eq!(admit(&l, Some(101), Some(0), 1, false), Admission::TooLarge);
        assert_eq!(
            admit(&l, None, Some(2), 1, false),
            Admission::TooManyObjects
        );
        assert_eq!(admit(&l, None, Some(2), 1, true), Admission::Accept);
        assert_eq!(admit(&l, None, None, 1, false), Admission::TooManyStreams);
        assert_eq!(admit(&l, None, None, 0, false), Admission::Accept);
    }

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    fn init_with(handler: &[u8; 4]) -> Vec<u8> {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0; 12]);
        let mdia = [boxed(b"mdhd", &[0; 24]), boxed(b"hdlr", &hdlr)].concat();
        let trak = [boxed(b"tkhd", &[0; 84]), boxed(b"mdia", &mdia)].concat();
        let moov = [boxed(b"mvhd", &[0; 100]), boxed(b"trak", &trak)].concat();
        [boxed(b"ftyp", b"iso6\0\0\0\0"), boxed(b"moov", &moov)].concat()
    }

    #[test]
    fn init_kinds_from_hdlr() {
        assert_eq!(init_kind(&init_with(b"vide")), Some(MediaKind::Video));
        assert_eq!(init_kind(&init_with(b"soun")), Some(MediaKind::Audio));
        assert_eq!(init_kind(&init_with(b"text")), None);
        // A media segment (no moov), a truncated init, garbage.
        assert_eq!(init_kind(&boxed(b"moof", &[0; 32])), None);
        let init = init_with(b"soun");
        assert_eq!(init_kind(&init[..init.len() - 20]), None);
        assert_eq!(init_kind(b"\0\0\0\x01moov"), None);
    }
}
