//! Outputs: the summary table (text), `summary.json`, per-trace `metrics.csv`, per-segment
//! `events.csv` / `events.jsonl`, and plots, each as SVG and PNG (QoE CDF per algorithm;
//! bitrate/buffer/throughput timeline of one playback; text in the PNGs uses an embedded DejaVu
//! Sans, so no system fonts are needed). Everything written is a pure function of the inputs
//! (no timings, fixed ordering), so a rerun produces identical bytes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context as _;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::session::Playback;
use crate::study::{AlgoSummary, Study};

/// The summary table: one row per algorithm.
pub fn summary_table(summary: &[AlgoSummary], skip_first: bool) -> String {
    let mut s = String::new();
    let qoe = if skip_first {
        "QoE_lin(2..N)"
    } else {
        "QoE_lin"
    };
    let _ = writeln!(
        s,
        "{:<15} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7}",
        "abr",
        "runs",
        format!("{qoe} mean"),
        "median",
        "p10",
        "p90",
        "kbps",
        "rebuf s",
        "startup",
        "rebuf %",
        "switch"
    );
    for a in summary {
        let _ = writeln!(
            s,
            "{:<15} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.1} {:>8.3} {:>8.3} {:>8.3} {:>7.2}",
            a.abr,
            a.playbacks,
            a.qoe_lin.mean,
            a.qoe_lin.median,
            a.qoe_lin.p10,
            a.qoe_lin.p90,
            a.bitrate_kbps.mean,
            a.rebuffer_s.mean,
            a.startup_s.mean,
            100.0 * a.rebuffer_ratio.mean,
            a.switches.mean
        );
    }
    s
}

/// Writes `summary.json`, `metrics.csv`, and, when events were kept, `events.csv`,
/// `events.jsonl`, `cdf_qoe.svg`/`.png` and `timeline_<abr>.svg`/`.png` (first trace) into `dir`.
pub fn write_study(dir: &Path, study: &Study, meta: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::json!({ "run": meta, "algorithms": study.summary });
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;

    let mut csv = String::from("abr,trace,segments,mean_bitrate_kbps,time_avg_bitrate_kbps,startup_s,rebuffer_s,rebuffer_count,rebuffer_ratio,switches,switch_magnitude_kbps,qoe_lin,qoe_log,qoe_hd,bytes_downloaded,bytes_wasted,abandoned\n");
    for r in &study.results {
        let m = &r.metrics;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            m.abr,
            m.trace,
            m.segments,
            m.mean_bitrate_kbps,
            m.time_avg_bitrate_kbps,
            m.startup_s,
            m.rebuffer_s,
            m.rebuffer_count,
            m.rebuffer_ratio,
            m.switches,
            m.switch_magnitude_kbps,
            m.qoe_lin,
            m.qoe_log,
            m.qoe_hd.map_or(String::new(), |v| v.to_string()),
            m.bytes_downloaded,
            m.bytes_wasted,
            m.abandoned
        );
    }
    std::fs::write(dir.join("metrics.csv"), csv)?;

    let playbacks: Vec<&Playback> = study
        .results
        .iter()
        .filter_map(|r| r.playback.as_ref())
        .collect();
    if !playbacks.is_empty() {
        write_events(dir, &playbacks)?;
        let names: Vec<&str> = study.summary.iter().map(|a| a.abr.as_str()).collect();
        let series: Vec<(String, Vec<f64>)> = names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    study
                        .results
                        .iter()
                        .filter(|r| r.metrics.abr == *n)
                        .map(|r| r.metrics.qoe_lin)
                        .collect(),
                )
            })
            .collect();
        for ext in ["svg", "png"] {
            plot_cdf(
                &dir.join(format!("cdf_qoe.{ext}")),
                "QoE_lin per trace",
                &series,
            )?;
            if let Some(first) = playbacks.first() {
                for p in playbacks.iter().filter(|p| p.trace == first.trace) {
                    plot_timeline(&dir.join(format!("timeline_{}.{ext}", p.abr)), p)?;
                }
            }
        }
    }
    Ok(())
}

/// Writes `events.csv` and `events.jsonl` (one row per download attempt).
pub fn write_events(dir: &Path, playbacks: &[&Playback]) -> anyhow::Result<()> {
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("events.csv"))?);
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(dir.join("events.jsonl"))?);
    writeln!(csv, "abr,trace,index,quality,bitrate_kbps,size_bits,downloaded_bits,request_ms,idle_ms,ttfb_ms,time_ms,buffer_before_ms,buffer_after_ms,rebuffer_ms,throughput_kbps,estimate_kbps,abandoned,abandon_to")?;
    for p in playbacks {
        for e in &p.events {
            writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                p.abr,
                p.trace,
                e.index,
                e.quality,
                e.bitrate_kbps,
                e.size_bits,
                e.downloaded_bits,
                e.request_ms,
                e.idle_ms,
                e.ttfb_ms,
                e.time_ms,
                e.buffer_before_ms,
                e.buffer_after_ms,
                e.rebuffer_ms,
                e.throughput_kbps,
                e.estimate_kbps,
                e.abandoned,
                e.abandon_to.map_or(String::new(), |q| q.to_string())
            )?;
            let mut v = serde_json::to_value(e)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("abr".into(), p.abr.clone().into());
                o.insert("trace".into(), p.trace.clone().into());
            }
            writeln!(jsonl, "{}", serde_json::to_string(&v)?)?;
        }
    }
    csv.flush()?;
    jsonl.flush()?;
    Ok(())
}

