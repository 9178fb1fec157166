//! Request path → safe relative path under a content root.
//!
//! [`sanitize`] works on the *raw* request path exactly as it arrived on the wire (no
//! prior normalisation) and rejects anything that could name a file outside the root:
//! `.`/`..` segments (raw or percent-encoded), encoded slashes and backslashes, NUL and
//! other control bytes, `:` (drive letters, alternate data streams), empty segments
//! (`//`), invalid UTF-8 and, by policy, hidden `.`-prefixed segments.
//!
//! This check is purely lexical. Symlinks are handled by the caller, which must
//! canonicalize the joined path and verify it still lies under the canonical root
//! (the origin's `files::resolve` does; the edge and the redirector never touch a file
//! system and use the result as a cache key or an upstream path).

use std::fmt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

/// Longest raw request path accepted (bytes). Longer paths get `414 URI Too Long`.
pub const MAX_PATH_LEN: usize = 2048;

/// A request path that passed [`sanitize`]: zero or more clean segments joined by `/`,
/// relative (no leading slash), plus whether the request ended in `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafePath {
    rel: String,
    trailing_slash: bool,
}

impl SafePath {
    /// The relative path, segments joined by `/` (empty for the root `/`).
    pub fn as_str(&self) -> &str {
        &self.rel
    }

    /// True for `/` and for paths ending in `/` (directory requests).
    pub fn is_dir_request(&self) -> bool {
        self.trailing_slash || self.rel.is_empty()
    }

    /// Iterator over the decoded segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.rel.split('/').filter(|s| !s.is_empty())
    }

    /// Returns the path with its first segment removed if that segment equals `prefix`
    /// (used to mount a second root, e.g. `/web/...`).
    pub fn strip_first_segment(&self, prefix: &str) -> Option<SafePath> {
        let rest = if self.rel == prefix {
            ""
        } else {
            self.rel.strip_prefix(prefix)?.strip_prefix('/')?
        };
        Some(SafePath {
            rel: rest.to_owned(),
            trailing_slash: self.trailing_slash || rest.is_empty(),
        })
    }

    /// `root` joined with every segment (never escapes `root` lexically).
    pub fn join_to(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for s in self.segments() {
            p.push(s);
        }
        p
    }
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.rel)?;
        if self.trailing_slash && !self.rel.is_empty() {
            f.write_str("/")?;
        }
        Ok(())
    }
}

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/` (e.g. absolute-form or `*`).
    #[error("path must start with '/'")]
    NotAbsolute,
    /// Longer than [`MAX_PATH_LEN`].
    #[error("path too long")]
    TooLong,
    /// A `.` or `..` segment, raw or percent-encoded.
    #[error("dot segment in path")]
    DotSegment,
    /// `%2f` / `%5c` (encoded `/` or `\`) or a raw backslash.
    #[error("encoded or backslash separator in path")]
    Separator,
    /// NUL or another control character.
    #[error("control character in path")]
    ControlChar,
    /// A `:` anywhere (drive letters, `C:`, alternate streams).
    #[error("colon in path")]
    Colon,
    /// An empty segment (`//`) other than a single trailing slash.
    #[error("empty path segment")]
    EmptySegment,
    /// Bad percent-encoding result (not UTF-8).
    #[error("path is not valid UTF-8")]
    InvalidUtf8,
    /// A hidden (`.`-prefixed) segment; reported as 404 so it does not reveal anything.
    #[error("hidden path segment")]
    Hidden,
}

