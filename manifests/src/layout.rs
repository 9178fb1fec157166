//! Content directory layout and segment naming, shared by every hop.
//!
//! The packager (`media`) writes this layout, the origin serves it, edges cache
//! it and the player simulator requests it. Nothing else may spell these names.
//!
//! ```text
//! CONTENT_ROOT/
//!   <asset>/                      one directory per packaged asset ("default" for the test pattern)
//!     manifest.mpd                the static MPD (SegmentTemplate, relative URLs)
//!     master.m3u8                 the HLS multivariant playlist (same segments)
//!     package.json                what was packaged from what (makes re-runs a no-op)
//!     <representation id>/
//!       init.mp4 | init.m4a       CMAF header: ftyp + moov (video | audio)
//!       1.m4s, 2.m4s, ...         CMAF media segments: styp + moof + mdat, numbered from 1
//!       playlist.m3u8             the HLS media playlist of this representation
//! ```

/// Name of the asset produced by `dashcdn package` with no input.
pub const DEFAULT_ASSET: &str = "default";
/// File name of an asset's MPD.
pub const MANIFEST_FILE: &str = "manifest.mpd";
/// File name of an asset's HLS multivariant playlist (beside the MPD).
pub const HLS_MULTIVARIANT_FILE: &str = "master.m3u8";
/// File name of a representation's HLS media playlist (in its directory).
pub const HLS_MEDIA_PLAYLIST_FILE: &str = "playlist.m3u8";
/// File name of the packaging record inside an asset directory.
pub const PACKAGE_RECORD_FILE: &str = "package.json";
/// First segment number in `$Number$` templates.
pub const START_NUMBER: u64 = 1;
/// Extension of media segments (MIME `video/mp4` or `audio/mp4` by the representation's
/// kind: [`mime_for_segment`]).
pub const MEDIA_SEGMENT_EXT: &str = "m4s";

/// Kind of a representation's media, which decides the init segment's name and MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Video track.
    Video,
    /// Audio track.
    Audio,
}

impl MediaKind {
    /// Init segment file name for this kind (`init.mp4` for video, `init.m4a` for audio).
    pub fn init_file(self) -> &'static str {
        match self {
            MediaKind::Video => "init.mp4",
            MediaKind::Audio => "init.m4a",
        }
    }

    /// The MPD `mimeType` of this kind.
    pub fn mime_type(self) -> &'static str {
        match self {
            MediaKind::Video => "video/mp4",
            MediaKind::Audio => "audio/mp4",
        }
    }

    /// The MPD `contentType` of this kind.
    pub fn content_type(self) -> &'static str {
        match self {
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
        }
    }
}

/// `SegmentTemplate@initialization` for a kind, relative to the MPD.
pub fn init_template(kind: MediaKind) -> String {
    format!("$RepresentationID$/{}", kind.init_file())
}

/// `SegmentTemplate@media`, relative to the MPD.
pub fn media_template() -> String {
    format!("$RepresentationID$/$Number$.{MEDIA_SEGMENT_EXT}")
}

/// Path of an init segment relative to the asset directory.
pub fn init_path(representation_id: &str, kind: MediaKind) -> String {
    format!("{representation_id}/{}", kind.init_file())
}

/// Path of a representation's HLS media playlist relative to the asset directory.
pub fn media_playlist_path(representation_id: &str) -> String {
    format!("{representation_id}/{HLS_MEDIA_PLAYLIST_FILE}")
}

/// Path of media segment `number` relative to the asset directory.
pub fn media_path(representation_id: &str, number: u64) -> String {
    format!("{representation_id}/{number}.{MEDIA_SEGMENT_EXT}")
}

/// The kind of a representation told by the name of its init segment (`init.mp4`: video,
/// `init.m4a`: audio), the layout's rule for telling audio from video without reading a
/// file.
pub fn kind_of_init_file(name: &str) -> Option<MediaKind> {
    [MediaKind::Video, MediaKind::Audio]
        .into_iter()
        .find(|k| k.init_file() == name)
}

/// MIME type of a media segment of a representation of `kind`: its content's type
/// (`audio/mp4` for audio-only ISOBMFF, `video/mp4` when it holds video: RFC 4337 §2, the
/// types CMAF (ISO/IEC 23000-19) and the MPD's `@mimeType` use for these segments), rather
/// than the catch-all `video/iso.segment` of ISO/IEC 23009-1, which says nothing of the
/// content and calls an audio segment video. `None` (kind unknown) gives `video/mp4`.
pub fn mime_for_segment(kind: Option<MediaKind>) -> &'static str {
    kind.unwrap_or(MediaKind::Video).mime_type()
}

/// MIME type an HTTP server should send for a file name in this layout (and for the
/// few static web files the player page needs). Unknown extensions are `application/octet-stream`.
/// A media segment's type depends on its representation's kind, which the name does not
/// say: this gives `video/mp4`; servers that know the kind use [`mime_for_segment`].
pub fn mime_for_path(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "mpd" => "application/dash+xml",
        // RFC 8216 §4 (and the IANA registration it cites).
        "m3u8" => "application/vnd.apple.mpegurl",
        "vtt" => "text/vtt; charset=utf-8",
        "m4s" => mime_for_segment(None),
        "mp4" | "m4v" | "cmfv" => "video/mp4",
        "m4a" | "cmfa" => "audio/mp4",
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

/// Parses a media-segment path relative to the asset directory (`<rep>/<n>.m4s`) into
/// `(representation id, number)`. Used by edges for prefetch and by players for accounting.
pub fn parse_media_path(path: &str) -> Option<(&str, u64)> {
    let (rep, file) = path.rsplit_once('/')?;
    let rep = rep.rsplit('/').next()?;
    let stem = file.strip_suffix(MEDIA_SEGMENT_EXT)?.strip_suffix('.')?;
    if rep.is_empty() || stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((rep, stem.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(init_path("v720", MediaKind::Video), "v720/init.mp4");
        assert_eq!(media_path("a128", 7), "a128/7.m4s");
        assert_eq!(parse_media_path("default/v720/12.m4s"), Some(("v720", 12)));
        assert_eq!(parse_media_path("v720/x.m4s"), None);
        assert_eq!(parse_media_path("v720/init.mp4"), None);
    }

    #[test]
    fn mime_types() {
        assert_eq!(mime_for_path("a/manifest.mpd"), "application/dash+xml");
        assert_eq!(mime_for_path("a/v/1.m4s"), "video/mp4");
        assert_eq!(mime_for_segment(Some(MediaKind::Audio)), "audio/mp4");
        assert_eq!(mime_for_segment(Some(MediaKind::Video)), "video/mp4");
        assert_eq!(
            mime_for_path("a/master.m3u8"),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(
            mime_for_path("a/v/playlist.m3u8"),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(kind_of_init_file("init.m4a"), Some(MediaKind::Audio));
        assert_eq!(kind_of_init_file("init.mp4"), Some(MediaKind::Video));
        assert_eq!(kind_of_init_file("1.m4s"), None);
        assert_eq!(mime_for_path("a/v/init.mp4"), "video/mp4");
        assert_eq!(mime_for_path("a/a/init.m4a"), "audio/mp4");
        assert_eq!(mime_for_path("noext"), "application/octet-stream");
    }
}
