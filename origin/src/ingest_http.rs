//! The HTTP side of push ingest: the handler of `PUT`, `POST` and `DELETE` under the
//! ingest prefix, over the store and the rules of [`crate::ingest`] (which the origin's
//! state holds; this module is apart so that the store does not depend on the state).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use futures::StreamExt;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use tokio::io::AsyncWriteExt;

use crate::files::error_response;
use crate::growing::GrowingWriter;
use crate::ingest::{authorize, init_kind, target, Admission, Auth, Ingest, SNIFF_BYTES};
use crate::state::OriginState;

/// The handler of `PUT`, `POST` and `DELETE` under the ingest prefix (see the module
/// docs for the flow and statuses).
pub async fn handle(State(state): State<OriginState>, req: Request) -> Response {
    // In a task of its own: hyper drops a request's future when its connection closes,
    // and a finished upload, a DELETE or a temp file's removal must not be cut short by
    // a client that hung up right after sending (ffmpeg does, at exit).
    let method = req.method().clone();
    let task = tokio::spawn(async move {
        let res = process(&state, req).await;
        let outcome = outcome(&method, res.status());
        state
            .metrics()
            .ingest_requests
            .get_or_create(&crate::metrics::IngestLabels { outcome })
            .inc();
        res
    });
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "ingest task failed");
        error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })
}

/// The `outcome` label of an ingest request's answer.
pub fn outcome(method: &Method, status: StatusCode) -> &'static str {
    match (status, *method == Method::DELETE) {
        (StatusCode::CREATED, _) => "stored",
        (StatusCode::NO_CONTENT, false) => "replaced",
        (StatusCode::NO_CONTENT, true) => "deleted",
        (StatusCode::UNAUTHORIZED, _) => "unauthorized",
        (StatusCode::FORBIDDEN, _) => "forbidden",
        (StatusCode::PAYLOAD_TOO_LARGE, _) => "too_large",
        (StatusCode::INSUFFICIENT_STORAGE, _) => "full",
        (StatusCode::NOT_FOUND, _) => "not_found",
        (s, _) if s.is_client_error() => "bad_request",
        _ => "error",
    }
}

async fn process(state: &OriginState, req: Request) -> Response {
    let Some(ingest) = state.ingest() else {
        return crate::files::method_not_allowed();
    };
    match authorize(req.headers().get(header::AUTHORIZATION), &ingest.token) {
        Auth::Granted => {}
        Auth::Missing => {
            let mut res = error_response(StatusCode::UNAUTHORIZED, "bearer token required");
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"dashcdn-ingest\""),
            );
            return res;
        }
        Auth::Wrong => {
            tracing::warn!(path = req.uri().path(), "ingest refused: wrong token");
            return error_response(StatusCode::FORBIDDEN, "wrong ingest token");
        }
    }
    let safe = match serve::path::sanitize(req.uri().path()) {
        Ok(p) => p,
        Err(e) => return error_response(e.status(), &e.to_string()),
    };
    let Some(rel) = safe.strip_first_segment(&ingest.config.prefix) else {
        return error_response(StatusCode::NOT_FOUND, "not found");
    };
    let Some((stream, object)) = target(&rel) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "ingest path must be /<prefix>/<stream>/<object>",
        );
    };
    let (stream, object) = (stream.to_string(), object.to_string());
    let key = safe.as_str().to_string();
    let res = match *req.method() {
        Method::PUT | Method::POST => store(state, ingest, &stream, &object, &key, req).await,
        Method::DELETE => delete(ingest, &stream, &object).await,
        _ => crate::files::method_not_allowed(),
    };
    if res.status().is_success() {
        state
            .metrics()
            .hot_bytes
            .set(state.cache().remove(&key) as i64);
    }
    res
}

/// The file an object is stored in, after creating its directory and checking that
/// the directory resolves inside the ingest root (no symlink out).
async fn object_path(ingest: &Ingest, stream: &str, object: &str) -> io::Result<PathBuf> {
    let path = serve::path::sanitize(&format!("/{stream}/{object}"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
        .join_to(&ingest.root);
    let dir = path.parent().expect("joined under the root").to_path_buf();
    tokio::fs::create_dir_all(&dir).await?;
    let canonical = tokio::fs::canonicalize(&dir).await?;
    if !canonical.starts_with(&ingest.root) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "ingest directory resolves outside the ingest root",
        ));
    }
    Ok(canonical.join(path.file_name().expect("object has a name")))
}

