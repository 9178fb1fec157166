//! Inputs: ladders (per-segment sizes) and network traces, from Sabre, Pensieve, Mahimahi and
//! our own packaged content. Every reader validates and fails with the file and, where it is
//! known, the line of the offending value.
//!
//! # Hostile inputs
//!
//! An input file must not be able to exhaust memory or hang a simulation, so every reader
//! bounds what it accepts and says which bound was hit:
//!
//! * a file is read only up to [`MAX_INPUT_BYTES`] (the largest real trace we know is
//!   170 kB); a longer one is an error before anything is parsed;
//! * a trace's loop lasts at most [`MAX_TRACE_MS`] (a Mahimahi timestamp past it is an error
//!   at its line, before any bin is allocated) and has at most [`MAX_TRACE_PERIODS`] periods;
//! * a trace must deliver at least [`MIN_TRACE_MEAN_KBPS`] on average over one loop, with
//!   periods of at least [`MIN_MEAN_PERIOD_MS`] on average, and request latencies of at most
//!   [`MAX_LATENCY_MS`]. The network models walk a trace period by period, so these make the
//!   work per download at most about `size / 10 bits + periods` steps: a near-zero
//!   bandwidth (`1e-300` kbps) or a latency of `1e300` ms would otherwise loop for ever.
//!
//! [`Trace::check_limits`] states these rules once; the readers and the live player's shaper
//! apply it. Ladders are held to segment durations of [`MIN_SEGMENT_MS`]..[`MAX_SEGMENT_MS`]
//! and sizes up to [`MAX_SEGMENT_BITS`] ([`Ladder::validate`]).

use std::path::{Path, PathBuf};

/// An input error naming the file and (where known) the 1-based line.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A bad value at a known line.
    #[error("{}:{line}: {msg}", path.display())]
    At {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A problem with the file as a whole.
    #[error("{}: {msg}", path.display())]
    File {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn at(path: &Path, line: usize, msg: impl Into<String>) -> InputError {
    InputError::At {
        path: path.to_path_buf(),
        line,
        msg: msg.into(),
    }
}
fn file(path: &Path, msg: impl Into<String>) -> InputError {
    InputError::File {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}
/// Most bytes a ladder or trace file may have (32 MiB; real traces are under 200 kB).
pub const MAX_INPUT_BYTES: u64 = 32 << 20;
/// Longest loop of a trace: 24 h, in ms.
pub const MAX_TRACE_MS: f64 = 86_400_000.0;
/// Most periods (or cooked samples, or Mahimahi bins) in one trace: 2^20.
pub const MAX_TRACE_PERIODS: usize = 1 << 20;
/// Lowest mean throughput over one loop of a trace, kbps: no DASH rung plays below it, and a
/// near-zero trace would make a single download take an unbounded number of steps.
pub const MIN_TRACE_MEAN_KBPS: f64 = 10.0;
/// Shortest mean period of a trace, ms (Mahimahi bins are 100 ms, cooked samples 1 s).
pub const MIN_MEAN_PERIOD_MS: f64 = 1.0;
/// Shortest segment duration of a ladder, ms.
pub const MIN_SEGMENT_MS: f64 = 1.0;
/// Longest segment duration of a ladder, ms (one hour).
pub const MAX_SEGMENT_MS: f64 = 3_600_000.0;
/// Largest segment of a ladder, bits (1.25 GB; a 10 s segment at 200 Mbit/s is 2e9).
pub const MAX_SEGMENT_BITS: f64 = 1e10;
/// Longest request latency of a trace period, ms.
pub const MAX_LATENCY_MS: f64 = 60_000.0;

/// Reads `path` as UTF-8, at most [`MAX_INPUT_BYTES`] (checked while reading, so a growing
/// file or a device cannot get past it either).
fn read(path: &Path) -> Result<String, InputError> {
    use std::io::Read;
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    f.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        return Err(file(
            path,
            format!("larger than {MAX_INPUT_BYTES} bytes, the most an input file may have"),
        ));
    }
    String::from_utf8(buf).map_err(|e| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 ({e})"),
        ))
    })
}

