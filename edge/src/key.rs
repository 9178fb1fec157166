//! The cache key: what one stored object is filed under, and what its fill fetches.
//!
//! A [`CacheKey`] is built from the raw request target once, before anything is looked up
//! or fetched:
//!
//! - the **normalized path** from [`serve::path::sanitize`] (percent-decoded; dot segments,
//!   encoded slashes, empty segments and hidden names refused with `400`/`404`), so every
//!   spelling of one file (`/default/v%37/1.m4s`, `/default/v7/1.m4s`) is one object and no
//!   request can name anything outside the content tree;
//! - **the query**, always for general content (RFC 9111 §2: the key is the target URI;
//!   different queries are different resources), but for DASH segments and MPDs
//!   ([`serve::CacheClass`]) only when `cache_query` is on (`/a.m4s?token=1`). DASH
//!   segments do not depend on the query, and players and CDNs append session tokens and
//!   cache busters to it; keying on it by default would store one copy per viewer. When the
//!   query is in the key it is *also* forwarded upstream, so a stored object always answers
//!   exactly the request that filled it.
//!
//! The upstream request is built from the same parts ([`CacheKey::path`],
//! [`CacheKey::query`]), never from the raw request, so the key and the fetched object
//! cannot disagree. `PURGE /path` removes the key without query and all its query variants
//! ([`CacheKey::variants_prefix`]), and with them the `Vary` variants
//! ([`CacheKey::variant`]: `path?[query]#v=<digest>`; `#` never reaches a server in a
//! request target, so no request key can collide with a variant key).

use std::fmt;

use http::StatusCode;

/// Key of one cached object: the normalized path, plus `?query` with `cache_query` (see the
/// module docs for why).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// `path` or `path?query`, the string the [`cache`] stores it under.
    key: String,
    /// Length of the path part of `key`.
    path_len: usize,
    /// End of the query part of `key` (a variant key continues with `#v=...`).
    query_end: usize,
}

impl CacheKey {
    /// The key of a request for `raw_path` (as received, percent-encoded) with `query`.
    /// A non-empty query is kept for general content, and for DASH segments and MPDs only
    /// when `cache_query` is true. Fails with
    /// the status to answer when the path is refused by [`serve::path::sanitize`].
    pub fn from_request(
        raw_path: &str,
        query: Option<&str>,
        cache_query: bool,
    ) -> Result<CacheKey, StatusCode> {
        let safe = serve::path::sanitize(raw_path).map_err(|e| e.status())?;
        let mut key = safe.to_string();
        let path_len = key.len();
        let keep = cache_query || serve::CacheClass::of(&key) == serve::CacheClass::Other;
        if let Some(q) = query.filter(|q| keep && !q.is_empty()) {
            key.push('?');
            key.push_str(q);
        }
        Ok(CacheKey {
            query_end: key.len(),
            key,
            path_len,
        })
    }

    /// The key of a path that is already normalized (as produced by
    /// [`CacheKey::from_request`]; e.g. the next segments prefetch derives from one), without
    /// a query.
    pub(crate) fn from_normalized_path(path: String) -> CacheKey {
        CacheKey {
            path_len: path.len(),
            query_end: path.len(),
            key: path,
        }
    }

    /// The whole key (`path` or `path?query`).
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The normalized path (starts with `/`), which is what is fetched upstream.
    pub fn path(&self) -> &str {
        &self.key[..self.path_len]
    }

    /// The query forwarded upstream (the one in the key).
    pub fn query(&self) -> Option<&str> {
        self.key
            .get(self.path_len + 1..self.query_end)
            .filter(|q| !q.is_empty())
    }

    /// The key of the `Vary` variant with selecting-header `digest` (see
    /// [`crate::vary`]); same path and query, so its fill fetches the same URL.
    pub fn variant(&self, digest: u64) -> CacheKey {
        let base = &self.key[..self.query_end];
        let sep = if self.query_end == self.path_len {
            "?"
        } else {
            ""
        };
        CacheKey {
            key: format!("{base}{sep}#v={digest:016x}"),
            path_len: self.path_len,
            query_end: self.query_end + sep.len(),
        }
    }

    /// The prefix every query variant of this key's path starts with (`path?`).
    pub fn variants_prefix(&self) -> String {
        format!("{}?", self.path())
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(k: &CacheKey) -> (&str, &str, Option<&str>) {
        (k.as_str(), k.path(), k.query())
    }

    #[test]
    fn keys() {
        let k = CacheKey::from_request("/default/v720/1.m4s", Some("a=1"), false).unwrap();
        assert_eq!(
            parts(&k),
            ("/default/v720/1.m4s", "/default/v720/1.m4s", None)
        );
        let k = CacheKey::from_request("/default/v720/1.m4s", Some("a=1"), true).unwrap();
        assert_eq!(
            parts(&k),
            (
                "/default/v720/1.m4s?a=1",
                "/default/v720/1.m4s",
                Some("a=1")
            )
        );
        assert_eq!(k.variants_prefix(), "/default/v720/1.m4s?");
        let k = CacheKey::from_request("/default/v720/1.m4s", Some(""), true).unwrap();
        assert_eq!(k.query(), None);
        // general content: the query is part of the key whatever `cache_query` says
        let g = CacheKey::from_request("/api/x", Some("a=1"), false).unwrap();
        assert_eq!((g.as_str(), g.query()), ("/api/x?a=1", Some("a=1")));
        assert_eq!(
            CacheKey::from_request("/default/v%37/1.m4s", None, false)
                .unwrap()
                .as_str(),
            "/default/v7/1.m4s"
        );
        assert_eq!(
            CacheKey::from_request("/../etc/passwd", None, false),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            CacheKey::from_request("/a/%2e%2e/b", None, false),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            CacheKey::from_request("/.git/x", None, false),
            Err(StatusCode::NOT_FOUND)
        );
        let v = CacheKey::from_request("/default/v720/1.m4s", Some("a=1"), true)
            .unwrap()
            .variant(0xab);
        assert_eq!(v.as_str(), "/default/v720/1.m4s?a=1#v=00000000000000ab");
        assert_eq!((v.path(), v.query()), ("/default/v720/1.m4s", Some("a=1")));
        let plain = CacheKey::from_request("/x", None, false)
            .unwrap()
            .variant(1);
        assert_eq!(plain.as_str(), "/x?#v=0000000000000001");
        assert_eq!((plain.path(), plain.query()), ("/x", None));
        assert!(plain.as_str().starts_with(&plain.variants_prefix()));
        let p = CacheKey::from_normalized_path("/default/v720/2.m4s".into());
        assert_eq!(
            parts(&p),
            ("/default/v720/2.m4s", "/default/v720/2.m4s", None)
        );
    }
}
