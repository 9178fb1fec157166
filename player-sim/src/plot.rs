//! Charts for the outputs, each as SVG or PNG (by the file's extension): CDFs, mean ± 95 % CI
//! bar panels, line charts, and a playback's timeline.
//!
//! Every series gets its own [`SeriesStyle`]: a colour from the Okabe–Ito palette (its yellow
//! left out: too pale on white), a dash pattern and a marker shape, so that up to
//! `PALETTE.len() × DASHES.len()` = 28 series differ in (colour, dash) and curves stay apart
//! in greyscale print. Legends sit in a column right of the data area (never over the data).
//! Text uses an embedded DejaVu Sans, so no system fonts are needed.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::events::Playback;

/// Okabe–Ito colours without yellow: black, orange, sky blue, bluish green, blue, vermillion,
/// reddish purple (distinct for the common colour-vision deficiencies).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
];

/// A line's dash pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dash {
    /// Continuous.
    Solid,
    /// Long dashes.
    Dashed,
    /// Dots.
    Dotted,
    /// Dash, dot.
    DashDot,
}

/// The dash patterns in assignment order.
pub const DASHES: [Dash; 4] = [Dash::Solid, Dash::Dashed, Dash::Dotted, Dash::DashDot];

impl Dash {
    /// Alternating on/off lengths in pixels (empty: solid).
    pub fn pattern(self) -> &'static [f64] {
        match self {
            Dash::Solid => &[],
            Dash::Dashed => &[10.0, 5.0],
            Dash::Dotted => &[2.5, 4.0],
            Dash::DashDot => &[10.0, 4.0, 2.5, 4.0],
        }
    }
}

/// A marker shape drawn at a few points of a series and in its legend entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Marker {
    /// Filled circle.
    Circle,
    /// Filled triangle.
    Triangle,
    /// Filled square.
    Square,
    /// Diagonal cross.
    Cross,
    /// Filled diamond.
    Diamond,
}

/// The marker shapes in assignment order.
pub const MARKERS: [Marker; 5] = [
    Marker::Circle,
    Marker::Triangle,
    Marker::Square,
    Marker::Cross,
    Marker::Diamond,
];

/// How one series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesStyle {
    /// Line and marker colour.
    pub color: RGBColor,
    /// Dash pattern.
    pub dash: Dash,
    /// Marker shape.
    pub marker: Marker,
}

/// The style of series `i`: colour `i mod 7`, dash `(i / 7) mod 4`, marker `i mod 5`. The
/// first 28 series differ pairwise in (colour, dash); consecutive ones also differ in marker.
pub fn series_style(i: usize) -> SeriesStyle {
    SeriesStyle {
        color: PALETTE[i % PALETTE.len()],
        dash: DASHES[(i / PALETTE.len()) % DASHES.len()],
        marker: MARKERS[i % MARKERS.len()],
    }
}

/// Splits a polyline (pixels) into the drawn pieces of a dash `pattern` (alternating on/off
/// lengths, see [`Dash::pattern`]; empty = one solid piece). The pattern runs on along the
/// whole line, across its vertices.
pub fn dash_polyline(pts: &[(f64, f64)], pattern: &[f64]) -> Vec<Vec<(f64, f64)>> {
    if pattern.is_empty() || pts.len() < 2 || pattern.iter().any(|&l| l <= 0.0) {
        return vec![pts.to_vec()];
    }
    let mut pieces = Vec::new();
    let mut cur = vec![pts[0]];
    let (mut k, mut left) = (0, pattern[0]);
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let len = (x1 - x0).hypot(y1 - y0);
        let mut at = 0.0;
        while len - at > left {
            at += left;
            let p = (x0 + (x1 - x0) * at / len, y0 + (y1 - y0) * at / len);
            if k % 2 == 0 {
                cur.push(p);
                pieces.push(std::mem::take(&mut cur));
            } else {
                cur = vec![p];
            }
            k = (k + 1) % pattern.len();
            left = pattern[k];
        }
        left -= len - at;
        if k % 2 == 0 {
            cur.push((x1, y1));
        }
    }
    if k % 2 == 0 && cur.len() > 1 {
        pieces.push(cur);
    }
    pieces
}