async fn store(
    state: &OriginState,
    ingest: &Ingest,
    stream: &str,
    object: &str,
    key: &str,
    req: Request,
) -> Response {
    let len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let is_new = match ingest.reserve(stream, object, len) {
        Ok(new) => new,
        Err(Admission::TooLarge) => {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, "object too large")
        }
        Err(Admission::TooManyObjects) => {
            return error_response(
                StatusCode::INSUFFICIENT_STORAGE,
                "too many objects in stream",
            )
        }
        Err(_) => return error_response(StatusCode::INSUFFICIENT_STORAGE, "too many streams"),
    };
    let refuse = |res: Response| {
        if is_new {
            ingest.release(stream, object);
        }
        res
    };
    let path = match object_path(ingest, stream, object).await {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return refuse(error_response(StatusCode::FORBIDDEN, "forbidden"))
        }
        Err(e) => {
            tracing::warn!(stream, object, error = %e, "ingest: cannot create directory");
            return refuse(error_response(
                StatusCode::CONFLICT,
                "cannot store object here",
            ));
        }
    };
    let name = path
        .file_name()
        .expect("named")
        .to_string_lossy()
        .into_owned();
    let n = ingest.temp_counter.fetch_add(1, Ordering::Relaxed);
    let temp = path.with_file_name(format!(".{name}.{n}.part"));
    // A new object is relayed to readers while it grows (crate::growing); a replaced
    // one keeps serving its previous version until the new one is complete.
    let mut growing = if is_new {
        ingest.growing.begin(key, state.content_type_for(key))
    } else {
        None
    };
    let max = ingest.config.max_object_bytes;
    match receive(&temp, req.into_body(), max, growing.as_mut()).await {
        Ok((head, len)) => {
            if let Err(e) = tokio::fs::rename(&temp, &path).await {
                let _ = tokio::fs::remove_file(&temp).await;
                tracing::warn!(stream, object, error = %e, "ingest: rename failed");
                return refuse(error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store failed",
                ));
            }
            // The file is in place: readers of the growing object end, new ones read it.
            if let Some(g) = growing {
                g.complete();
            }
            state.metrics().ingest_bytes.inc_by(len);
            if let Some(kind) = init_kind(&head) {
                ingest.note_kind(object, stream, kind);
            }
            tracing::debug!(stream, object, new = is_new, "ingest: stored");
            let mut res = Response::new(Body::empty());
            *res.status_mut() = if is_new {
                StatusCode::CREATED
            } else {
                StatusCode::NO_CONTENT
            };
            res
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            let res = match e {
                Receive::TooLarge => {
                    error_response(StatusCode::PAYLOAD_TOO_LARGE, "object too large")
                }
                Receive::Body(e) => {
                    tracing::info!(stream, object, error = %e, "ingest: upload aborted, discarded");
                    error_response(StatusCode::BAD_REQUEST, "upload incomplete")
                }
                Receive::Io(e) => {
                    tracing::warn!(stream, object, error = %e, "ingest: write failed");
                    error_response(StatusCode::INTERNAL_SERVER_ERROR, "store failed")
                }
            };
            // A replaced object keeps its old version (and its slot).
            refuse(res)
        }
    }
}

enum Receive {
    TooLarge,
    Body(axum::Error),
    Io(io::Error),
}

/// Streams `body` into a new file at `temp`, at most `max` bytes; returns the first
/// [`SNIFF_BYTES`] of it and its length. Each chunk is also pushed to `growing` (when
/// the object is relayed while it grows), after it is written.
async fn receive(
    temp: &Path,
    body: Body,
    max: u64,
    mut growing: Option<&mut GrowingWriter>,
) -> Result<(Vec<u8>, u64), Receive> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .await
        .map_err(Receive::Io)?;
    let mut head = Vec::new();
    let mut total = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Receive::Body)?;
        total += chunk.len() as u64;
        if total > max {
            return Err(Receive::TooLarge);
        }
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        file.write_all(&chunk).await.map_err(Receive::Io)?;
        if let Some(g) = growing.as_deref_mut() {
            g.push(chunk);
        }
    }
    file.flush().await.map_err(Receive::Io)?;
    Ok((head, total))
}

async fn delete(ingest: &Ingest, stream: &str, object: &str) -> Response {
    let path =
        serve::path::sanitize(&format!("/{stream}/{object}")).map(|p| p.join_to(&ingest.root));
    let Ok(path) = path else {
        return error_response(StatusCode::BAD_REQUEST, "bad path");
    };
    // The parent must resolve inside the root (a symlinked directory is refused).
    let inside = match tokio::fs::canonicalize(path.parent().expect("under root")).await {
        Ok(dir) => dir.starts_with(&ingest.root),
        Err(_) => false,
    };
    if !inside {
        return error_response(StatusCode::NOT_FOUND, "not found");
    }
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {
            ingest.release(stream, object);
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            res
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            ingest.release(stream, object);
            error_response(StatusCode::NOT_FOUND, "not found")
        }
        Err(e) => {
            tracing::warn!(stream, object, error = %e, "ingest: delete failed");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "delete failed")
        }
    }
}

/// `GET`/`HEAD` under the ingest prefix: a new object still being uploaded is streamed
/// as it grows ([`crate::growing`]): `200` without a length (chunked transfer coding),
/// each chunk sent as soon as it arrives, the end when the upload completes and an
/// error (a cut response) when it is aborted. Anything else is an ordinary file.
pub async fn read(State(state): State<OriginState>, req: Request) -> Response {
    let growing = match (state.ingest(), serve::path::sanitize(req.uri().path())) {
        (Some(ingest), Ok(safe)) if matches!(*req.method(), Method::GET | Method::HEAD) => {
            ingest.growing.get(safe.as_str()).map(|g| (g, safe))
        }
        _ => None,
    };
    let Some((object, safe)) = growing else {
        return crate::files::serve_file(State(state), req).await;
    };
    let body = if req.method() == Method::HEAD {
        Body::empty()
    } else {
        state.metrics().growing_reads.inc();
        Body::from_stream(object.clone().stream())
    };
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(object.content_type()),
    );
    if let Ok(cc) = HeaderValue::from_str(state.cache_control_for(safe.as_str())) {
        h.insert(header::CACHE_CONTROL, cc);
    }
    tracing::debug!(
        path = safe.as_str(),
        have = object.len(),
        "ingest: growing object read"
    );
    res
}
