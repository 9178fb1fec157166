//! A VoD asset read as a loop: its static MPD parsed once (and again when the file
//! changes), every Representation's segments listed, and the loop duration checked to be
//! exact in every track's timescale.
//!
//! What loops: a static, single-Period MPD whose Representations use a `SegmentTemplate`
//! (`$Number$` with `@duration`, or a SegmentTimeline with `$Number$` or `$Time$`) — what
//! the packager writes, and what ffmpeg's `dash` muxer or Shaka Packager write in the
//! isoff-live profile. The loop duration is the reference track's (the first video
//! Representation's, else the first one's) total duration. Every track must express the
//! loop duration exactly in its MPD `@timescale` and in its media timescale (`mdhd`, which
//! ffmpeg's `@duration` MPDs do not share), and end within half its shortest segment of the
//! loop end (see [`super::timing`] for how the small audio/video difference is absorbed);
//! tracks may have different segment counts (ffmpeg ends audio with a short segment).
//! Anything else is refused with a reason (`404`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use manifests::layout::MediaKind;
use manifests::segments::expand_template;
use manifests::{Mpd, PresentationType};

use super::timing::TrackTimeline;

/// One Representation of a looped asset.
#[derive(Debug, Clone)]
pub struct Track {
    /// `Representation@id`.
    pub rep_id: String,
    /// Index of its AdaptationSet in the Period.
    pub set: usize,
    /// Audio or video (from the AdaptationSet's content type), for `Content-Type`.
    pub kind: Option<MediaKind>,
    /// `@bandwidth` (for `$Bandwidth$` in the VoD templates).
    pub bandwidth: u64,
    /// The loop of this track (in the MPD's `@timescale`).
    pub timeline: TrackTimeline,
    /// The media timescale (`mdhd` of the init segment; ffmpeg's MPDs may use another
    /// `@timescale`): what `tfdt` counts in.
    pub media_timescale: u64,
    /// `@presentationTimeOffset` of the VoD template.
    pub pto: u64,
    /// VoD media time of the first segment (the loop's zero).
    pub first_time: u64,
    /// VoD `$Number$` and `$Time$` of each segment.
    pub vod: Vec<(u64, u64)>,
    /// VoD `SegmentTemplate@media`.
    pub media_template: String,
    /// VoD `SegmentTemplate@initialization`.
    pub init_template: Option<String>,
}

impl Track {
    /// Path (relative to the asset directory) of VoD segment k.
    pub fn vod_media_path(&self, k: usize) -> String {
        let (number, time) = self.vod[k];
        expand_template(
            &self.media_template,
            &self.rep_id,
            number,
            time,
            self.bandwidth,
        )
    }

    /// Path (relative to the asset directory) of the init segment.
    pub fn vod_init_path(&self) -> Option<String> {
        let t = self.init_template.as_deref()?;
        Some(expand_template(t, &self.rep_id, 0, 0, self.bandwidth))
    }

    /// The `tfdt` shift of loop `loop_index` (media timescale): VoD media time → live
    /// media time. Exact: [`LoopAsset::load`] checked that the loop and the first time are
    /// whole numbers of media ticks.
    pub fn tfdt_offset(&self, loop_index: u64) -> i128 {
        let mpd_ticks = i128::from(loop_index) * i128::from(self.timeline.loop_ticks)
            - i128::from(self.first_time);
        mpd_ticks * i128::from(self.media_timescale) / i128::from(self.timeline.timescale)
    }
}

/// A VoD asset ready to be served as live.
#[derive(Debug)]
pub struct LoopAsset {
    /// The asset directory.
    pub dir: PathBuf,
    /// The static MPD as parsed.
    pub vod: Mpd,
    /// One entry per Representation, in MPD order.
    pub tracks: Vec<Track>,
    /// Index in `tracks` of the reference track (the loop duration's source).
    pub reference: usize,
}

impl LoopAsset {
    /// The track of a Representation.
    pub fn track(&self, rep_id: &str) -> Option<&Track> {
        self.tracks.iter().find(|t| t.rep_id == rep_id)
    }

    /// Loop duration in milliseconds (for logs and docs; the exact value is per track).
    pub fn loop_ms(&self) -> f64 {
        let t = &self.tracks[self.reference].timeline;
        t.loop_ticks as f64 * 1000.0 / t.timescale as f64
    }