/// Two-sided 95 % quantile of Student's t with `df` degrees of freedom: exact table values for
/// 1–4, the Cornish–Fisher expansion to 1/df⁴ (Abramowitz & Stegun 26.7.5) from 5 on (error
/// < 1e-3).
pub fn t_quantile_975(df: usize) -> f64 {
    const SMALL: [f64; 4] = [12.706, 4.303, 3.182, 2.776];
    if df == 0 {
        return f64::NAN;
    }
    if df <= 4 {
        return SMALL[df - 1];
    }
    let z: f64 = 1.959_963_984_540_054;
    let n = df as f64;
    let (z3, z5, z7, z9) = (z.powi(3), z.powi(5), z.powi(7), z.powi(9));
    z + (z3 + z) / (4.0 * n)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * n * n)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * n.powi(3))
        + (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / (92160.0 * n.powi(4))
}

/// Mean of `v` and the half-width of its 95 % confidence interval, `t(0.975, n−1)·sd/√n`
/// (Student's t, sample standard deviation; 0 for fewer than two values).
pub fn mean_ci95(v: &[f64]) -> (f64, f64) {
    let n = v.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_quantile_975(n - 1) * (var / n as f64).sqrt())
}

/// Drawing or writing a plot failed.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The plotting library failed; its message.
    #[error("plot: {0}")]
    Draw(String),
    /// The embedded font could not be registered.
    #[error("plot: the embedded font could not be loaded")]
    Font,
    /// The image file could not be created.
    #[error("creating {}", path.display())]
    Create {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Encoding or writing the PNG failed.
    #[error(transparent)]
    Png(#[from] png::EncodingError),
}

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// DejaVu Sans (see `assets/LICENSE-DejaVu.txt`): plotters' `ab_glyph` text renderer has no
/// system fonts, so the bitmap (and the SVG backend's text layout) use this embedded face.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded DejaVu Sans with plotters as "sans-serif" (and, as a stand-in, as
/// "serif" and "monospace"), once per process. With plotters' `ab_glyph` text renderer any
/// chart with text, SVG or bitmap, fails with `FontUnavailable` for an unregistered family, so
/// code drawing its own charts calls this first; every function here does.
pub fn register_font() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        ["sans-serif", "serif", "monospace"]
            .iter()
            .all(|f| plotters::style::register_font(f, FontStyle::Normal, FONT).is_ok())
    });
    if !ok {
        return Err(PlotError::Font);
    }
    Ok(())
}

/// Draws with `draw` into an SVG or, if `path` ends in `.png`, a PNG of `size`.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
    draw_svg: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    register_font()?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        write_png(path, size, draw)
    } else {
        draw_svg(SVGBackend::new(path, size).into_drawing_area())
    }
}

/// Draws into an RGB buffer and writes it as an 8-bit RGB PNG with the `png` crate (plotters'
/// own file encoder would pull in the whole `image` crate, ~25 s more of clean build).
fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    let mut buf = vec![0u8; 3 * w as usize * h as usize];
    draw(BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area())?;
    let file = std::fs::File::create(path).map_err(|source| PlotError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut out = enc.write_header()?;
    out.write_image_data(&buf)?;
    out.finish()?;
    Ok(())
}

/// Draws a polyline (backend pixels) in `st`'s colour and dash pattern.
fn draw_line<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    px: &[(f64, f64)],
    st: &SeriesStyle,
    width: u32,
) -> Result<(), PlotError> {
    for piece in dash_polyline(px, st.dash.pattern()) {
        let pts: Vec<(i32, i32)> = piece
            .iter()
            .map(|&(x, y)| (x.round() as i32, y.round() as i32))
            .collect();
        root.draw(&PathElement::new(pts, st.color.stroke_width(width)))
            .map_err(err)?;
    }
    Ok(())
}

/// Draws `st`'s marker centred at `(x, y)` (backend pixels).
fn draw_marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    st: &SeriesStyle,
) -> Result<(), PlotError> {
    let (c, r) = (st.color, 5);
    match st.marker {
        Marker::Circle => root.draw(&Circle::new((x, y), r, c.filled())),
        Marker::Triangle => root.draw(&TriangleMarker::new((x, y), r + 1, c.filled())),
        Marker::Square => root.draw(&Rectangle::new(
            [(x - 4, y - 4), (x + 4, y + 4)],
            c.filled(),
        )),
        Marker::Cross => root.draw(&Cross::new((x, y), r, c.stroke_width(2))),
        Marker::Diamond => root.draw(&Polygon::new(
            vec![
                (x, y - r - 1),
                (x + r + 1, y),
                (x, y + r + 1),
                (x - r - 1, y),
            ],
            c.filled(),
        )),
    }
    .map_err(err)
}

