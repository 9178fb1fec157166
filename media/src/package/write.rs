//! Writing a package: every representation's init and media segments into a work directory
//! (one segment in memory at a time: file-backed samples are read per segment), then the MPD and `package.json`, then an atomic swap into the asset directory (the old
//! package moved aside and removed); work directories of interrupted runs are cleaned up.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Context, Result};
use crate::progress::Progress;
use manifests::layout;
use tracing::{debug, info, warn};

use super::plan::{frame_rate, frame_rate_string, plan, RepresentationPlan};
use super::record::PackageRecord;
use super::{asset_dir, PackageOptions, PackageReport, RepresentationReport};
use crate::codec;
use crate::fmp4;
use crate::track::{CodecConfig, Track};

/// Written files and measurements of one representation.
pub(crate) struct WrittenRepresentation {
    pub report: RepresentationReport,
    /// Per segment: (start, duration) in the track timescale.
    pub timeline: Vec<(u64, u64)>,
    /// `presentationTimeOffset` (track timescale): the media time presented at 0; the
    /// timeline above is in presentation time (see `plan`).
    pub presentation_time_offset: u64,
    pub timescale: u32,
    pub sar: Option<(u16, u16)>,
    pub language: String,
}

/// Removes work directories (`.<asset>.tmp-<pid>-…`, `.old-`, `.ladder-`) left by packager
/// runs of this asset whose process no longer exists (a crash or kill mid-run).
pub(crate) fn remove_stale_work_dirs(root: &Path, asset: &str) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let prefix = format!(".{asset}.");
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some((kind, tail)) = rest.split_once('-') else {
            continue;
        };
        if !matches!(kind, "tmp" | "old" | "ladder") {
            continue;
        }
        let Some(pid) = tail.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            warn!(path = %e.path().display(), "removing work directory of an interrupted run");
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Removes a directory tree on drop unless disarmed.
struct TempDirGuard(Option<PathBuf>);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(&p);
        }
    }
}

pub(super) fn package_with_record(
    tracks: Vec<Track>,
    opts: &PackageOptions,
    mut record: PackageRecord,
    progress: &dyn Progress,
    start: Instant,
) -> Result<PackageReport> {
    let super::plan::Plan {
        reps: plans,
        aligned,
        duration_secs,
        idr_misses,
    } = plan(tracks, opts.segment_duration_secs)?;
    let total_segments: u64 = plans.iter().map(|p| p.segments.len() as u64).sum();
    progress.stage(&format!("packaging {}", opts.asset), total_segments);

    fs::create_dir_all(&opts.content_root)
        .with_context(|| format!("cannot create content root {}", opts.content_root.display()))?;
    remove_stale_work_dirs(&opts.content_root, &opts.asset);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = opts.content_root.join(format!(
        ".{}.tmp-{}-{nanos}",
        opts.asset,
        std::process::id()
    ));
    fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut guard = TempDirGuard(Some(tmp.clone()));

    let mut written = Vec::with_capacity(plans.len());
    for p in &plans {
        let w = write_representation(
            &tmp,
            p,
            opts.segment_duration_secs,
            opts.encryption.as_ref(),
            progress,
        )?;
        progress.step_done(&format!(
            "wrote {}: {} segments, {:.1} MB, {} kbps",
            w.report.id,
            w.report.segments,
            w.report.bytes as f64 / 1e6,
            w.report.bandwidth / 1000
        ));
        written.push(w);
    }
    // Presentation duration: the video's (audio usually runs a few ms longer because of
    // encoder priming/padding; that must not announce a video segment that does not exist),
    // from the plan, which also trimmed the audio to it.
    let mpd = crate::package::mpd::build_mpd(
        &written,
        duration_secs,
        opts.segment_duration_secs,
        aligned,
        opts.encryption.as_ref(),
    )?;
    fs::write(tmp.join(layout::MANIFEST_FILE), mpd).context("writing the MPD")?;
    // HLS playlists over the same segments (see `hls`); an encrypted asset's media playlists
    // carry an EXT-X-KEY (SAMPLE-AES-CTR for cenc, SAMPLE-AES for cbcs; see `encrypt`).
    super::hls::write_playlists(&tmp, &written, opts.encryption.as_ref())?;

    record.duration_secs = duration_secs;
    record.representations = written.iter().map(|w| w.report.clone()).collect();
    let json = serde_json::to_string_pretty(&record)?;
    fs::write(tmp.join(layout::PACKAGE_RECORD_FILE), json + "\n")
        .context("writing package.json")?;

    // Swap into place: old asset (if any) aside, new one in, old one removed.
    let dir = asset_dir(opts, &opts.asset);
    let old = opts.content_root.join(format!(
        ".{}.old-{}-{nanos}",
        opts.asset,
        std::process::id()
    ));
    let had_old = dir.exists();
    if had_old {
        fs::rename(&dir, &old).with_context(|| format!("cannot move aside {}", dir.display()))?;
    }
    if let Err(e) = fs::rename(&tmp, &dir) {
        if had_old {
            let _ = fs::rename(&old, &dir);
        }
        return Err(e)
            .with_context(|| format!("cannot move the new package into {}", dir.display()));
    }
    guard.0 = None;
    if had_old {
        if let Err(e) = fs::remove_dir_all(&old) {
            warn!(path = %old.display(), "cannot remove the previous package: {e}");
        }
    }
    let elapsed = start.elapsed();
    info!(asset_dir = %dir.display(), ?elapsed, segments = total_segments, idr_misses, "packaged");
    Ok(PackageReport {
        asset_dir: dir,
        skipped: false,
        elapsed,
        duration_secs,
        representations: record.representations,
    })
}

