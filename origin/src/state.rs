//! The state one origin shares between its requests: configuration, canonical roots, hot
//! cache, metrics and the `Cache-Control` values of each [`CacheClass`].

use std::borrow::Cow;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serve::path::SafePath;
use serve::CacheClass;

use crate::cache::HotCache;
use crate::config::{OriginConfig, OriginError};
use crate::info::FileInfo;
use crate::kinds::SegmentKinds;
use crate::metrics::Metrics;

/// Shared, cheaply clonable state of one origin: configuration, canonical roots, hot
/// cache and metrics.
#[derive(Debug, Clone)]
pub struct OriginState {
    inner: Arc<StateInner>,
}

#[derive(Debug)]
struct StateInner {
    config: OriginConfig,
    content_root: PathBuf,
    web_root: Option<PathBuf>,
    cache: HotCache,
    metrics: Arc<Metrics>,
    kinds: SegmentKinds,
    cc_mpd: String,
    cc_segment: String,
    cc_other: String,
    ingest: Option<crate::ingest::Ingest>,
}

fn check_root(path: &Path) -> Result<PathBuf, OriginError> {
    match std::fs::metadata(path) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(OriginError::RootNotDirectory(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(OriginError::RootMissing(path.to_path_buf()))
        }
        Err(source) => {
            return Err(OriginError::RootInaccessible {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    std::fs::canonicalize(path).map_err(|source| OriginError::RootInaccessible {
        path: path.to_path_buf(),
        source,
    })
}

impl OriginState {
    /// Validates the roots and builds the state (no socket is opened).
    pub fn new(config: OriginConfig) -> Result<OriginState, OriginError> {
        let content_root = check_root(&config.content_root)?;
        let web_root = config.web_root.as_deref().map(check_root).transpose()?;
        let cache = HotCache::new(
            config.hot_cache_bytes,
            config.hot_file_max_bytes,
            Duration::from_millis(config.hot_cache_revalidate_ms),
        )
        .with_max_files(crate::cache::max_open_files_for(nofile_soft_limit()));
        let ingest = config
            .ingest
            .clone()
            .map(|c| crate::ingest::Ingest::new(c, &content_root))
            .transpose()?;
        config.live.validate().map_err(OriginError::Live)?;
        if config.live.enabled
            && config
                .ingest
                .as_ref()
                .is_some_and(|i| i.prefix == config.live.prefix)
        {
            return Err(OriginError::Live(format!(
                "the live and ingest prefixes are both {:?}",
                config.live.prefix
            )));
        }
        Ok(OriginState {
            inner: Arc::new(StateInner {
                kinds: SegmentKinds::new(Duration::from_millis(config.hot_cache_revalidate_ms)),
                cc_mpd: format!("public, max-age={}", config.mpd_max_age_secs),
                cc_segment: format!("public, max-age={}, immutable", config.segment_max_age_secs),
                cc_other: format!("public, max-age={}", config.other_max_age_secs),
                config,
                content_root,
                web_root,
                cache,
                metrics: Arc::new(Metrics::new()),
                ingest,
            }),
        })
    }

    /// The configuration this state was built from.
    pub fn config(&self) -> &OriginConfig {
        &self.inner.config
    }

    /// The canonicalized content root.
    pub fn content_root(&self) -> &Path {
        &self.inner.content_root
    }

    /// The metrics of this origin.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The hot cache of this origin.
    pub fn cache(&self) -> &HotCache {
        &self.inner.cache
    }

    /// Push ingest, when configured.
    pub fn ingest(&self) -> Option<&crate::ingest::Ingest> {
        self.inner.ingest.as_ref()
    }

    /// `Cache-Control` value for a relative path.
    pub fn cache_control_for(&self, path: &str) -> &str {
        if let Some(cc) = self.ingest().and_then(|i| i.cache_control_for(path)) {
            return cc;
        }
        match CacheClass::of(path) {
            CacheClass::Manifest => &self.inner.cc_mpd,
            CacheClass::Segment => &self.inner.cc_segment,
            CacheClass::Other => &self.inner.cc_other,
        }
    }

    /// Picks the root a request path lives under and the path relative to it.
    pub(crate) fn mount<'a>(&'a self, safe: &'a SafePath) -> (&'a Path, Cow<'a, SafePath>) {
        if let Some(web) = &self.inner.web_root {
            if let Some(rest) = safe.strip_first_segment("web") {
                return (web, Cow::Owned(rest));
            }
        }
        (&self.inner.content_root, Cow::Borrowed(safe))
    }

    /// Files up to this size are read whole (and cached when the budget allows).
    pub(crate) fn whole_file_max(&self) -> u64 {
        self.inner.config.hot_file_max_bytes
    }

    /// `Content-Type` of a path relative to the content root: by its name, except for
    /// media segments, whose type is their representation's kind ([`SegmentKinds`]).
    pub fn content_type_for(&self, rel: &str) -> &'static str {
        let is_segment = rel
            .rsplit_once('.')
            .is_some_and(|(_, e)| e.eq_ignore_ascii_case(manifests::layout::MEDIA_SEGMENT_EXT));
        if let Some(t) = self.ingest().and_then(|i| i.segment_type_for(rel)) {
            return t;
        }
        if is_segment {
            let kind = self
                .inner
                .kinds
                .kind_of_segment(&self.inner.content_root, rel);
            manifests::layout::mime_for_segment(kind)
        } else {
            manifests::layout::mime_for_path(rel)
        }
    }

    pub(crate) fn file_info(&self, md: &Metadata, rel: &str) -> FileInfo {
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(md);
        #[cfg(not(unix))]
        let ino = 0;
        FileInfo::new(
            md.len(),
            md.modified().unwrap_or(UNIX_EPOCH),
            ino,
            rel,
            self.cache_control_for(rel),
        )
        .with_content_type(self.content_type_for(rel))
    }
}

/// The soft `RLIMIT_NOFILE` (2^20 when it cannot be read or is unlimited).
pub(crate) fn nofile_soft_limit() -> u64 {
    serve::limits::nofile_limit()
        .map(|(soft, _)| soft)
        .unwrap_or(1 << 20)
        .min(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = OriginState::new(OriginConfig::new(&missing, "127.0.0.1:0".parse().unwrap()))
            .unwrap_err();
        assert!(matches!(err, OriginError::RootMissing(_)), "{err}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let err =
            OriginState::new(OriginConfig::new(&file, "127.0.0.1:0".parse().unwrap())).unwrap_err();
        assert!(matches!(err, OriginError::RootNotDirectory(_)), "{err}");
        assert!(err.to_string().contains("is not a directory"));
    }
}