/// The Pensieve ladder (kbps), hard-coded in its scripts.
pub const PENSIEVE_BITRATES_KBPS: [f64; 6] = [300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0];
/// Pensieve chunk duration (ms).
pub const PENSIEVE_CHUNK_MS: f64 = 4000.0;

/// A bitrate ladder with the size of every segment at every quality.
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    /// Name for reports (file stem).
    pub name: String,
    /// Ascending bitrates in kbps; index = quality.
    pub bitrates_kbps: Vec<f64>,
    /// Segment duration in ms.
    pub segment_duration_ms: f64,
    /// `sizes_bits[segment][quality]`, bits.
    pub sizes_bits: Vec<Vec<f64>>,
}

impl Ladder {
    /// Number of qualities.
    pub fn levels(&self) -> usize {
        self.bitrates_kbps.len()
    }
    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.sizes_bits.len()
    }
    /// Checks shape and values (ascending positive ladder, one positive size per quality),
    /// within the bounds a simulation can walk in bounded time: segment durations from
    /// [`MIN_SEGMENT_MS`] to [`MAX_SEGMENT_MS`], sizes up to [`MAX_SEGMENT_BITS`] (a
    /// `1e300`-bit segment would be transferred period by period for ever).
    pub fn validate(&self, path: &Path) -> Result<(), InputError> {
        if self.bitrates_kbps.is_empty() {
            return Err(file(path, "empty ladder"));
        }
        if self.sizes_bits.is_empty() {
            return Err(file(path, "no segments"));
        }
        if !(self.segment_duration_ms.is_finite() && self.segment_duration_ms > 0.0) {
            return Err(file(
                path,
                format!(
                    "segment duration {} ms is not positive",
                    self.segment_duration_ms
                ),
            ));
        }
        if !(MIN_SEGMENT_MS..=MAX_SEGMENT_MS).contains(&self.segment_duration_ms) {
            return Err(file(
                path,
                format!(
                    "segment duration {} ms is outside {MIN_SEGMENT_MS}..={MAX_SEGMENT_MS} ms",
                    self.segment_duration_ms
                ),
            ));
        }
        if let Some((i, b)) = self
            .sizes_bits
            .iter()
            .enumerate()
            .find_map(|(i, row)| row.iter().find(|b| **b > MAX_SEGMENT_BITS).map(|b| (i, *b)))
        {
            return Err(file(
                path,
                format!("segment {i}: size {b:e} bits is more than {MAX_SEGMENT_BITS:e} bits"),
            ));
        }
        for w in self.bitrates_kbps.windows(2) {
            if w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater) {
                return Err(file(
                    path,
                    format!("bitrates not strictly ascending: {} then {}", w[0], w[1]),
                ));
            }
        }
        if let Some(b) = self
            .bitrates_kbps
            .iter()
            .find(|b| !(b.is_finite() && **b > 0.0))
        {
            return Err(file(path, format!("bitrate {b} is not positive")));
        }
        Ok(())
    }
}

/// One Sabre network period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// Duration in ms.
    pub duration_ms: f64,
    /// Bandwidth in kbps (= bits/ms).
    pub bandwidth_kbps: f64,
    /// Request latency (time to first bit) in ms.
    pub latency_ms: f64,
}

/// Trace data in its native form: each compatibility model works on its own form
/// exactly; conversions are provided for the others.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceData {
    /// Sabre periods (also Mahimahi, binned).
    Periods(Vec<Period>),
    /// Pensieve cooked samples: `(t[i-1], t[i]]` is served at `bw[i]` Mbps.
    Samples {
        /// Timestamps in seconds.
        t: Vec<f64>,
        /// Throughput in Mbps (`bw[0]` is never used).
        bw_mbps: Vec<f64>,
    },
}

/// A network trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// File name.
    pub name: String,
    /// The samples.
    pub data: TraceData,
}

