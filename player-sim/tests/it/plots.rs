//! Plots: a study writes every plot as SVG and PNG; the PNGs decode, have the expected size and
//! carry a drawing (curves in colour and text, not a blank canvas).

use std::path::{Path, PathBuf};

use player_sim::input;
use player_sim::model::ModelKind;
use player_sim::study::{self, StudyConfig};

fn shared(p: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/abr-traces"
    ))
    .join(p)
}

/// Decodes an 8-bit RGB PNG: (width, height, pixels).
fn decode(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{}", path.display());
    let px = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

/// Not blank: mostly white background, but a fair share of drawn pixels, dark ones (axes,
/// text) and coloured ones (the series).
fn assert_drawn(path: &Path, px: &[[u8; 3]]) {
    let n = px.len() as f64;
    let white = px.iter().filter(|p| **p == [255, 255, 255]).count() as f64;
    let dark = px.iter().filter(|p| p.iter().all(|&c| c < 80)).count() as f64;
    let colour = px
        .iter()
        .filter(|p| p.iter().max().unwrap() - p.iter().min().unwrap() > 60)
        .count() as f64;
    let name = path.display();
    assert!(
        white / n > 0.5 && white / n < 0.995,
        "{name}: white {white}/{n}"
    );
    assert!(
        dark > 500.0,
        "{name}: only {dark} dark pixels (no axes/text?)"
    );
    assert!(
        colour > 500.0,
        "{name}: only {colour} coloured pixels (no curves?)"
    );
}

#[test]
fn study_writes_png_and_svg_plots() {
    let movie = input::read_ladder(&shared("pensieve/envivio")).unwrap();
    let mut traces = input::read_trace_dir(&shared("pensieve/hsdpa_test"), None).unwrap();
    traces.truncate(6);
    let cfg = StudyConfig::for_model(
        ModelKind::Pensieve,
        vec!["bba".parse().unwrap(), "robustmpc".parse().unwrap()],
    );
    let s = study::run_with_jobs(Some(1), &movie, &traces, &cfg).unwrap();
    let d = tempfile::tempdir().unwrap();
    let meta = serde_json::json!({});
    player_sim::output::write_study(d.path(), &s, &cfg, "hsdpa_test", &meta).unwrap();

    // The CDFs and line charts are 900 px wide plus a legend column sized to the names.
    let plots = [
        ("cdf_qoe", (1140, 600)),
        ("cdf_qoe_chunk", (1140, 600)),
        ("qoe_bars", (1440, 200)),
        ("timeline_bba", (1140, 500)),
        ("timeline_robustmpc", (1140, 500)),
    ];
    for (stem, (w, h)) in plots {
        let svg = std::fs::read_to_string(d.path().join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<text"), "{stem}.svg");
        let png = d.path().join(format!("{stem}.png"));
        let (pw, ph, px) = decode(&png);
        assert_eq!((pw, ph), (w, h), "{}", png.display());
        assert_drawn(&png, &px);
    }
    // Titles name the model and the trace set; axes carry units; legends name the series.
    let cdf = std::fs::read_to_string(d.path().join("cdf_qoe.svg")).unwrap();
    assert!(
        cdf.contains("pensieve model, hsdpa_test (6 traces)"),
        "title"
    );
    assert!(cdf.contains("chunks 2..N (Pensieve score)"), "x label");
    assert!(
        cdf.contains("\nrobustmpc\n") && cdf.contains("\nbba\n"),
        "legend"
    );
    let chunk = std::fs::read_to_string(d.path().join("cdf_qoe_chunk.svg")).unwrap();
    assert!(chunk.contains("QoE_lin per chunk = bitrate (Mbps)"));
    let bars = std::fs::read_to_string(d.path().join("qoe_bars.svg")).unwrap();
    assert!(bars.contains("95 % CI") && bars.contains("(kbps)") && bars.contains("(s)"));
    let tl = std::fs::read_to_string(d.path().join("timeline_bba.svg")).unwrap();
    assert!(tl.contains("time (s)") && tl.contains("buffer (s)") && tl.contains("bitrate (kbps)"));
}

#[test]
fn per_chunk_qoe_sums_to_the_session_score() {
    let movie = input::read_ladder(&shared("pensieve/envivio")).unwrap();
    let mut traces = input::read_trace_dir(&shared("pensieve/hsdpa_test"), None).unwrap();
    traces.truncate(3);
    for skip_first in [true, false] {
        let mut cfg = StudyConfig::for_model(ModelKind::Pensieve, vec!["bola-e".parse().unwrap()]);
        cfg.qoe.skip_first = skip_first;
        let s = study::run(&movie, &traces, &cfg).unwrap();
        for r in &s.results {
            let p = r.playback.as_ref().unwrap();
            let v = player_sim::metrics::chunk_qoe_lin(p, &cfg.qoe);
            assert_eq!(v.len(), if skip_first { 47 } else { 48 });
            assert_eq!(v.iter().fold(0.0, |a, x| a + x), r.metrics.qoe_lin);
            // Chunk 2's term by hand.
            let c: Vec<_> = p.chunks().collect();
            let want = c[1].bitrate_kbps / 1000.0
                - 4.3 * (c[1].rebuffer_ms / 1000.0)
                - (c[1].bitrate_kbps - c[0].bitrate_kbps).abs() / 1000.0;
            assert!((v[usize::from(!skip_first)] - want).abs() < 1e-12);
        }
    }
}

#[test]
fn every_series_has_its_own_colour_and_dash() {
    use player_sim::plot::{series_style, DASHES, PALETTE};
    let n = PALETTE.len() * DASHES.len();
    assert!(n >= player_sim::abr::AbrKind::BUILT_IN.len());
    let styles: Vec<_> = (0..n).map(series_style).collect();
    let pairs: std::collections::HashSet<_> = styles.iter().map(|s| (s.color, s.dash)).collect();
    assert_eq!(pairs.len(), n, "(colour, dash) repeats within {n} series");
    // Neighbours in the legend also differ in colour and marker.
    for w in styles.windows(2) {
        assert_ne!(w[0].color, w[1].color);
        assert_ne!(w[0].marker, w[1].marker);
    }
    // Greyscale: the palette's luminances are spread out, and no colour is near-white.
    let luma = |c: &plotters::style::RGBColor| {
        0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64
    };
    assert!(PALETTE.iter().all(|c| luma(c) < 200.0));
}

#[test]
fn plot_format_follows_the_extension() {
    use player_sim::plot::{plot_cdf, Cdf};
    let d = tempfile::tempdir().unwrap();
    let series = vec![
        ("a".to_string(), vec![1.0, 2.0, 3.0, 5.0]),
        ("b".to_string(), vec![0.5, 2.5, 4.0]),
    ];
    let cdf = Cdf {
        title: "t",
        x_desc: "x (units)",
        series: &series,
        x_from_quantile: None,
    };
    for name in ["x.png", "x.PNG", "x.svg"] {
        plot_cdf(&d.path().join(name), &cdf).unwrap();
    }
    let magic = |n: &str| std::fs::read(d.path().join(n)).unwrap()[..4].to_vec();
    assert_eq!(magic("x.png"), b"\x89PNG");
    assert_eq!(magic("x.PNG"), b"\x89PNG");
    assert_eq!(magic("x.svg"), b"<svg");
    let (w, h, px) = decode(&d.path().join("x.png"));
    assert_eq!((w, h), (1140, 600));
    assert_drawn(Path::new("x.png"), &px);
    // Identical inputs, identical bytes.
    plot_cdf(&d.path().join("y.png"), &cdf).unwrap();
    assert_eq!(
        std::fs::read(d.path().join("x.png")).unwrap(),
        std::fs::read(d.path().join("y.png")).unwrap()
    );
}

#[test]
fn line_charts_and_bars_write_both_formats() {
    use player_sim::plot::{plot_bars, plot_lines, BarPanel, Lines};
    let d = tempfile::tempdir().unwrap();
    let series = vec![
        ("all".to_string(), vec![(0.0, 0.2), (1.0, 0.5), (2.0, 0.9)]),
        (
            "edge-a".to_string(),
            vec![(0.0, 0.1), (1.0, 0.6), (2.0, 0.8)],
        ),
    ];
    let names = vec!["a".to_string(), "b".to_string()];
    let panels = [BarPanel {
        title: "q".into(),
        x_desc: "q (units)".into(),
        values: vec![(3.0, 0.5), (-1.0, 0.2)],
    }];
    for ext in ["svg", "png"] {
        let lines = Lines {
            title: "hits",
            x_desc: "time (s)",
            y_desc: "ratio",
            y_range: 0.0..1.0,
            series: &series,
        };
        plot_lines(&d.path().join(format!("l.{ext}")), &lines).unwrap();
        plot_bars(&d.path().join(format!("b.{ext}")), "bars", &names, &panels).unwrap();
    }
    let (w, h, px) = decode(&d.path().join("l.png"));
    assert_eq!((w, h), (1140, 500));
    assert_drawn(Path::new("l.png"), &px);
    let (w, h, px) = decode(&d.path().join("b.png"));
    assert_eq!((w, h), (600, 200));
    assert_drawn(Path::new("b.png"), &px);
    assert!(std::fs::read_to_string(d.path().join("l.svg"))
        .unwrap()
        .contains("edge-a"));
}

#[test]
fn own_charts_can_use_the_embedded_font() {
    use plotters::prelude::*;
    // plotters' ab_glyph text renderer knows only registered families.
    player_sim::output::register_font().unwrap();
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("own.svg");
    {
        let root = SVGBackend::new(&path, (300, 200)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        let mut chart = ChartBuilder::on(&root)
            .caption("own chart", ("sans-serif", 20))
            .x_label_area_size(30)
            .y_label_area_size(30)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .unwrap();
        chart
            .configure_mesh()
            .x_desc("x")
            .y_desc("y")
            .draw()
            .unwrap();
        root.present().unwrap();
    }
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("own chart"));
}
