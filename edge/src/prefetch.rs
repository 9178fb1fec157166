//! Prefetch: fill, in the background, the object a player will ask for next, so that its
//! request is a hit. Two sources, counted apart (`dashcdn_edge_prefetch_fills_total` and
//! `dashcdn_edge_prefetch_hits_total`, label `source`):
//!
//! - **`nor`**: the player says which object it will request next (CMCD `nor`, a URL
//!   relative to the request's). With `prefetch_hints` (on by default) the edge fetches
//!   exactly that object ([`hint`]), and does not guess. Followed even with `prefetch = 0`:
//!   the hint costs one fetch of an object the player announced, so it is not a bet on
//!   upstream bandwidth the way guessing N segments ahead is (and it follows a player that
//!   switches representation, where `k+1` in the old one is wasted). A hint is refused and
//!   counted (`dashcdn_edge_cmcd_nor_rejected_total`) when it is absolute (`http://…`,
//!   `//host/…`), climbs above the root, carries a query, fails [`serve::path::sanitize`],
//!   is over 1 KiB, or names anything but a media or init segment (immutable objects; a
//!   manifest is not worth it and other paths would let a client make the edge fetch
//!   arbitrary URLs). `nrr` (the next byte range) needs nothing more: fills fetch whole
//!   objects, so a `nor` with `nrr` is served by fetching `nor`, and an `nrr` without
//!   `nor` is a range of the object being requested, already fetched whole.
//! - **`guess`**: without a hint, with `prefetch = N`, a request for media segment `k` of
//!   a representation (`.../<rep>/<k>.m4s`, parsed with
//!   [`manifests::layout::parse_media_path`]) fills segments `k+1..=k+N` in order, stopping
//!   at the first the upstream does not answer with `2xx` (the end answers `404`).
//!
//! Both go through the same fill locks as client misses (an object being fetched is never
//! fetched twice). A *hit* is a client request that finds stored an object a prefetch
//! stored before any client asked for it ([`Pending`]); a client that arrives while the
//! prefetch is still in flight joins that fill and is not counted.

use std::sync::atomic::Ordering;

use cache::Acquire;
use cmcd::Cmcd;

use crate::fill::{self, FillJob, Purpose};
use crate::key::CacheKey;
pub use crate::prefetch_pending::{Pending, Source, MAX_PENDING};
use crate::state::EdgeState;

/// Hint fetches in flight at once; further hints are skipped.
pub const MAX_HINT_FETCHES: usize = 64;

/// What to do with a request's `nor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// No `nor`.
    None,
    /// Fetch this normalized path.
    Fetch(String),
    /// Refused (see the module docs).
    Rejected,
}

/// The object `c`'s `nor` names, resolved against `request_path` (already normalized),
/// or why not. Pure.
pub fn hint(c: &Cmcd, request_path: &str) -> Hint {
    if c.nor.is_none() {
        return Hint::None;
    }
    let Some(resolved) = c.resolve_nor(request_path) else {
        return Hint::Rejected;
    };
    let Ok(key) = CacheKey::from_request(&resolved, None, false) else {
        return Hint::Rejected;
    };
    if serve::CacheClass::of(key.path()) != serve::CacheClass::Segment {
        return Hint::Rejected;
    }
    if key.path() == request_path {
        return Hint::None;
    }
    Hint::Fetch(key.path().to_owned())
}

/// The paths of the `n` media segments after the one at `path`, or `None` if `path` is
/// not a media segment.
pub fn next_segments(path: &str, n: u32) -> Option<Vec<String>> {
    let (_rep, k) = manifests::layout::parse_media_path(path)?;
    let dir = &path[..path.rfind('/')? + 1];
    Some(
        (1..=u64::from(n))
            .map(|i| format!("{dir}{}.{}", k + i, manifests::layout::MEDIA_SEGMENT_EXT))
            .collect(),
    )
}

/// Credits a prefetch hit when a client request for `key` is answered from the store.
pub fn client_request(state: &EdgeState, key: &str, found: bool) {
    if let Some(source) = state.inner.prefetched.client_request(key, found) {
        state
            .inner
            .metrics
            .prefetch_hits
            .get_or_create(&source.labels())
            .inc();
    }
}