impl Trace {
    /// As Sabre periods. Cooked samples become `(t[i]-t[i-1])*1000` ms at `bw[i]*1000` kbps with
    /// `latency_ms` each (zero-length intervals are dropped).
    pub fn to_periods(&self, latency_ms: f64) -> Vec<Period> {
        match &self.data {
            TraceData::Periods(p) => p.clone(),
            TraceData::Samples { t, bw_mbps } => (1..t.len())
                .filter(|&i| t[i] > t[i - 1])
                .map(|i| Period {
                    duration_ms: (t[i] - t[i - 1]) * 1000.0,
                    bandwidth_kbps: bw_mbps[i] * 1000.0,
                    latency_ms,
                })
                .collect(),
        }
    }
    /// As Pensieve samples (times from 0 s; latency dropped).
    pub fn to_samples(&self) -> (Vec<f64>, Vec<f64>) {
        match &self.data {
            TraceData::Samples { t, bw_mbps } => (t.clone(), bw_mbps.clone()),
            TraceData::Periods(p) => {
                let mut t = vec![0.0];
                let mut bw = vec![p.first().map_or(0.0, |p| p.bandwidth_kbps / 1000.0)];
                let mut now = 0.0;
                for q in p {
                    now += q.duration_ms / 1000.0;
                    t.push(now);
                    bw.push(q.bandwidth_kbps / 1000.0);
                }
                (t, bw)
            }
        }
    }
    /// Checks the bounds every trace must meet (module docs, "Hostile inputs"): one loop
    /// lasts at most [`MAX_TRACE_MS`] with at most [`MAX_TRACE_PERIODS`] periods of
    /// [`MIN_MEAN_PERIOD_MS`] or more on average, delivers [`MIN_TRACE_MEAN_KBPS`] or more on
    /// average, and every value is finite, bandwidths and durations non-negative, latencies
    /// at most [`MAX_LATENCY_MS`]. The message says which bound failed and the figures.
    pub fn check_limits(&self) -> Result<(), String> {
        let n = match &self.data {
            TraceData::Periods(p) => p.len(),
            TraceData::Samples { t, bw_mbps } => {
                if t.len() != bw_mbps.len() {
                    return Err(format!(
                        "{} timestamps but {} throughputs",
                        t.len(),
                        bw_mbps.len()
                    ));
                }
                if let Some(v) = t
                    .iter()
                    .chain(bw_mbps)
                    .find(|v| !(v.is_finite() && **v >= 0.0))
                {
                    return Err(format!("value {v} is negative or not finite"));
                }
                if let Some(&last) = t.last() {
                    if last * 1000.0 > MAX_TRACE_MS {
                        return Err(format!(
                            "time {last} s is past the {} h a trace may last",
                            MAX_TRACE_MS / 3_600_000.0
                        ));
                    }
                }
                t.len().saturating_sub(1)
            }
        };
        if n > MAX_TRACE_PERIODS {
            return Err(format!(
                "{n} periods, more than the {MAX_TRACE_PERIODS} a trace may have"
            ));
        }
        let periods = self.to_periods(0.0);
        let (mut ms, mut bits) = (0.0f64, 0.0f64);
        for (i, p) in periods.iter().enumerate() {
            for (what, v) in [
                ("duration_ms", p.duration_ms),
                ("bandwidth_kbps", p.bandwidth_kbps),
                ("latency_ms", p.latency_ms),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(format!("period {i}: {what} {v} is negative or not finite"));
                }
            }
            if p.latency_ms > MAX_LATENCY_MS {
                return Err(format!(
                    "period {i}: latency {} ms is more than {MAX_LATENCY_MS} ms",
                    p.latency_ms
                ));
            }
            ms += p.duration_ms;
            bits += p.duration_ms * p.bandwidth_kbps;
        }
        if ms > MAX_TRACE_MS {
            return Err(format!(
                "one loop lasts {ms} ms, more than the {MAX_TRACE_MS} ms (24 h) a trace may last"
            ));
        }
        if bits <= 0.0 {
            return Err("no period delivers any bits (all bandwidth or duration 0)".into());
        }
        let mean_kbps = bits / ms;
        if mean_kbps < MIN_TRACE_MEAN_KBPS {
            return Err(format!(
                "mean throughput {mean_kbps:.3e} kbps over one loop is below {MIN_TRACE_MEAN_KBPS} kbps"
            ));
        }
        let mean_period = ms / periods.len() as f64;
        if mean_period < MIN_MEAN_PERIOD_MS {
            return Err(format!(
                "mean period {mean_period:.3e} ms is below {MIN_MEAN_PERIOD_MS} ms ({} periods in {ms} ms)",
                periods.len()
            ));
        }
        Ok(())
    }

    /// Mean throughput over the trace, kbps (for reports).
    pub fn mean_kbps(&self) -> f64 {
        let p = self.to_periods(0.0);
        let d: f64 = p.iter().map(|p| p.duration_ms).sum();
        if d > 0.0 {
            p.iter()
                .map(|p| p.duration_ms * p.bandwidth_kbps)
                .sum::<f64>()
                / d
        } else {
            0.0
        }
    }
}

