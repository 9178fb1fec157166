//! Whether a media segment is audio or video, for its `Content-Type` (`audio/mp4` or
//! `video/mp4`, [`manifests::layout::mime_for_segment`]): a segment's name (`<rep>/<n>.m4s`)
//! does not say, its representation directory does, by the name of its init segment
//! (`init.m4a`: audio, `init.mp4`: video; [`manifests::layout::kind_of_init_file`]).
//!
//! The answer is kept per representation directory, so serving a segment does not touch
//! the disk for it; it is looked at again after the hot cache's revalidation interval
//! (a repackaged asset is swapped in as a new directory, whose representations could
//! change kind). Looked up only when a segment's [`FileInfo`](crate::info::FileInfo) is
//! built, i.e. when the file itself was just read or stated.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use manifests::layout::MediaKind;

/// Representation directories remembered at most (then the map starts over).
const MAX_ENTRIES: usize = 16_384;

/// Kinds of representation directories, by path relative to the content root.
#[derive(Debug)]
pub struct SegmentKinds {
    recheck_after: Duration,
    map: Mutex<HashMap<String, (Option<MediaKind>, Instant)>>,
}

impl SegmentKinds {
    /// An empty map whose entries are looked at again after `recheck_after`.
    pub fn new(recheck_after: Duration) -> SegmentKinds {
        SegmentKinds {
            recheck_after,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The kind of the representation holding the segment at `rel` (relative to
    /// `content_root`), `None` when its directory has neither init segment.
    pub fn kind_of_segment(&self, content_root: &Path, rel: &str) -> Option<MediaKind> {
        let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
        let now = Instant::now();
        if let Some(&(kind, at)) = self.lock().get(dir) {
            if now.duration_since(at) < self.recheck_after {
                return kind;
            }
        }
        let full = content_root.join(dir);
        let kind = [MediaKind::Audio, MediaKind::Video]
            .into_iter()
            .find(|k| full.join(k.init_file()).is_file());
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(dir.to_string(), (kind, now));
        kind
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<MediaKind>, Instant)>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_the_init_segment_cached_until_recheck() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/v1")).unwrap();
        std::fs::create_dir_all(root.join("a/a1")).unwrap();
        std::fs::write(root.join("a/v1/init.mp4"), b"x").unwrap();
        std::fs::write(root.join("a/a1/init.m4a"), b"x").unwrap();
        let kinds = SegmentKinds::new(Duration::from_secs(3600));
        assert_eq!(
            kinds.kind_of_segment(root, "a/v1/1.m4s"),
            Some(MediaKind::Video)
        );
        assert_eq!(
            kinds.kind_of_segment(root, "a/a1/7.m4s"),
            Some(MediaKind::Audio)
        );
        assert_eq!(kinds.kind_of_segment(root, "a/none/1.m4s"), None);
        // Cached: the disk is not looked at again within the interval.
        std::fs::remove_file(root.join("a/a1/init.m4a")).unwrap();
        assert_eq!(
            kinds.kind_of_segment(root, "a/a1/8.m4s"),
            Some(MediaKind::Audio)
        );
        let fresh = SegmentKinds::new(Duration::ZERO);
        assert_eq!(fresh.kind_of_segment(root, "a/a1/8.m4s"), None);
    }
}
