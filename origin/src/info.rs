//! What the origin knows about one version of a served file: length, modification time
//! and inode (its identity), and the header values computed once from them (strong
//! `ETag`, `Last-Modified`, `Content-Type`, `Cache-Control`). Shared by the file path
//! ([`crate::files`]) and the hot cache ([`crate::cache`]).

use std::time::{SystemTime, UNIX_EPOCH};

use http::header::HeaderValue;
use serve::http::conditional::Validators;

/// Validators and precomputed header values of one file version.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// File length in bytes.
    pub len: u64,
    /// Modification time.
    pub modified: SystemTime,
    /// Inode number (0 where unknown).
    pub ino: u64,
    /// Strong ETag, quoted hex `"len-mtimenanos-inode"`.
    pub etag: HeaderValue,
    /// `Last-Modified` value.
    pub last_modified: HeaderValue,
    /// `Content-Type`: [`manifests::layout::mime_for_path`], or a media segment's by its
    /// representation's kind ([`crate::kinds`]).
    pub content_type: HeaderValue,
    /// `Cache-Control` value for this kind of file.
    pub cache_control: HeaderValue,
}

impl FileInfo {
    /// The same with another `Content-Type` (a media segment's, which its name alone
    /// does not give).
    pub fn with_content_type(mut self, content_type: &'static str) -> FileInfo {
        self.content_type = HeaderValue::from_static(content_type);
        self
    }

    /// Builds the validators of a file of `len` bytes modified at `modified` with inode
    /// `ino`, served at request path `path` with `cache_control`.
    pub fn new(
        len: u64,
        modified: SystemTime,
        ino: u64,
        path: &str,
        cache_control: &str,
    ) -> FileInfo {
        let nanos = modified
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let etag = format!("\"{len:x}-{nanos:x}-{ino:x}\"");
        FileInfo {
            len,
            modified,
            ino,
            etag: HeaderValue::from_str(&etag).expect("hex etag is a valid header value"),
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(modified))
                .expect("http date is a valid header value"),
            content_type: HeaderValue::from_static(manifests::layout::mime_for_path(path)),
            cache_control: HeaderValue::from_str(cache_control)
                .unwrap_or_else(|_| HeaderValue::from_static("no-cache")),
        }
    }

    /// The identity compared on revalidation: (len, mtime, inode).
    pub fn identity(&self) -> (u64, SystemTime, u64) {
        (self.len, self.modified, self.ino)
    }

    /// The validators [`conditional`](serve::http::conditional) compares requests with.
    pub fn validators(&self) -> Validators<'_> {
        Validators {
            etag: self.etag.to_str().ok(),
            last_modified: Some(self.modified),
        }
    }
}