fn stem(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Line (1-based) of byte offset `pos` in `text`.
fn line_at(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Byte offset of the `n`-th (0-based) occurrence of `ch` at or after `from`.
fn nth_char(text: &str, from: usize, ch: u8, n: usize) -> Option<usize> {
    text.as_bytes()[from..]
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == ch)
        .nth(n)
        .map(|(i, _)| from + i)
}

fn json_err(path: &Path, e: serde_json::Error) -> InputError {
    at(path, e.line().max(1), e.to_string())
}

fn num(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
}

/// Reads a Sabre movie JSON (`segment_duration_ms`, `bitrates_kbps`, `segment_sizes_bits`).
pub fn read_sabre_movie(path: &Path) -> Result<Ladder, InputError> {
    let text = read(path)?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| json_err(path, e))?;
    let obj = v
        .as_object()
        .ok_or_else(|| at(path, 1, "expected a JSON object"))?;
    let key_line = |k: &str| {
        text.find(&format!("\"{k}\""))
            .map_or(1, |p| line_at(&text, p))
    };
    let get = |k: &str| {
        obj.get(k)
            .ok_or_else(|| file(path, format!("missing key \"{k}\"")))
    };
    let d = num(get("segment_duration_ms")?).ok_or_else(|| {
        at(
            path,
            key_line("segment_duration_ms"),
            "segment_duration_ms is not a number",
        )
    })?;
    let bl = key_line("bitrates_kbps");
    let bitrates: Vec<f64> = get("bitrates_kbps")?
        .as_array()
        .ok_or_else(|| at(path, bl, "bitrates_kbps is not a list"))?
        .iter()
        .map(|x| num(x).ok_or_else(|| at(path, bl, format!("bitrate {x} is not a number"))))
        .collect::<Result<_, _>>()?;
    let sizes_pos = text.find("\"segment_sizes_bits\"").unwrap_or(0);
    let seg_line =
        |i: usize| nth_char(&text, sizes_pos, b'[', i + 1).map_or(1, |p| line_at(&text, p));
    let segs = get("segment_sizes_bits")?.as_array().ok_or_else(|| {
        at(
            path,
            line_at(&text, sizes_pos),
            "segment_sizes_bits is not a list",
        )
    })?;
    let mut sizes = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        let row = s
            .as_array()
            .ok_or_else(|| at(path, seg_line(i), format!("segment {i}: not a list")))?;
        if row.len() != bitrates.len() {
            return Err(at(
                path,
                seg_line(i),
                format!(
                    "segment {i} has {} sizes but the ladder has {} bitrates",
                    row.len(),
                    bitrates.len()
                ),
            ));
        }
        let mut r = Vec::with_capacity(row.len());
        for x in row {
            match num(x) {
                Some(b) if b.is_finite() && b > 0.0 => r.push(b),
                _ => {
                    return Err(at(
                        path,
                        seg_line(i),
                        format!("segment {i}: size {x} is not a positive number"),
                    ))
                }
            }
        }
        sizes.push(r);
    }
    let ladder = Ladder {
        name: stem(path),
        bitrates_kbps: bitrates,
        segment_duration_ms: d,
        sizes_bits: sizes,
    };
    ladder.validate(path)?;
    Ok(ladder)
}

