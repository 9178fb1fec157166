//! Static file serving: path → file resolution (with the symlink check), the hot-cache
//! fast path, and response construction (conditional GET, ranges, HEAD).

use std::fs::Metadata;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use tokio_util::io::ReaderStream;

use crate::info::FileInfo;
use crate::state::OriginState;
use serve::http::conditional::{self, Precondition};
use serve::http::range::{self, ByteRange};
use serve::path::{self, SafePath};

fn metadata_identity(md: &Metadata) -> (u64, SystemTime, u64) {
    (md.len(), md.modified().unwrap_or(UNIX_EPOCH), inode(md))
}

#[cfg(unix)]
fn inode(md: &Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(md)
}

#[cfg(not(unix))]
fn inode(_md: &Metadata) -> u64 {
    0
}

/// Why a file could not be served.
#[derive(Debug)]
pub enum FileError {
    /// Missing, a directory, not a regular file, or resolving outside the root.
    NotFound,
    /// The OS refused access.
    Forbidden,
    /// The name is too long for the file system.
    NameTooLong,
    /// The file kept changing while being read.
    Unstable,
    /// Any other I/O error.
    Io(io::Error),
}

impl From<io::Error> for FileError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory => FileError::NotFound,
            io::ErrorKind::PermissionDenied => FileError::Forbidden,
            _ => match e.raw_os_error() {
                Some(36) => FileError::NameTooLong, // ENAMETOOLONG
                Some(40) => FileError::NotFound,    // ELOOP
                _ => FileError::Io(e),
            },
        }
    }
}

impl FileError {
    fn into_response(self) -> Response {
        match self {
            FileError::NotFound => error_response(StatusCode::NOT_FOUND, "not found"),
            FileError::Forbidden => error_response(StatusCode::FORBIDDEN, "forbidden"),
            FileError::NameTooLong => error_response(StatusCode::URI_TOO_LONG, "name too long"),
            FileError::Unstable => {
                tracing::warn!("file kept changing while being read");
                error_response(StatusCode::SERVICE_UNAVAILABLE, "file is being modified")
            }
            FileError::Io(e) => {
                tracing::warn!(error = %e, "I/O error serving file");
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// Opens `root/rel` after checking that its canonical path lies under the canonical
/// `root` (symlinks may point anywhere inside the root, never outside). Returns the open
/// file and its metadata; directories and special files are [`FileError::NotFound`].
/// Blocking; call from `spawn_blocking`.
pub fn open_under(root: &Path, rel: &SafePath) -> Result<(std::fs::File, Metadata), FileError> {
    let joined = rel.join_to(root);
    let canonical = std::fs::canonicalize(&joined)?;
    if !canonical.starts_with(root) {
        tracing::warn!(path = %rel, target = %canonical.display(), "refusing path resolving outside the root");
        return Err(FileError::NotFound);
    }
    let file = std::fs::File::open(&canonical)?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(FileError::NotFound);
    }
    Ok((file, md))
}

enum Loaded {
    /// Same (len, mtime, inode) as the cached entry.
    Unchanged,
    /// Read whole (small file), and the open file.
    Whole(Metadata, Bytes, std::fs::File),
    /// Large file, to be streamed.
    Open(std::fs::File, Metadata),
}

fn load(
    root: &Path,
    rel: &SafePath,
    known: Option<(u64, SystemTime, u64)>,
    whole_max: u64,
) -> Result<Loaded, FileError> {
    for _ in 0..3 {
        let (mut file, md) = open_under(root, rel)?;
        let id = metadata_identity(&md);
        if known == Some(id) {
            return Ok(Loaded::Unchanged);
        }
        if md.len() > whole_max {
            return Ok(Loaded::Open(file, md));
        }
        let mut buf = Vec::with_capacity(md.len() as usize);
        (&mut file).take(md.len() + 1).read_to_end(&mut buf)?;
        let after = file.metadata()?;
        if buf.len() as u64 == md.len() && metadata_identity(&after) == id {
            return Ok(Loaded::Whole(md, Bytes::from(buf), file));
        }
    }
    Err(FileError::Unstable)
}

/// Bodies of at least this many bytes are marked for `sendfile(2)` ([`serve::direct`]):
/// on an HTTP/1.1 connection they go from the page cache to the socket without being
/// copied from user memory; smaller ones are written from the hot cache's `Bytes` (one
/// `writev` with the head). The gain of `sendfile` is the copy it saves, which grows with
/// the body, while it costs a second system call (head, then file). Measured at 64 KiB
/// (`OBJECTS=seg64k.m4s origin/bench/origin_vs_nginx.sh`, 3 × 5 s, medians, load ~5):
/// 0.30 CPU s/GB with `sendfile` against 0.39 through hyper's `writev`, so the threshold
/// is not above 64 KiB; below it was not measured. More in `origin/bench/README.md`.
pub const SENDFILE_MIN_BYTES: u64 = 64 * 1024;

/// What the response body comes from.
enum Source {
    /// The hot cache's bytes, and the open file they were read from (large files only).
    Memory(Bytes, Option<Arc<std::fs::File>>),
    /// An open file and the read buffer size to stream it with.
    Disk(std::fs::File, usize),
}

/// The fallback handler: serves files from the content root (and `/web/` from the web
/// root when configured). `OPTIONS` never reaches it (answered by the CORS layer).
pub async fn serve_file(State(state): State<OriginState>, req: Request) -> Response {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed();
    }
    let safe = match path::sanitize(req.uri().path()) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(path = req.uri().path(), error = %e, "rejected path");
            return error_response(e.status(), &e.to_string());
        }
    };
    let (root, rel) = state.mount(&safe);
    if rel.is_dir_request() {
        return error_response(StatusCode::NOT_FOUND, "not found");
    }
    let key = safe.as_str();
    let cache = state.cache();
    let metrics = state.metrics();

