//! DASH-aware prefetch: a request for media segment `k` of a representation
//! (`.../<rep>/<k>.m4s`, parsed with [`manifests::layout::parse_media_path`]) starts one
//! background task that fills segments `k+1..=k+N` in order, through the same fill locks
//! as client misses (so a segment already being fetched is never fetched twice), and
//! stops at the first segment the upstream does not answer with `2xx` (the end of the
//! presentation answers `404`).

use cache::Acquire;

use crate::fill::{self, FillJob, Purpose};
use crate::key::CacheKey;
use crate::state::EdgeState;

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

/// Starts prefetching after a request for `path` when `--prefetch` is on.
pub fn maybe_start(state: &EdgeState, path: &str) {
    let n = state.config().prefetch;
    if n == 0 {
        return;
    }
    let Some(paths) = next_segments(path, n) else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        for p in paths {
            let key = CacheKey::from_normalized_path(p);
            if state.lookup(&key).await.is_some() {
                continue;
            }
            let Acquire::Leader(writer) = state.inner.locks.acquire(key.as_str()) else {
                continue; // already being fetched
            };
            state.inner.metrics.prefetches.inc();
            let job = FillJob {
                key,
                cached: None,
                purpose: Purpose::Prefetch,
                request_headers: http::HeaderMap::new(),
            };
            match fill::run(state.clone(), job, writer).await {
                Some(s) if s.is_success() => {}
                _ => break,
            }
        }
    });
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
}