/// Reads Pensieve's `video_size_0..` files (bytes per chunk, one per line) from `dir`.
/// `bitrates_kbps` defaults to the Pensieve ladder when there are six files.
pub fn read_pensieve_video_sizes(
    dir: &Path,
    bitrates_kbps: Option<&[f64]>,
) -> Result<Ladder, InputError> {
    let mut cols: Vec<Vec<f64>> = Vec::new();
    loop {
        let p = dir.join(format!("video_size_{}", cols.len()));
        if !p.exists() {
            break;
        }
        let text = read(&p)?;
        let mut col = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let tok = line.split_whitespace().next();
            let Some(tok) = tok else {
                if text.lines().skip(i).all(|l| l.trim().is_empty()) {
                    break;
                }
                return Err(at(&p, i + 1, "empty line"));
            };
            let v: u64 = tok
                .parse()
                .map_err(|_| at(&p, i + 1, format!("\"{tok}\" is not a size in bytes")))?;
            if v == 0 {
                return Err(at(&p, i + 1, "size 0"));
            }
            col.push(v as f64 * 8.0);
        }
        if col.is_empty() {
            return Err(file(&p, "no sizes"));
        }
        cols.push(col);
    }
    if cols.is_empty() {
        return Err(file(dir, "no video_size_0 file"));
    }
    let n = cols[0].len();
    for (q, c) in cols.iter().enumerate() {
        if c.len() != n {
            return Err(file(
                &dir.join(format!("video_size_{q}")),
                format!("{} chunks, but video_size_0 has {n}", c.len()),
            ));
        }
    }
    let bitrates = match bitrates_kbps {
        Some(b) => b.to_vec(),
        None if cols.len() == 6 => PENSIEVE_BITRATES_KBPS.to_vec(),
        None => {
            return Err(file(
                dir,
                format!(
                    "{} video_size files: give the ladder's bitrates",
                    cols.len()
                ),
            ));
        }
    };
    if bitrates.len() != cols.len() {
        return Err(file(
            dir,
            format!(
                "{} bitrates for {} video_size files",
                bitrates.len(),
                cols.len()
            ),
        ));
    }
    let sizes = (0..n)
        .map(|i| cols.iter().map(|c| c[i]).collect())
        .collect();
    let ladder = Ladder {
        name: stem(dir),
        bitrates_kbps: bitrates,
        segment_duration_ms: PENSIEVE_CHUNK_MS,
        sizes_bits: sizes,
    };
    ladder.validate(dir)?;
    Ok(ladder)
}