/// The legend column: one row per series (line sample with its dash, its marker if the chart
/// draws `markers`, name) from `top` pixels below the top of `area` (coordinates relative to
/// `area`).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    names: &[&str],
    styles: &[SeriesStyle],
    top: i32,
    markers: bool,
) -> Result<(), PlotError> {
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    for (i, (name, st)) in names.iter().zip(styles).enumerate() {
        let y = top + 22 * i as i32;
        draw_line(area, &[(6.0, y as f64), (46.0, y as f64)], st, 2)?;
        if markers {
            draw_marker(area, (26, y), st)?;
        }
        area.draw(&Text::new(legend_label(name), (54, y - 8), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// Backend pixels to `area`-relative pixels.
fn rebase<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, px: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let (bx, by) = area.get_base_pixel();
    px.iter()
        .map(|&(x, y)| (x - bx as f64, y - by as f64))
        .collect()
}

/// Width of the legend column right of the data area, pixels.
pub const LEGEND_WIDTH: u32 = 240;

/// A legend label: names longer than 24 characters are cut to fit [`LEGEND_WIDTH`].
fn legend_label(name: &str) -> String {
    if name.chars().count() <= 24 {
        name.to_string()
    } else {
        name.chars().take(23).chain(['…']).collect()
    }
}

/// A CDF chart: title, x-axis label (with units), and named samples.
pub struct Cdf<'a> {
    /// Chart title (say the model and the trace set).
    pub title: &'a str,
    /// X-axis label, with units.
    pub x_desc: &'a str,
    /// (name, samples) per series.
    pub series: &'a [(String, Vec<f64>)],
    /// Start the x axis at this quantile of all samples (e.g. 0.01 for a long left tail; say
    /// so in `x_desc`) instead of at the minimum.
    pub x_from_quantile: Option<f64>,
}

/// Writes an empirical CDF of each series (step curve, styled by [`series_style`], markers at
/// five quantiles, legend right of the data): PNG if `path` ends in `.png`, SVG otherwise.
/// Nothing is written if no sample is finite.
pub fn plot_cdf(path: &Path, cdf: &Cdf<'_>) -> Result<(), PlotError> {
    if !cdf.series.iter().flat_map(|s| &s.1).any(|x| x.is_finite()) {
        return Ok(());
    }
    let size = (900 + LEGEND_WIDTH, 600);
    render(path, size, |r| draw_cdf(r, cdf), |r| draw_cdf(r, cdf))
}

fn draw_cdf<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    cdf: &Cdf<'_>,
) -> Result<(), PlotError> {
    let names: Vec<&str> = cdf.series.iter().map(|s| s.0.as_str()).collect();
    let styles: Vec<SeriesStyle> = (0..names.len()).map(series_style).collect();
    let all: Vec<f64> = cdf
        .series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|x| x.is_finite())
        .collect();
    let lo = match cdf.x_from_quantile {
        Some(q) => {
            let mut s = all.clone();
            s.sort_by(f64::total_cmp);
            s[((q.clamp(0.0, 1.0) * s.len() as f64) as usize).min(s.len() - 1)]
        }
        None => all.iter().copied().fold(f64::INFINITY, f64::min),
    };
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.02).max(1e-6);
    let lo = lo - pad;
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(cdf.title, ("sans-serif", 20)).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let (plot, legend) = root.split_horizontally(w - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(lo..(hi + pad), 0.0..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(cdf.x_desc)
        .y_desc("fraction ≤ x (CDF)")
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (i, (_, v)) in cdf.series.iter().enumerate() {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if s.is_empty() {
            continue;
        }
        s.sort_by(f64::total_cmp);
        let n = s.len() as f64;
        let mut px = Vec::with_capacity(2 * s.len());
        for (k, x) in s.iter().enumerate() {
            for y in [k as f64 / n, (k + 1) as f64 / n] {
                let (a, b) = chart.backend_coord(&(x.max(lo), y));
                px.push((a as f64, b as f64));
            }
        }
        draw_line(&root, &rebase(&root, &px), &styles[i], 2)?;
        // Markers at five CDF levels, shifted a little per series so they do not coincide.
        for k in 0..5 {
            let level = 0.1 + 0.2 * k as f64 + 0.02 * ((i % 5) as f64 - 2.0);
            let x = s[((level * n) as usize).min(s.len() - 1)];
            if x < lo {
                continue;
            }
            let (a, b) = chart.backend_coord(&(x, level));
            let (bx, by) = root.get_base_pixel();
            draw_marker(&root, (a - bx, b - by), &styles[i])?;
        }
    }
    draw_legend(&legend, &names, &styles, 30, true)?;
    root.present().map_err(err)?;
    Ok(())
}

/// One panel of a bar chart: a value per series with a 95 % confidence interval.
pub struct BarPanel {
    /// Panel title (the quantity).
    pub title: String,
    /// Axis label, with units.
    pub x_desc: String,
    /// (mean, CI half-width) per series, in the chart's series order.
    pub values: Vec<(f64, f64)>,
}

/// Writes side-by-side horizontal bar panels, one bar per series (in [`series_style`]'s colour)
/// with a 95 % CI whisker, the series names on the first panel's axis: PNG if `path` ends in
/// `.png`, SVG otherwise.
pub fn plot_bars(
    path: &Path,
    title: &str,
    names: &[String],
    panels: &[BarPanel],
) -> Result<(), PlotError> {
    let size = (
        180 + 420 * panels.len() as u32,
        140 + 30 * names.len() as u32,
    );
    render(
        path,
        size,
        |r| draw_bars(r, title, names, panels),
        |r| draw_bars(r, title, names, panels),
    )
}

fn draw_bars<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    names: &[String],
    panels: &[BarPanel],
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let first = w - 420 * (panels.len() as u32).saturating_sub(1);
    let mut rest = root.clone();
    let n = names.len();
    for (p, panel) in panels.iter().enumerate() {
        let area;
        (area, rest) = rest.split_horizontally(if p == 0 { first } else { 420 });
        let lo = panel.values.iter().map(|(m, h)| m - h).fold(0.0, f64::min);
        let hi = panel.values.iter().map(|(m, h)| m + h).fold(0.0, f64::max);
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let x0 = if lo < 0.0 { lo - pad } else { 0.0 };
        let mut chart = ChartBuilder::on(&area)
            .caption(&panel.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(if p == 0 { first - 400 } else { 10 })
            .build_cartesian_2d(x0..hi + pad, (0..n).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n + 1)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if p == 0 && *i < n => names[n - 1 - *i].clone(),
                _ => String::new(),
            })
            .x_desc(panel.x_desc.as_str())
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        for (i, &(mean, half)) in panel.values.iter().enumerate() {
            let st = series_style(i);
            let row = n - 1 - i;
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row)),
                    (mean, SegmentValue::Exact(row + 1)),
                ],
                st.color.mix(0.85).filled(),
            );
            bar.set_margin(4, 4, 0, 0);
            chart.draw_series(std::iter::once(bar)).map_err(err)?;
            let (a, y) = chart.backend_coord(&(mean - half, SegmentValue::CenterOf(row)));
            let (b, _) = chart.backend_coord(&(mean + half, SegmentValue::CenterOf(row)));
            let (bx, by) = root.get_base_pixel();
            let (a, b, y) = (a - bx, b - bx, y - by);
            let whisker = BLACK.stroke_width(2);
            root.draw(&PathElement::new(vec![(a, y), (b, y)], whisker))
                .map_err(err)?;
            for x in [a, b] {
                root.draw(&PathElement::new(vec![(x, y - 5), (x, y + 5)], whisker))
                    .map_err(err)?;
            }
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

