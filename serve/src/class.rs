//! The `Cache-Control` class of a served path: the origin picks its `max-age` from it, the
//! edge its default freshness when upstream sent none.

/// Which `Cache-Control` class a served path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheClass {
    /// `*.mpd` and HLS playlists (`*.m3u8`): short-lived.
    Manifest,
    /// Media segments (`*.m4s`) and init segments (`init.mp4`, `init.m4a`): immutable.
    Segment,
    /// Anything else.
    Other,
}

impl CacheClass {
    /// Classifies a relative path using the names from [`manifests::layout`].
    pub fn of(path: &str) -> CacheClass {
        use manifests::layout::{MediaKind, MANIFEST_FILE, MEDIA_SEGMENT_EXT};
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        if name == MediaKind::Video.init_file()
            || name == MediaKind::Audio.init_file()
            || ext.eq_ignore_ascii_case(MEDIA_SEGMENT_EXT)
        {
            CacheClass::Segment
        } else if name == MANIFEST_FILE
            || ext.eq_ignore_ascii_case("mpd")
            || ext.eq_ignore_ascii_case("m3u8")
        {
            CacheClass::Manifest
        } else {
            CacheClass::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_classes() {
        assert_eq!(CacheClass::of("default/v720/3.m4s"), CacheClass::Segment);
        assert_eq!(CacheClass::of("default/v720/init.mp4"), CacheClass::Segment);
        assert_eq!(CacheClass::of("default/a128/init.m4a"), CacheClass::Segment);
        assert_eq!(CacheClass::of("default/manifest.mpd"), CacheClass::Manifest);
        assert_eq!(CacheClass::of("default/master.m3u8"), CacheClass::Manifest);
        assert_eq!(
            CacheClass::of("default/v720/playlist.m3u8"),
            CacheClass::Manifest
        );
        assert_eq!(CacheClass::of("web/index.html"), CacheClass::Other);
        assert_eq!(CacheClass::of("default/movie.mp4"), CacheClass::Other);
    }
}