    let cached = cache.get(key);
    if let Some((entry, true)) = &cached {
        metrics.hot_hits.inc();
        return respond(
            req.method(),
            req.headers(),
            &entry.info,
            Source::Memory(entry.data.clone(), entry.file.clone()),
        );
    }
    let known = cached.as_ref().map(|(e, _)| e.info.identity());
    let whole_max = state.whole_file_max();
    let root_owned: PathBuf = root.to_path_buf();
    let rel_owned: SafePath = rel.clone().into_owned();
    let loaded =
        tokio::task::spawn_blocking(move || load(&root_owned, &rel_owned, known, whole_max))
            .await
            .unwrap_or_else(|e| Err(FileError::Io(io::Error::other(e))));
    match loaded {
        Ok(Loaded::Unchanged) => {
            let (entry, _) = cached.expect("Unchanged only with a cached entry");
            cache.touch(&entry);
            metrics.hot_hits.inc();
            respond(
                req.method(),
                req.headers(),
                &entry.info,
                Source::Memory(entry.data.clone(), entry.file.clone()),
            )
        }
        Ok(Loaded::Whole(md, data, file)) => {
            metrics.hot_misses.inc();
            let info = state.file_info(&md, rel.as_str());
            let file = (md.len() >= SENDFILE_MIN_BYTES).then(|| Arc::new(file));
            let (entry, used) = cache.insert_with_file(key, info, data, file);
            metrics.hot_bytes.set(used as i64);
            respond(
                req.method(),
                req.headers(),
                &entry.info,
                Source::Memory(entry.data.clone(), entry.file.clone()),
            )
        }
        Ok(Loaded::Open(file, md)) => {
            metrics.hot_misses.inc();
            if cached.is_some() {
                metrics.hot_bytes.set(cache.remove(key) as i64);
            }
            let info = state.file_info(&md, rel.as_str());
            let src = Source::Disk(file, state.config().stream_buffer_bytes);
            respond(req.method(), req.headers(), &info, src)
        }
        Err(e) => {
            if cached.is_some() {
                metrics.hot_bytes.set(cache.remove(key) as i64);
            }
            e.into_response()
        }
    }
}

fn respond(method: &Method, req_headers: &HeaderMap, info: &FileInfo, src: Source) -> Response {
    let validators = info.validators();
    let mut res = Response::new(Body::empty());
    {
        let h = res.headers_mut();
        h.insert(header::ETAG, info.etag.clone());
        h.insert(header::LAST_MODIFIED, info.last_modified.clone());
        h.insert(header::CACHE_CONTROL, info.cache_control.clone());
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    match conditional::evaluate(method, req_headers, &validators) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            return res;
        }
        Precondition::Failed => {
            let mut failed = error_response(StatusCode::PRECONDITION_FAILED, "precondition failed");
            failed.headers_mut().insert(header::ETAG, info.etag.clone());
            return failed;
        }
    }
    let len = info.len;
    let range = match req_headers.get(header::RANGE) {
        Some(r) if conditional::if_range_allows(req_headers, &validators) => {
            range::parse(Some(r.as_bytes()), len)
        }
        _ => ByteRange::Ignore,
    };
    let (start, count) = match range {
        ByteRange::Satisfiable(s, e) => {
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&range::content_range(s, e, len)).expect("ascii"),
            );
            (s, e - s + 1)
        }
        ByteRange::Unsatisfiable => {
            let mut r = error_response(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&range::unsatisfied_content_range(len)).expect("ascii"),
            );
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            h.insert(header::ETAG, info.etag.clone());
            return r;
        }
        ByteRange::Ignore => (0, len),
    };
    {
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, info.content_type.clone());
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    }
    if method == Method::HEAD {
        return res;
    }
    let sendfile = match &src {
        Source::Memory(_, Some(file)) if count >= SENDFILE_MIN_BYTES => Some(file.clone()),
        Source::Disk(file, _) if count >= SENDFILE_MIN_BYTES => file.try_clone().ok().map(Arc::new),
        _ => None,
    };
    if let Some(file) = sendfile {
        res.extensions_mut()
            .insert(serve::direct::SendFile::new(file, start, count));
    }
    *res.body_mut() = match src {
        Source::Memory(data, _) => {
            if start == 0 && count == data.len() as u64 {
                Body::from(data)
            } else {
                Body::from(data.slice(start as usize..(start + count) as usize))
            }
        }
        Source::Disk(mut file, buffer) => {
            if start > 0 {
                if let Err(e) = file.seek(SeekFrom::Start(start)) {
                    return FileError::Io(e).into_response();
                }
            }
            let file = tokio::fs::File::from_std(file);
            use tokio::io::AsyncReadExt;
            Body::from_stream(ReaderStream::with_capacity(
                file.take(count),
                buffer.max(4096),
            ))
        }
    };
    res
}

/// `405` with `Allow: GET, HEAD, OPTIONS`.
pub fn method_not_allowed() -> Response {
    let mut res = error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    res.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static(serve::http::cors::ALLOW_METHODS),
    );
    res
}

/// A short `text/plain` error response: `"<code> <message>\n"`.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    let body = format!("{} {message}\n", status.as_u16());
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