/// A line chart: title, axis labels (with units), y range, and named (x, y) series.
pub struct Lines<'a> {
    /// Chart title.
    pub title: &'a str,
    /// X-axis label, with units.
    pub x_desc: &'a str,
    /// Y-axis label, with units.
    pub y_desc: &'a str,
    /// Y range (the x range covers the data).
    pub y_range: std::ops::Range<f64>,
    /// (name, points) per series.
    pub series: &'a [(String, Vec<(f64, f64)>)],
}

/// Writes a line chart (styled by [`series_style`], markers on about a dozen of each series'
/// points, legend right of the data): PNG if `path` ends in `.png`, SVG otherwise.
pub fn plot_lines(path: &Path, lines: &Lines<'_>) -> Result<(), PlotError> {
    let size = (900 + LEGEND_WIDTH, 500);
    render(
        path,
        size,
        |r| draw_lines(r, lines),
        |r| draw_lines(r, lines),
    )
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    lines: &Lines<'_>,
) -> Result<(), PlotError> {
    let names: Vec<&str> = lines.series.iter().map(|s| s.0.as_str()).collect();
    let styles: Vec<SeriesStyle> = (0..names.len()).map(series_style).collect();
    let xs = lines.series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (lo, hi) = if lo < hi { (lo, hi) } else { (0.0, 1.0) };
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(lines.title, ("sans-serif", 20)).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let (plot, legend) = root.split_horizontally(w - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(lo..hi, lines.y_range.clone())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(lines.x_desc)
        .y_desc(lines.y_desc)
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    let (bx, by) = root.get_base_pixel();
    for (i, (_, pts)) in lines.series.iter().enumerate() {
        let px: Vec<(f64, f64)> = pts
            .iter()
            .map(|p| {
                let (a, b) = chart.backend_coord(p);
                (a as f64, b as f64)
            })
            .collect();
        draw_line(&root, &rebase(&root, &px), &styles[i], 2)?;
        // About a dozen markers per series, at its points.
        let step = px.len().div_ceil(12).max(1);
        for &(a, b) in px.iter().step_by(step) {
            draw_marker(&root, (a as i32 - bx, b as i32 - by), &styles[i])?;
        }
    }
    draw_legend(&legend, &names, &styles, 30, true)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Writes a timeline of one playback: chosen bitrate and measured throughput (kbps, left axis)
/// and buffer level (s, right axis) against the session clock, titled with the algorithm,
/// trace and model. PNG if `path` ends in `.png`, SVG otherwise.
pub fn plot_timeline(path: &Path, p: &Playback) -> Result<(), PlotError> {
    let size = (900 + LEGEND_WIDTH, 500);
    render(path, size, |r| draw_timeline(r, p), |r| draw_timeline(r, p))
}

fn draw_timeline<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    p: &Playback,
) -> Result<(), PlotError> {
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
    let title = format!("{} on trace {} — {} model", p.abr, p.trace, p.model);
    let root = root.titled(&title, ("sans-serif", 20)).map_err(err)?;
    let names = [
        "bitrate (kbps)",
        "throughput sample (kbps)",
        "buffer (s, right axis)",
    ];
    let (w, _) = root.dim_in_pixel();
    let (plot, legend) = root.split_horizontally(w - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .right_y_label_area_size(55)
        .build_cartesian_2d(0.0..end, 0.0..top_kbps)
        .map_err(err)?
        .set_secondary_coord(0.0..end, 0.0..top_buf);
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("bitrate (kbps)")
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .y_desc("buffer (s)")
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    let done: Vec<_> = p.chunks().collect();
    let (mut rate, mut tput, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    let px = |c: (i32, i32)| (c.0 as f64, c.1 as f64);
    for e in &done {
        let (t0, t1) = (e.request_ms / 1000.0, (e.request_ms + e.time_ms) / 1000.0);
        rate.push(px(chart.backend_coord(&(t0, e.bitrate_kbps))));
        rate.push(px(chart.backend_coord(&(t1, e.bitrate_kbps))));
        tput.push(px(chart.backend_coord(&(t1, e.throughput_kbps))));
        let sec = chart.borrow_secondary();
        buf.push(px(sec.backend_coord(&(t0, e.buffer_before_ms / 1000.0))));
        buf.push(px(sec.backend_coord(&(t1, e.buffer_after_ms / 1000.0))));
    }
    // Bitrate solid black, throughput dashed orange, buffer dotted sky blue.
    let styles = [0, 8, 16].map(series_style);
    for (line, st) in [rate, tput, buf].iter().zip(&styles) {
        draw_line(&root, &rebase(&root, line), st, 2)?;
    }
    draw_legend(&legend, &names, &styles, 30, false)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_follow_the_pattern_across_vertices() {
        // 0..30 along x then 30..60 along y: 10 on, 5 off, ...
        let pts = [(0.0, 0.0), (30.0, 0.0), (30.0, 30.0)];
        let p = dash_polyline(&pts, &[10.0, 5.0]);
        let len = |v: &Vec<(f64, f64)>| {
            v.windows(2)
                .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
                .sum::<f64>()
        };
        assert_eq!(p.len(), 4);
        for piece in &p {
            assert!((len(piece) - 10.0).abs() < 1e-9, "{piece:?}");
        }
        // The third dash (30..40 along the path) turns the corner.
        assert_eq!(p[2], vec![(30.0, 0.0), (30.0, 10.0)]);
        assert_eq!(p[1], vec![(15.0, 0.0), (25.0, 0.0)]);
        assert_eq!(p[3][0], (30.0, 15.0));
        // Solid: the line as it is.
        assert_eq!(dash_polyline(&pts, &[]), vec![pts.to_vec()]);
    }

    #[test]
    fn t_quantiles_match_tables() {
        for (df, t) in [
            (1, 12.706),
            (4, 2.776),
            (5, 2.571),
            (10, 2.228),
            (30, 2.042),
            (141, 1.977),
        ] {
            assert!((t_quantile_975(df) - t).abs() < 1e-3, "df {df}");
        }
        let (m, h) = mean_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(m, 3.5);
        // sd = sqrt(3.5), n = 6, t(5) = 2.571
        assert!((h - 2.571 * (3.5f64 / 6.0).sqrt()).abs() < 1e-3);
        assert_eq!(mean_ci95(&[2.0]), (2.0, 0.0));
    }
}