/// Reads our packaged content: `<asset dir>/manifest.mpd` (or an MPD path) plus the sizes of
/// its video segment files. The video Representations, ascending by `@bandwidth`, are the ladder.
pub fn read_mpd_ladder(path: &Path) -> Result<Ladder, InputError> {
    let mpd_path = if path.is_dir() {
        path.join(manifests::layout::MANIFEST_FILE)
    } else {
        path.to_path_buf()
    };
    let base = mpd_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let text = read(&mpd_path)?;
    let mpd = manifests::Mpd::parse(&text).map_err(|e| file(&mpd_path, e.to_string()))?;
    let period = mpd
        .periods
        .first()
        .ok_or_else(|| file(&mpd_path, "no Period"))?;
    let pdur = mpd.period_duration(0);
    let set = period
        .adaptation_sets
        .iter()
        .find(|s| {
            s.content_type.as_deref() == Some("video")
                || s.common
                    .mime_type
                    .as_deref()
                    .is_some_and(|m| m.starts_with("video"))
                || s.representations.iter().any(|r| {
                    r.common
                        .mime_type
                        .as_deref()
                        .is_some_and(|m| m.starts_with("video"))
                })
        })
        .ok_or_else(|| file(&mpd_path, "no video AdaptationSet"))?;
    let mut reps: Vec<_> = set.representations.iter().collect();
    reps.sort_by_key(|r| r.bandwidth);
    let mut cols = Vec::new();
    let mut dur_ms = 0.0;
    // One budget of segments for all Representations (a hostile MPD may list many).
    let mut budget = manifests::segments::MAX_SEGMENTS;
    for r in &reps {
        let segs = r
            .media_segments_within(period, set, pdur, budget)
            .map_err(|e| file(&mpd_path, e.to_string()))?;
        budget -= segs.len() as u64;
        if let Some(s) = segs.first() {
            dur_ms = s.segment.duration_secs() * 1000.0;
        }
        let mut col = Vec::with_capacity(segs.len());
        for s in segs {
            let p = base.join(&s.url);
            let len = std::fs::metadata(&p)
                .map_err(|source| InputError::Io {
                    path: p.clone(),
                    source,
                })?
                .len();
            col.push(len as f64 * 8.0);
        }
        cols.push(col);
    }
    let n = cols.iter().map(Vec::len).min().unwrap_or(0);
    let name = if path.is_dir() {
        stem(path)
    } else {
        stem(&base)
    };
    let ladder = Ladder {
        name,
        bitrates_kbps: reps.iter().map(|r| r.bandwidth as f64 / 1000.0).collect(),
        segment_duration_ms: dur_ms,
        sizes_bits: (0..n)
            .map(|i| cols.iter().map(|c| c[i]).collect())
            .collect(),
    };
    ladder.validate(&mpd_path)?;
    Ok(ladder)
}

/// Reads a ladder, guessing the format: `*.json` → Sabre movie; a directory with
/// `video_size_0` → Pensieve; a directory with `manifest.mpd` or an `*.mpd` → our content.
pub fn read_ladder(path: &Path) -> Result<Ladder, InputError> {
    if path.is_dir() {
        if path.join("video_size_0").exists() {
            return read_pensieve_video_sizes(path, None);
        }
        if path.join(manifests::layout::MANIFEST_FILE).exists() {
            return read_mpd_ladder(path);
        }
        return Err(file(
            path,
            "directory has neither video_size_0 nor manifest.mpd",
        ));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => read_sabre_movie(path),
        Some("mpd") => read_mpd_ladder(path),
        _ => Err(file(
            path,
            "unknown movie format (want a Sabre .json, a Pensieve video_size dir or an MPD)",
        )),
    }
}

/// Trace file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// Sabre network JSON.
    Sabre,
    /// Pensieve cooked `time_s throughput_Mbps`.
    Pensieve,
    /// Mahimahi packet-delivery timestamps (ms, one 1500-byte packet per line).
    Mahimahi,
}

