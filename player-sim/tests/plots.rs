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
    let cfg = StudyConfig::for_model(ModelKind::Pensieve, vec!["bba".into(), "robustmpc".into()]);
    let s = study::run_with_jobs(Some(1), &movie, &traces, &cfg).unwrap();
    let d = tempfile::tempdir().unwrap();
    player_sim::output::write_study(d.path(), &s, &serde_json::json!({})).unwrap();

    let plots = [
        ("cdf_qoe", (900, 600)),
        ("timeline_bba", (1000, 500)),
        ("timeline_robustmpc", (1000, 500)),
    ];
    for (stem, (w, h)) in plots {
        let svg = std::fs::read_to_string(d.path().join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("<text"), "{stem}.svg");
        let png = d.path().join(format!("{stem}.png"));
        let (pw, ph, px) = decode(&png);
        assert_eq!((pw, ph), (w, h), "{}", png.display());
        assert_drawn(&png, &px);
    }
}

#[test]
fn plot_format_follows_the_extension() {
    let d = tempfile::tempdir().unwrap();
    let series = vec![
        ("a".to_string(), vec![1.0, 2.0, 3.0, 5.0]),
        ("b".to_string(), vec![0.5, 2.5, 4.0]),
    ];
    for name in ["x.png", "x.PNG", "x.svg"] {
        player_sim::output::plot_cdf(&d.path().join(name), "t", &series).unwrap();
    }
    let magic = |n: &str| std::fs::read(d.path().join(n)).unwrap()[..4].to_vec();
    assert_eq!(magic("x.png"), b"\x89PNG");
    assert_eq!(magic("x.PNG"), b"\x89PNG");
    assert_eq!(magic("x.svg"), b"<svg");
    let (w, h, px) = decode(&d.path().join("x.png"));
    assert_eq!((w, h), (900, 600));
    assert_drawn(Path::new("x.png"), &px);
    // Identical inputs, identical bytes.
    player_sim::output::plot_cdf(&d.path().join("y.png"), "t", &series).unwrap();
    assert_eq!(
        std::fs::read(d.path().join("x.png")).unwrap(),
        std::fs::read(d.path().join("y.png")).unwrap()
    );
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