/// Most threads writing one representation's segments.
const MAX_WRITERS: usize = 4;

/// Writes one representation's media segments (shared by the writer threads).
struct SegmentWriter<'a> {
    root: &'a Path,
    plan: &'a RepresentationPlan,
    protection: Option<&'a crate::encrypt::TrackProtection>,
}

/// One writer thread's reusable allocations.
#[derive(Default)]
struct Buffers {
    samples: Vec<crate::track::Sample>,
    infos: Vec<crate::samples::SampleInfo>,
    scratch: Vec<u8>,
}

impl SegmentWriter<'_> {
    /// Writes segment `k` (0-based) and returns its size. Unencrypted samples from a file:
    /// the segment's head is built from the sample tables and the sample bytes are copied
    /// file to file by the kernel (`copy_file_range`), never through this process (on a
    /// 2-hour input that is about 5 GB not copied twice). Otherwise the samples are read
    /// (or borrowed from memory) and the segment built in memory.
    fn write(&self, k: usize, b: &mut Buffers) -> Result<u64> {
        let t = &self.plan.track;
        let s = &self.plan.segments[k];
        let number = layout::START_NUMBER + k as u64;
        let seq = u32::try_from(number).context("too many segments")?;
        let path = self.root.join(layout::media_path(&t.id, number));
        let reading = || format!("track {}: reading segment {number}", t.id);
        let writing = || format!("writing {}", path.display());
        let direct = match self.protection {
            None => t
                .samples
                .file_payload(s.first..s.end, &mut b.infos)
                .with_context(reading)?,
            Some(_) => None,
        };
        if let Some(payload) = direct {
            let head = fmp4::media_segment_head(seq, s.base_decode_time, &b.infos);
            let mut f = fs::File::create(&path).with_context(writing)?;
            f.write_all(&head).with_context(writing)?;
            t.samples
                .copy_payload(&payload, &mut f, &mut b.scratch)
                .with_context(writing)?;
            return Ok(head.len() as u64 + payload.len());
        }
        let samples = t
            .samples
            .segment(s.first..s.end, &mut b.samples)
            .with_context(reading)?;
        let data = match self.protection {
            None => fmp4::media_segment(seq, s.base_decode_time, samples),
            Some(pr) => pr
                .protect_segment(s.first as u64, samples, |enc| {
                    fmp4::media_segment(seq, s.base_decode_time, enc)
                })
                .with_context(|| format!("track {}: encrypting segment {number}", t.id))?,
        };
        fs::write(&path, &data).with_context(writing)?;
        Ok(data.len() as u64)
    }
}