/// Reads a Sabre network JSON: `[{"duration_ms", "bandwidth_kbps", "latency_ms"}, ...]`.
pub fn read_sabre_network(path: &Path) -> Result<Trace, InputError> {
    /// One list item: an object with (some of) the three keys, other keys ignored, or
    /// anything else. Typed, so a 32 MiB trace costs ~100 bytes a period, not a `Value` map.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Item {
        Object {
            duration_ms: Option<serde_json::Value>,
            bandwidth_kbps: Option<serde_json::Value>,
            latency_ms: Option<serde_json::Value>,
        },
        Other(#[allow(dead_code)] serde::de::IgnoredAny),
    }
    let text = read(path)?;
    let arr: Vec<Item> = match serde_json::from_str(&text) {
        Ok(a) => a,
        Err(e) if e.is_data() && !text.trim_start().starts_with('[') => {
            return Err(at(path, 1, "expected a JSON list of periods"))
        }
        Err(e) => return Err(json_err(path, e)),
    };
    if arr.is_empty() {
        return Err(file(path, "no periods"));
    }
    if arr.len() > MAX_TRACE_PERIODS {
        return Err(file(
            path,
            format!(
                "{} periods, more than the {MAX_TRACE_PERIODS} a trace may have",
                arr.len()
            ),
        ));
    }
    let mut periods = Vec::with_capacity(arr.len());
    for (i, p) in arr.iter().enumerate() {
        // Only on an error: scanning for the i-th `{` for every period is quadratic.
        let line = || nth_char(&text, 0, b'{', i).map_or(1, |p| line_at(&text, p));
        let Item::Object {
            duration_ms,
            bandwidth_kbps,
            latency_ms,
        } = p
        else {
            return Err(at(path, line(), format!("period {i} is not an object")));
        };
        let f = |k: &str, x: &Option<serde_json::Value>| -> Result<f64, InputError> {
            let x = x
                .as_ref()
                .ok_or_else(|| at(path, line(), format!("period {i}: missing \"{k}\"")))?;
            match num(x) {
                Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => Err(at(
                    path,
                    line(),
                    format!("period {i}: {k} {x} is not a non-negative number"),
                )),
            }
        };
        periods.push(Period {
            duration_ms: f("duration_ms", duration_ms)?,
            bandwidth_kbps: f("bandwidth_kbps", bandwidth_kbps)?,
            latency_ms: f("latency_ms", latency_ms)?,
        });
    }
    checked(
        path,
        Trace {
            name: stem(path),
            data: TraceData::Periods(periods),
        },
    )
}

/// `trace` if it meets [`Trace::check_limits`], else the error naming `path`.
fn checked(path: &Path, trace: Trace) -> Result<Trace, InputError> {
    trace.check_limits().map_err(|m| file(path, m))?;
    Ok(trace)
}

/// Reads a Pensieve cooked trace: lines `time_s throughput_Mbps`.
pub fn read_pensieve_trace(path: &Path) -> Result<Trace, InputError> {
    let text = read(path)?;
    let (mut t, mut bw) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() && text.lines().skip(i).all(|l| l.trim().is_empty()) {
            break;
        }
        if fields.len() != 2 {
            return Err(at(
                path,
                i + 1,
                format!(
                    "expected 2 columns (time_s throughput_Mbps), found {}",
                    fields.len()
                ),
            ));
        }
        let parse = |s: &str, what: &str| -> Result<f64, InputError> {
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                Ok(_) => Err(at(
                    path,
                    i + 1,
                    format!("{what} \"{s}\" is negative or not finite"),
                )),
                Err(_) => Err(at(path, i + 1, format!("{what} \"{s}\" is not a number"))),
            }
        };
        let ti = parse(fields[0], "time")?;
        if ti * 1000.0 > MAX_TRACE_MS {
            return Err(at(
                path,
                i + 1,
                format!("time {ti} s is past the 24 h a trace may last"),
            ));
        }
        if t.len() > MAX_TRACE_PERIODS {
            return Err(at(
                path,
                i + 1,
                format!("more than the {MAX_TRACE_PERIODS} samples a trace may have"),
            ));
        }
        if let Some(&prev) = t.last() {
            if ti < prev {
                return Err(at(
                    path,
                    i + 1,
                    format!("time {ti} goes backwards (previous {prev})"),
                ));
            }
        }
        t.push(ti);
        bw.push(parse(fields[1], "throughput")?);
    }
    if t.len() < 2 {
        return Err(file(path, "fewer than 2 samples"));
    }
    if (1..t.len()).all(|i| bw[i] <= 0.0 || t[i] <= t[i - 1]) {
        return Err(file(
            path,
            "no interval delivers any bits (all throughput 0)",
        ));
    }
    checked(
        path,
        Trace {
            name: stem(path),
            data: TraceData::Samples { t, bw_mbps: bw },
        },
    )
}