impl PathError {
    /// HTTP status this error should be answered with (400, 404 or 414).
    pub fn status(self) -> http::StatusCode {
        match self {
            PathError::Hidden => http::StatusCode::NOT_FOUND,
            PathError::TooLong => http::StatusCode::URI_TOO_LONG,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// Validates a raw request path (without the query string) and returns its decoded,
/// relative form. See the module docs for the rules.
pub fn sanitize(raw: &str) -> Result<SafePath, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    if rest.is_empty() {
        return Ok(SafePath {
            rel: String::new(),
            trailing_slash: true,
        });
    }
    let (body, trailing_slash) = match rest.strip_suffix('/') {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let mut rel = String::with_capacity(body.len());
    for raw_seg in body.split('/') {
        if raw_seg.is_empty() {
            return Err(PathError::EmptySegment);
        }
        check_raw_segment(raw_seg)?;
        let decoded = percent_decode_str(raw_seg)
            .decode_utf8()
            .map_err(|_| PathError::InvalidUtf8)?;
        check_decoded_segment(&decoded)?;
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(&decoded);
    }
    Ok(SafePath {
        rel,
        trailing_slash,
    })
}

fn check_raw_segment(seg: &str) -> Result<(), PathError> {
    let b = seg.as_bytes();
    for w in b.windows(3) {
        if w[0] == b'%' {
            let hex = [w[1].to_ascii_lowercase(), w[2].to_ascii_lowercase()];
            if &hex == b"2f" || &hex == b"5c" {
                return Err(PathError::Separator);
            }
        }
    }
    Ok(())
}

fn check_decoded_segment(seg: &str) -> Result<(), PathError> {
    if seg == "." || seg == ".." {
        return Err(PathError::DotSegment);
    }
    for c in seg.chars() {
        match c {
            '/' | '\\' => return Err(PathError::Separator),
            ':' => return Err(PathError::Colon),
            c if c.is_control() => return Err(PathError::ControlChar),
            _ => {}
        }
    }
    if seg.starts_with('.') {
        return Err(PathError::Hidden);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        sanitize(raw).unwrap().as_str().to_owned()
    }

    #[test]
    fn accepts_normal_paths() {
        assert_eq!(ok("/default/manifest.mpd"), "default/manifest.mpd");
        assert_eq!(ok("/default/v720/12.m4s"), "default/v720/12.m4s");
        assert_eq!(ok("/a%20b/c.txt"), "a b/c.txt");
        assert_eq!(ok("/x..y/a...b"), "x..y/a...b");
        assert!(sanitize("/").unwrap().is_dir_request());
        let d = sanitize("/default/").unwrap();
        assert!(d.is_dir_request());
        assert_eq!(d.as_str(), "default");
        assert!(!sanitize("/default").unwrap().is_dir_request());
    }

    #[test]
    fn rejects_dot_segments() {
        for p in [
            "/..",
            "/../etc/passwd",
            "/a/../b",
            "/a/..",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/%2E./x",
            "/.%2e/x",
            "/./a",
            "/a/%2e/b",
        ] {
            assert_eq!(sanitize(p), Err(PathError::DotSegment), "{p}");
        }
    }

    #[test]
    fn rejects_separators_and_controls() {
        assert_eq!(sanitize("/a%2fb"), Err(PathError::Separator));
        assert_eq!(sanitize("/a%2F..%2Fb"), Err(PathError::Separator));
        assert_eq!(sanitize("/a%5cb"), Err(PathError::Separator));
        assert_eq!(sanitize("/a\\b"), Err(PathError::Separator));
        assert_eq!(sanitize("/..%5c..%5cx"), Err(PathError::Separator));
        assert_eq!(sanitize("/a%00b"), Err(PathError::ControlChar));
        assert_eq!(sanitize("/a%0ab"), Err(PathError::ControlChar));
        assert_eq!(sanitize("/C:/Windows"), Err(PathError::Colon));
        assert_eq!(sanitize("/c%3a/x"), Err(PathError::Colon));
        assert_eq!(sanitize("//etc/passwd"), Err(PathError::EmptySegment));
        assert_eq!(sanitize("/a//b"), Err(PathError::EmptySegment));
        assert_eq!(sanitize("etc/passwd"), Err(PathError::NotAbsolute));
        assert_eq!(sanitize("/%ff"), Err(PathError::InvalidUtf8));
        assert_eq!(sanitize("/.git/config"), Err(PathError::Hidden));
        assert_eq!(sanitize("/a/.env"), Err(PathError::Hidden));
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert_eq!(sanitize(&long), Err(PathError::TooLong));
    }

    #[test]
    fn statuses() {
        assert_eq!(PathError::Hidden.status(), 404);
        assert_eq!(PathError::DotSegment.status(), 400);
        assert_eq!(PathError::TooLong.status(), 414);
    }

    #[test]
    fn strip_mount() {
        let p = sanitize("/web/player.js").unwrap();
        assert_eq!(p.strip_first_segment("web").unwrap().as_str(), "player.js");
        assert!(sanitize("/webx/a")
            .unwrap()
            .strip_first_segment("web")
            .is_none());
        assert!(sanitize("/web")
            .unwrap()
            .strip_first_segment("web")
            .unwrap()
            .is_dir_request());
        assert_eq!(
            p.join_to(Path::new("/r")),
            PathBuf::from("/r/web/player.js")
        );
    }
}