fn write_representation(
    root: &Path,
    p: &RepresentationPlan,
    segment_duration: f64,
    encryption: Option<&crate::encrypt::Encryption>,
    progress: &dyn Progress,
) -> Result<WrittenRepresentation> {
    let t = &p.track;
    fs::create_dir_all(root.join(&t.id))?;
    let protection = encryption
        .map(|e| e.for_track(t))
        .transpose()
        .with_context(|| format!("track {}: encryption", t.id))?;
    // The edit list cancels the decode times' composition shift (see `plan`).
    let mut init = fmp4::init_segment_with_edit(t, p.composition_shift)
        .with_context(|| format!("track {}: init segment", t.id))?;
    if let Some(pr) = &protection {
        init = pr
            .protect_init(&init, t.kind)
            .with_context(|| format!("track {}: encrypting the init segment", t.id))?;
    }
    let init_path = root.join(layout::init_path(&t.id, t.kind));
    fs::write(&init_path, &init).with_context(|| format!("writing {}", init_path.display()))?;
    let ts = t.timescale as f64;
    let last = p.segments.len() - 1;
    // Segments are independent (each names its own samples and decode time), so they are
    // written by up to `MAX_WRITERS` threads taking every n-th segment: on a long input the
    // work is the kernel's (page cache and file system), which then runs on every core.
    let writers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WRITERS)
        .min(p.segments.len().max(1));
    let segment_writer = SegmentWriter {
        root,
        plan: p,
        protection: protection.as_ref(),
    };
    // Set by the first writer that fails, so the others stop too.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Result<(u64, f64)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..writers)
            .map(|w| {
                let sw = &segment_writer;
                let failed = &failed;
                scope.spawn(move || -> Result<(u64, f64)> {
                    let mut buffers = Buffers::default();
                    let (mut bytes, mut bandwidth) = (0u64, 0f64);
                    for k in (w..p.segments.len()).step_by(writers) {
                        if failed.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let written = sw.write(k, &mut buffers).inspect_err(|_| {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        })?;
                        bytes += written;
                        // A short final segment is rated over the nominal duration, as a
                        // player fetches it in (at most) that time too.
                        let mut secs = p.segments[k].duration as f64 / ts;
                        if k == last && k > 0 {
                            secs = secs.max(segment_duration);
                        }
                        if secs > 0.0 {
                            bandwidth = bandwidth.max(written as f64 * 8.0 / secs);
                        }
                        progress.advance(1);
                    }
                    Ok((bytes, bandwidth))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut bytes = init.len() as u64;
    let mut bandwidth = 0f64;
    for r in results {
        let (b, bw) = r?;
        bytes += b;
        bandwidth = bandwidth.max(bw);
    }
    let (codecs, width, height, frame_rate, sample_rate, channels, sar) = match &t.codec {
        CodecConfig::Avc { sps, .. } => {
            let info = codec::parse_sps(&sps[0])?;
            (
                codec::avc_codec_string(&sps[0])?,
                Some(info.width),
                Some(info.height),
                frame_rate(t).map(frame_rate_string),
                None,
                None,
                info.sample_aspect_ratio,
            )
        }
        CodecConfig::Hevc { .. } | CodecConfig::Av1 { .. } => {
            let pic = t.codec.picture()?;
            (
                t.codec.codecs_string()?,
                pic.map(|p| p.width),
                pic.map(|p| p.height),
                frame_rate(t).map(frame_rate_string),
                None,
                None,
                pic.and_then(|p| p.sar),
            )
        }
        CodecConfig::Aac {
            audio_specific_config,
            sample_rate,
            channels,
        } => {
            let asc = codec::parse_audio_specific_config(audio_specific_config)?;
            let rate = asc.extension_sample_rate.unwrap_or(asc.sample_rate);
            if rate != *sample_rate {
                debug!(track = %t.id, asc = rate, declared = sample_rate, "sample rate from ASC differs from track");
            }
            (
                asc.codec_string(),
                None,
                None,
                None,
                Some(rate),
                Some(asc.channels().unwrap_or(*channels)),
                None,
            )
        }
    };
    Ok(WrittenRepresentation {
        report: RepresentationReport {
            id: t.id.clone(),
            kind: t.kind,
            codecs,
            bandwidth: bandwidth.ceil() as u64,
            width,
            height,
            frame_rate,
            sample_rate,
            channels,
            segments: p.segments.len() as u64,
            bytes,
        },
        timeline: p.segments.iter().map(|s| (s.start, s.duration)).collect(),
        presentation_time_offset: p.presentation_time_offset,
        timescale: t.timescale,
        sar,
        language: t.language.clone(),
    })
}