/// Reads a Mahimahi trace (ms timestamps of 1500-byte delivery opportunities), binned into
/// `bin_ms` periods with `latency_ms` each. Timestamps are counted into their bins as they are
/// read (nothing per line is kept); one past [`MAX_TRACE_MS`], or more bins than
/// [`MAX_TRACE_PERIODS`], is an error at its line before any bin is allocated.
pub fn read_mahimahi_trace(path: &Path, bin_ms: u64, latency_ms: f64) -> Result<Trace, InputError> {
    if bin_ms == 0 {
        return Err(file(path, "Mahimahi bin width 0 ms"));
    }
    let text = read(path)?;
    let mut counts: Vec<u64> = Vec::new();
    let mut last = None;
    for (i, line) in text.lines().enumerate() {
        let s = line.trim();
        if s.is_empty() {
            continue;
        }
        let v: u64 = s.parse().map_err(|_| {
            at(
                path,
                i + 1,
                format!("\"{s}\" is not a millisecond timestamp"),
            )
        })?;
        if last.is_some_and(|p| v < p) {
            return Err(at(path, i + 1, "timestamps go backwards"));
        }
        if v as f64 > MAX_TRACE_MS {
            return Err(at(
                path,
                i + 1,
                format!("timestamp {v} ms is past the {MAX_TRACE_MS} ms (24 h) a trace may last"),
            ));
        }
        last = Some(v);
        // Bin k holds (k*bin_ms, (k+1)*bin_ms]; 0 counts in the first bin.
        let bin = (v.max(1) - 1) / bin_ms;
        if bin >= MAX_TRACE_PERIODS as u64 {
            return Err(at(
                path,
                i + 1,
                format!("timestamp {v} ms needs more than {MAX_TRACE_PERIODS} bins of {bin_ms} ms"),
            ));
        }
        let bin = bin as usize;
        if counts.len() <= bin {
            counts.resize(bin + 1, 0);
        }
        counts[bin] += 1;
    }
    if last.is_none() {
        return Err(file(path, "no timestamps"));
    }
    let periods = counts
        .iter()
        .map(|&c| Period {
            duration_ms: bin_ms as f64,
            bandwidth_kbps: c as f64 * 12000.0 / bin_ms as f64,
            latency_ms,
        })
        .collect();
    checked(
        path,
        Trace {
            name: stem(path),
            data: TraceData::Periods(periods),
        },
    )
}

/// Guesses a trace file's format: `.json` → Sabre; two numeric columns → Pensieve; one → Mahimahi.
pub fn detect_trace_format(path: &Path) -> Result<TraceFormat, InputError> {
    if path.extension().is_some_and(|e| e == "json") {
        return Ok(TraceFormat::Sabre);
    }
    let text = read(path)?;
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| file(path, "empty trace"))?;
    match first.split_whitespace().count() {
        1 => Ok(TraceFormat::Mahimahi),
        _ => Ok(TraceFormat::Pensieve),
    }
}

/// Reads a trace in `format` (or the detected one). Mahimahi is binned at 100 ms, no latency.
pub fn read_trace(path: &Path, format: Option<TraceFormat>) -> Result<Trace, InputError> {
    match format.map_or_else(|| detect_trace_format(path), Ok)? {
        TraceFormat::Sabre => read_sabre_network(path),
        TraceFormat::Pensieve => read_pensieve_trace(path),
        TraceFormat::Mahimahi => read_mahimahi_trace(path, 100, 0.0),
    }
}

/// The trace files of `dir`: every regular, non-hidden file, sorted by name (the default play
/// order; [`crate::trace_order`] applies an explicit one).
pub fn list_trace_dir(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let rd = std::fs::read_dir(dir).map_err(|source| InputError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(file(dir, "no trace files"));
    }
    Ok(paths)
}

/// Reads every regular file of `dir` (sorted by name; hidden files skipped) as a trace.
pub fn read_trace_dir(dir: &Path, format: Option<TraceFormat>) -> Result<Vec<Trace>, InputError> {
    list_trace_dir(dir)?
        .iter()
        .map(|p| read_trace(p, format))
        .collect()
}