    /// Parses `mpd_path` (inside `dir`) and builds the loop.
    pub fn load(dir: &Path, mpd_text: &str) -> Result<LoopAsset, String> {
        let vod = Mpd::parse(mpd_text).map_err(|e| format!("MPD does not parse: {e}"))?;
        if vod.presentation_type() != PresentationType::Static {
            return Err("the MPD is already dynamic; only static (VoD) MPDs loop".into());
        }
        if vod.periods.len() != 1 {
            return Err(format!(
                "{} Periods; only single-Period assets loop",
                vod.periods.len()
            ));
        }
        let period = &vod.periods[0];
        let period_duration = vod.period_duration(0);
        struct Raw {
            track: Track,
            durations_end: u64,
            min_dur: u64,
        }
        let mut raws = Vec::new();
        for (si, set) in period.adaptation_sets.iter().enumerate() {
            let kind = match set.effective_content_type() {
                Some("video") => Some(MediaKind::Video),
                Some("audio") => Some(MediaKind::Audio),
                _ => None,
            };
            for rep in &set.representations {
                let t = rep
                    .effective_segment_template(period, set)
                    .ok_or_else(|| format!("Representation {} has no SegmentTemplate", rep.id))?;
                let segs = rep
                    .media_segments(period, set, period_duration)
                    .map_err(|e| format!("Representation {}: {e}", rep.id))?;
                let (Some(first), Some(last)) = (segs.first(), segs.last()) else {
                    return Err(format!("Representation {} has no segments", rep.id));
                };
                let first_time = first.segment.time;
                let starts = segs.iter().map(|s| s.segment.time - first_time).collect();
                let timescale = u64::from(first.segment.timescale);
                let end = last.segment.time + last.segment.duration - first_time;
                raws.push(Raw {
                    track: Track {
                        rep_id: rep.id.clone(),
                        set: si,
                        kind,
                        bandwidth: u64::from(rep.bandwidth),
                        // the loop length is set below, once the reference is known
                        timeline: TrackTimeline {
                            timescale,
                            loop_ticks: end,
                            starts,
                        },
                        media_timescale: timescale,
                        pto: t.presentation_time_offset.unwrap_or(0),
                        first_time,
                        vod: segs
                            .iter()
                            .map(|s| (s.segment.number, s.segment.time))
                            .collect(),
                        media_template: t.media.clone().unwrap_or_default(),
                        init_template: t.initialization.clone(),
                    },
                    durations_end: end,
                    min_dur: segs.iter().map(|s| s.segment.duration).min().unwrap_or(0),
                });
            }
        }
        if raws.is_empty() {
            return Err("no Representations".into());
        }
        let reference = raws
            .iter()
            .position(|r| r.track.kind == Some(MediaKind::Video))
            .unwrap_or(0);
        let (ref_ticks, ref_ts) = {
            let r = &raws[reference].track.timeline;
            (r.loop_ticks, r.timescale)
        };
        let mut tracks = Vec::with_capacity(raws.len());
        for raw in raws {
            let mut track = raw.track;
            let ts = track.timeline.timescale;
            let scaled = u128::from(ref_ticks) * u128::from(ts);
            if scaled % u128::from(ref_ts) != 0 {
                return Err(format!(
                    "the loop duration {ref_ticks}/{ref_ts} s is not a whole number of ticks in \
                     the {ts} Hz timescale of Representation {}",
                    track.rep_id
                ));
            }
            let loop_ticks = (scaled / u128::from(ref_ts)) as u64;
            if raw.durations_end.abs_diff(loop_ticks) * 2 > raw.min_dur {
                return Err(format!(
                    "Representation {} lasts {} ticks, the loop {loop_ticks}: more than half a \
                     segment apart",
                    track.rep_id, raw.durations_end
                ));
            }
            if track.pto > track.first_time {
                return Err(format!(
                    "Representation {}: presentationTimeOffset after the first segment",
                    track.rep_id
                ));
            }
            if let Some(rel) = track.vod_init_path() {
                let init = std::fs::read(dir.join(&rel))
                    .map_err(|e| format!("init segment {rel}: {e}"))?;
                track.media_timescale = u64::from(
                    super::boxes::media_timescale(&init)
                        .ok_or_else(|| format!("init segment {rel}: no mdhd timescale"))?,
                );
            }
            let mts = u128::from(track.media_timescale);
            if (u128::from(loop_ticks) * mts) % u128::from(ts) != 0
                || (u128::from(track.first_time) * mts) % u128::from(ts) != 0
            {
                return Err(format!(
                    "Representation {}: the loop is not a whole number of ticks of its media \
                     timescale {mts}",
                    track.rep_id
                ));
            }
            track.timeline = TrackTimeline::new(ts, loop_ticks, track.timeline.starts)
                .map_err(|e| format!("Representation {}: {e}", track.rep_id))?;
            tracks.push(track);
        }
        // Representations of one AdaptationSet share one SegmentTemplate in the live MPD.
        for t in &tracks {
            let first = tracks.iter().find(|o| o.set == t.set).expect("itself");
            if first.timeline != t.timeline {
                return Err(format!(
                    "Representations {} and {} of one AdaptationSet are not segment-aligned",
                    first.rep_id, t.rep_id
                ));
            }
        }
        Ok(LoopAsset {
            dir: dir.to_path_buf(),
            vod,
            tracks,
            reference,
        })
    }
}

/// A loaded asset with the (length, mtime) of the MPD it came from.
type Cached = (u64, SystemTime, Arc<LoopAsset>);

/// Looped assets by directory, reloaded when their MPD's length or mtime changes.
#[derive(Debug, Default)]
pub struct LoopAssets {
    cache: Mutex<HashMap<PathBuf, Cached>>,
}

impl LoopAssets {
    /// The loop of the asset in `dir` (its `manifest.mpd`). Blocking (file system): call
    /// from a blocking task. `Ok(None)`: no such asset.
    pub fn get(&self, dir: &Path) -> Result<Option<Arc<LoopAsset>>, String> {
        let mpd = dir.join(manifests::layout::MANIFEST_FILE);
        let md = match std::fs::metadata(&mpd) {
            Ok(md) if md.is_file() => md,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", mpd.display())),
        };
        let key = (md.len(), md.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        if let Some((len, mtime, a)) = self.cache.lock().unwrap().get(dir) {
            if (*len, *mtime) == key {
                return Ok(Some(a.clone()));
            }
        }
        let text = std::fs::read_to_string(&mpd).map_err(|e| format!("{}: {e}", mpd.display()))?;
        let asset = Arc::new(LoopAsset::load(dir, &text)?);
        tracing::info!(
            dir = %dir.display(),
            loop_ms = asset.loop_ms(),
            tracks = asset.tracks.len(),
            "live: looping asset"
        );
        self.cache
            .lock()
            .unwrap()
            .insert(dir.to_path_buf(), (key.0, key.1, asset.clone()));
        Ok(Some(asset))
    }
}