/// Starts the prefetch a request for `path` (normalized) with CMCD `cmcd` calls for: the
/// `nor` hint when there is one (and `prefetch_hints` is on), else the `prefetch = N`
/// guess.
pub fn maybe_start(state: &EdgeState, path: &str, cmcd: Option<&Cmcd>) {
    let cfg = state.config();
    if let Some(c) = cmcd.filter(|_| cfg.prefetch_hints) {
        match hint(c, path) {
            Hint::Fetch(p) => {
                let pending = &state.inner.prefetched;
                if pending.hint_fetches.fetch_add(1, Ordering::Relaxed) >= MAX_HINT_FETCHES {
                    pending.hint_fetches.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                let state = state.clone();
                tokio::spawn(async move {
                    fetch(&state, vec![p], Source::Nor).await;
                    state
                        .inner
                        .prefetched
                        .hint_fetches
                        .fetch_sub(1, Ordering::Relaxed);
                });
                return;
            }
            Hint::Rejected => {
                state.inner.metrics.cmcd_nor_rejected.inc();
            }
            Hint::None => {}
        }
    }
    let n = cfg.prefetch;
    if n == 0 {
        return;
    }
    let Some(paths) = next_segments(path, n) else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move { fetch(&state, paths, Source::Guess).await });
}

/// Fills `paths` in order, skipping stored or in-flight ones, stopping at the first
/// failure.
async fn fetch(state: &EdgeState, paths: Vec<String>, source: Source) {
    for p in paths {
        let key = CacheKey::from_normalized_path(p);
        if state.lookup(&key).await.is_some() {
            continue;
        }
        let Acquire::Leader(writer) = state.inner.locks.acquire(key.as_str()) else {
            continue; // already being fetched
        };
        let m = &state.inner.metrics;
        m.prefetches.inc();
        m.prefetch_fills.get_or_create(&source.labels()).inc();
        state.inner.prefetched.started(key.as_str(), source);
        let job = FillJob {
            key: key.clone(),
            cached: None,
            purpose: Purpose::Prefetch,
            request_headers: http::HeaderMap::new(),
        };
        let ok = matches!(fill::run(state.clone(), job, writer).await, Some(s) if s.is_success());
        state.inner.prefetched.finished(key.as_str(), ok);
        if !ok {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths() {
        assert_eq!(
            next_segments("/default/v720/7.m4s", 2).unwrap(),
            vec!["/default/v720/8.m4s", "/default/v720/9.m4s"]
        );
        assert_eq!(next_segments("/default/v720/init.mp4", 2), None);
        assert_eq!(next_segments("/default/manifest.mpd", 2), None);
    }

    #[test]
    fn nor_hints_resolve_or_are_refused() {
        let c = |nor: &str| Cmcd {
            nor: Some(nor.into()),
            ..Default::default()
        };
        let here = "/default/v720/7.m4s";
        assert_eq!(hint(&Cmcd::default(), here), Hint::None);
        assert_eq!(
            hint(&c("8.m4s"), here),
            Hint::Fetch("/default/v720/8.m4s".into())
        );
        assert_eq!(
            hint(&c("../v360/8.m4s"), here),
            Hint::Fetch("/default/v360/8.m4s".into())
        );
        assert_eq!(
            hint(&c("../a128/init.m4a"), here),
            Hint::Fetch("/default/a128/init.m4a".into())
        );
        assert_eq!(hint(&c("7.m4s"), here), Hint::None, "itself");
        for hostile in [
            "http://other.example/default/v720/8.m4s",
            "//other.example/x.m4s",
            "../../../../etc/passwd",
            "../../.git/8.m4s",
            "../manifest.mpd",
            "../../api/admin",
            "8.m4s?x=1",
        ] {
            assert_eq!(hint(&c(hostile), here), Hint::Rejected, "{hostile}");
        }
        assert_eq!(hint(&c(&"x/".repeat(700)), here), Hint::Rejected, "huge");
    }
}