const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("plot: {e}")
}

/// DejaVu Sans (see `assets/LICENSE-DejaVu.txt`): plotters' `ab_glyph` text renderer has no
/// system fonts, so the bitmap (and the SVG backend's text layout) use this embedded face.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded DejaVu Sans with plotters as "sans-serif" (and, as a stand-in, as
/// "serif" and "monospace"), once per process. With plotters' `ab_glyph` text renderer any
/// chart with text, SVG or bitmap, fails with `FontUnavailable` for an unregistered family, so
/// code drawing its own charts calls this first; [`plot_cdf`] and [`plot_timeline`] do.
pub fn register_font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        ["sans-serif", "serif", "monospace"]
            .iter()
            .all(|f| plotters::style::register_font(f, FontStyle::Normal, FONT).is_ok())
    });
    anyhow::ensure!(ok, "plot: the embedded font could not be loaded");
    Ok(())
}

/// Whether `path` asks for a PNG (by its extension); anything else is written as SVG.
fn is_png(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// Draws into an RGB buffer and writes it as an 8-bit RGB PNG with the `png` crate (plotters'
/// own file encoder would pull in the whole `image` crate, ~25 s more of clean build).
fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 3 * w as usize * h as usize];
    draw(BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area())?;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut out = enc.write_header()?;
    out.write_image_data(&buf)?;
    out.finish()?;
    Ok(())
}

/// Writes a CDF of each named series: PNG if `path` ends in `.png`, SVG otherwise.
pub fn plot_cdf(path: &Path, title: &str, series: &[(String, Vec<f64>)]) -> anyhow::Result<()> {
    register_font()?;
    if !series.iter().flat_map(|s| &s.1).any(|x| x.is_finite()) {
        return Ok(());
    }
    let size = (900, 600);
    if is_png(path) {
        write_png(path, size, |root| draw_cdf(root, title, series))
    } else {
        draw_cdf(
            SVGBackend::new(path, size).into_drawing_area(),
            title,
            series,
        )
    }
}

fn draw_cdf<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &[(String, Vec<f64>)],
) -> anyhow::Result<()> {
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|x| x.is_finite())
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.02).max(1e-6);
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("QoE")
        .y_desc("CDF")
        .draw()
        .map_err(err)?;
    for (i, (name, v)) in series.iter().enumerate() {
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        let n = s.len() as f64;
        let mut pts = Vec::with_capacity(2 * s.len());
        for (k, x) in s.iter().enumerate() {
            pts.push((*x, k as f64 / n));
            pts.push((*x, (k + 1) as f64 / n));
        }
        let c = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Writes a timeline of one playback: chosen bitrate and measured throughput (kbps, left axis)
/// and buffer level (s, right axis) against the session clock. PNG if `path` ends in `.png`,
/// SVG otherwise.
pub fn plot_timeline(path: &Path, p: &Playback) -> anyhow::Result<()> {
    register_font()?;
    let size = (1000, 500);
    if is_png(path) {
        write_png(path, size, |root| draw_timeline(root, p))
    } else {
        draw_timeline(SVGBackend::new(path, size).into_drawing_area(), p)
    }
}

fn draw_timeline<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    p: &Playback,
) -> anyhow::Result<()> {
    let end = p
        .events
        .last()
        .map_or(1.0, |e| (e.request_ms + e.time_ms + e.idle_ms) / 1000.0)
        .max(1.0);
    let top_kbps = p
        .events
        .iter()
        .map(|e| e.bitrate_kbps.max(e.throughput_kbps))
        .fold(1.0, f64::max)
        * 1.05;
    let top_buf = p
        .events
        .iter()
        .map(|e| e.buffer_after_ms / 1000.0)
        .fold(1.0, f64::max)
        * 1.05;
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{} on {} ({})", p.abr, p.trace, p.model),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(50)
        .build_cartesian_2d(0.0..end, 0.0..top_kbps)
        .map_err(err)?
        .set_secondary_coord(0.0..end, 0.0..top_buf);
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("kbps")
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .y_desc("buffer (s)")
        .draw()
        .map_err(err)?;
    let done: Vec<_> = p.chunks().collect();
    let mut rate = Vec::new();
    let mut tput = Vec::new();
    let mut buf = Vec::new();
    for e in &done {
        let (t0, t1) = (e.request_ms / 1000.0, (e.request_ms + e.time_ms) / 1000.0);
        rate.push((t0, e.bitrate_kbps));
        rate.push((t1, e.bitrate_kbps));
        tput.push((t1, e.throughput_kbps));
        buf.push((t0, e.buffer_before_ms / 1000.0));
        buf.push((t1, e.buffer_after_ms / 1000.0));
    }
    let (c0, c1, c2) = (COLORS[0], COLORS[1], COLORS[2]);
    chart
        .draw_series(LineSeries::new(rate, c0.stroke_width(2)))
        .map_err(err)?
        .label("bitrate (kbps)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c0.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(tput, c1.stroke_width(1)))
        .map_err(err)?
        .label("throughput sample (kbps)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c1.stroke_width(1)));
    chart
        .draw_secondary_series(LineSeries::new(buf, c2.stroke_width(1)))
        .map_err(err)?
        .label("buffer (s)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c2.stroke_width(1)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
