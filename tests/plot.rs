//! Figures: every kind renders to SVG with its text, files are written and decodable, PNG text
//! is really drawn, and bad data (NaN, empty, out of range) never panics.
use std::path::PathBuf;

use score_sde::book::plot::{
    histogram_density, palette, viridis, Chart, Figure, Heatmap, Layer, Legend, RGBColor,
};
use score_sde::ndarray::Array2;
use score_sde::rand::RngExt;
use score_sde::rand_distr::StandardNormal;
use score_sde::rng::seeded;
use score_sde::Error;

fn normals(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = seeded(seed);
    (0..n)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect()
}

/// The trimmed contents of the SVG `<text>` elements.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

fn has_text(svg: &str, text: &str) -> bool {
    texts(svg).iter().any(|t| t == text)
}

fn count(svg: &str, tag: &str) -> usize {
    svg.matches(tag).count()
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join("score-sde-plot-tests").join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gaussian_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

fn sample_chart() -> Chart {
    let xs: Vec<f64> = (0..=200).map(|i| -4.0 + 8.0 * i as f64 / 200.0).collect();
    let pdf: Vec<f64> = xs.iter().map(|&x| gaussian_pdf(x)).collect();
    let wide: Vec<f64> = xs.iter().map(|&x| gaussian_pdf(x / 1.5) / 1.5).collect();
    Chart::new("Density of x at t = 0")
        .x_label("x")
        .y_label("density p(x)")
        .histogram("samples (n = 5000)", normals(5000, 1), 40, (-4.0, 4.0))
        .line("exact N(0, 1)", xs.clone(), pdf)
        .dashed_line("N(0, 1.5²)", xs, wide)
        .vline("mean", 0.0)
}

fn sample_heatmap() -> Heatmap {
    let ts: Vec<f64> = (0..60).map(|i| 0.01 + i as f64 / 60.0).collect();
    let xs: Vec<f64> = (0..80).map(|i| -3.0 + 6.0 * i as f64 / 79.0).collect();
    let mut hm = Heatmap::from_fn("Diffused density p_t(x)", ts, xs, |t, x| {
        let s2 = 0.05 + t;
        (-0.5 * (x - 1.0) * (x - 1.0) / s2).exp() / (2.0 * std::f64::consts::PI * s2).sqrt()
    })
    .x_label("time t")
    .y_label("x")
    .colorbar_label("p_t(x)");
    hm.values[[3, 5]] = f64::NAN;
    hm
}

fn sample_paths() -> Chart {
    let times: Vec<f64> = (0..=200).map(|i| i as f64 / 200.0).collect();
    let mut rng = seeded(7);
    let paths: Vec<Vec<f64>> = (0..40)
        .map(|_| {
            let mut x = 0.0;
            times
                .iter()
                .map(|_| {
                    x += 0.07 * rng.sample::<f64, _>(StandardNormal);
                    x
                })
                .collect()
        })
        .collect();
    Chart::new("Brownian paths")
        .x_label("time t")
        .y_label("X_t")
        .paths(times.clone(), paths, 0.35)
        .line(
            "+2 sqrt(t)",
            times.clone(),
            times.iter().map(|t| 2.0 * t.sqrt()).collect::<Vec<_>>(),
        )
        .line(
            "-2 sqrt(t)",
            times.clone(),
            times.iter().map(|t| -2.0 * t.sqrt()).collect::<Vec<_>>(),
        )
        .hline("", 0.0)
}

fn sample_grid() -> Figure {
    let xs: Vec<f64> = (0..=100).map(|i| -4.0 + 8.0 * i as f64 / 100.0).collect();
    let panels: Vec<Chart> = [0, 250, 500, 1000]
        .iter()
        .enumerate()
        .map(|(k, step)| {
            let s = 0.4 + 0.6 * k as f64 / 3.0;
            let fit: Vec<f64> = xs.iter().map(|&x| gaussian_pdf(x / s) / s).collect();
            Chart::new(format!("step {step}"))
                .x_label("x")
                .y_label("density")
                .line("model", xs.clone(), fit)
                .dashed_line(
                    "target",
                    xs.clone(),
                    xs.iter().map(|&x| gaussian_pdf(x)).collect::<Vec<_>>(),
                )
        })
        .collect();
    Figure::grid(2, panels).with_title("Fit during training")
}

#[test]
fn chart_svg_has_text_and_elements() {
    let svg = sample_chart().to_svg_string((900, 560)).unwrap();
    for text in [
        "Density of x at t = 0",
        "density p(x)",
        "x",
        "samples (n = 5000)",
        "exact N(0, 1)",
        "N(0, 1.5²)",
        "mean",
    ] {
        assert!(has_text(&svg, text), "missing {text:?}");
    }
    // 40 translucent bars (+ their outlines), the solid line, dashes of the others.
    assert!(count(&svg, "<rect") >= 40, "{} rects", count(&svg, "<rect"));
    assert!(count(&svg, "<polyline") >= 3);
}

#[test]
fn points_and_log_axes_render() {
    let xs: Vec<f64> = (1..=50).map(|i| i as f64).collect();
    let ys: Vec<f64> = xs.iter().map(|x| 1.0 / (x * x)).collect();
    let svg = Chart::new("Power law")
        .x_label("steps")
        .y_label("loss")
        .points("measured", xs.clone(), ys.clone())
        .line("1/n²", xs, ys)
        .log_x()
        .log_y()
        .to_svg_string((900, 560))
        .unwrap();
    for text in ["Power law", "steps", "loss", "measured", "1/n²"] {
        assert!(has_text(&svg, text), "missing {text:?}");
    }
    // 50 markers plus the legend marker.
    assert!(count(&svg, "<circle") >= 51);
}

#[test]
fn histogram_has_one_bar_per_bin_and_unit_area() {
    let samples = normals(2000, 3);
    let svg = Chart::new("Hist")
        .histogram("h", samples.clone(), 10, None)
        .to_svg_string((900, 560))
        .unwrap();
    assert!(count(&svg, "<rect") >= 10);
    let (edges, dens) = histogram_density(&samples, 10, None);
    assert_eq!((edges.len(), dens.len()), (11, 10));
    let area: f64 = dens
        .iter()
        .zip(edges.windows(2))
        .map(|(d, e)| d * (e[1] - e[0]))
        .sum();
    assert!((area - 1.0).abs() < 1e-12, "area {area}");
    // A range covering half the data integrates to the fraction inside.
    let (edges, dens) = histogram_density(&samples, 10, Some((0.0, 100.0)));
    let area: f64 = dens
        .iter()
        .zip(edges.windows(2))
        .map(|(d, e)| d * (e[1] - e[0]))
        .sum();
    let inside = samples.iter().filter(|&&x| x >= 0.0).count() as f64 / 2000.0;
    assert!((area - inside).abs() < 1e-12);
}

#[test]
fn paths_render_one_line_each_without_legend() {
    let svg = sample_paths().to_svg_string((900, 560)).unwrap();
    // 40 paths + 2 envelopes; the unlabelled reference line is dashed (many short lines).
    assert!(count(&svg, "<polyline") >= 42);
    assert!(svg.contains("+2 sqrt(t)") && svg.contains("Brownian paths"));
}

#[test]
fn heatmap_svg_has_cells_colorbar_and_grey_nan() {
    let hm = sample_heatmap();
    let svg = hm.to_svg_string((900, 560)).unwrap();
    for text in ["Diffused density p_t(x)", "time t", "p_t(x)"] {
        assert!(has_text(&svg, text), "missing {text:?}");
    }
    assert!(count(&svg, "<rect") >= 60 * 80 + 128);
    assert!(svg.contains(&hex(palette::MISSING)), "no grey NaN cell");
    // Ragged rows and shapes that do not fit are errors, not panics.
    let ragged = Heatmap::from_rows(
        "r",
        vec![0.0, 1.0],
        vec![0.0, 1.0],
        &[vec![1.0, 2.0], vec![3.0]],
    );
    assert!(matches!(ragged, Err(Error::ShapeMismatch { .. })));
    let bad = Heatmap::new("b", vec![0.0, 1.0, 2.0], vec![0.0], Array2::zeros((2, 1)));
    assert!(matches!(
        bad.to_svg_string((900, 560)),
        Err(Error::ShapeMismatch { .. })
    ));
    let unsorted = Heatmap::new("u", vec![1.0, 0.0], vec![0.0], Array2::zeros((2, 1)));
    assert!(matches!(
        unsorted.to_svg_string((900, 560)),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn grid_has_every_panel() {
    let fig = sample_grid();
    let svg = fig.to_svg_string(fig.default_size()).unwrap();
    for text in [
        "Fit during training",
        "step 0",
        "step 250",
        "step 500",
        "step 1000",
        "target",
    ] {
        assert!(has_text(&svg, text), "missing {text:?}");
    }
    assert!(count(&svg, "<polyline") >= 4);
    // A grid may hold heatmaps too, and no panel at all.
    let mixed = Figure::grid(3, [Figure::from(sample_heatmap()), sample_chart().into()]);
    mixed.to_svg_string(mixed.default_size()).unwrap();
    Figure::grid(0, Vec::<Figure>::new())
        .to_svg_string((400, 300))
        .unwrap();
}

#[test]
fn viridis_anchors_and_missing() {
    assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
    assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
    assert_eq!(viridis(-3.0), viridis(0.0));
    assert_eq!(viridis(f64::NAN), palette::MISSING);
    // Luminance increases along the map (perceptually ordered).
    let lum = |t: f64| {
        let c = viridis(t);
        0.2126 * c.0 as f64 + 0.7152 * c.1 as f64 + 0.0722 * c.2 as f64
    };
    assert!((0..100).all(|i| lum(i as f64 / 100.0) < lum((i + 1) as f64 / 100.0)));
}

fn png_ok(path: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() > 10_000,
        "{} only {} bytes",
        path.display(),
        bytes.len()
    );
    bytes
}

#[test]
fn save_writes_svg_and_png_with_text() {
    let dir = out_dir("save");
    let [svg, png] = sample_chart().save(dir.join("chart")).unwrap();
    assert_eq!(svg, dir.join("chart.svg"));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let with_title = png_ok(&png);
    // Same figure without its title: the PNGs differ only if text is really rasterised.
    let mut untitled = sample_chart();
    untitled.title.clear();
    let [_, png2] = untitled.save(dir.join("untitled")).unwrap();
    assert_ne!(with_title, png_ok(&png2));
    // A stem with a dot keeps it: `fig.v2` -> `fig.v2.svg`.
    let [svg3, _] = Chart::new("dots").save(dir.join("fig.v2")).unwrap();
    assert!(svg3.ends_with("fig.v2.svg"));
}

#[test]
fn file_errors_are_reported() {
    let dir = out_dir("errors");
    let c = Chart::new("e");
    assert!(matches!(
        c.save_png(dir.join("x.jpg"), (900, 560)),
        Err(Error::InvalidParameter { .. })
    ));
    // A parent that is a file cannot be created.
    std::fs::write(dir.join("file"), b"").unwrap();
    assert!(matches!(
        c.save_svg(dir.join("file/x.svg"), (900, 560)),
        Err(Error::Io { .. })
    ));
    assert!(matches!(
        c.save_png(dir.join("file/x.png"), (900, 560)),
        Err(Error::Io { .. })
    ));
    assert!(matches!(
        c.to_svg_string((10, 10)),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn evcxr_bundle_is_png_then_svg() {
    let bundle = Chart::new("nb")
        .line("l", vec![0.0, 1.0], vec![1.0, 0.0])
        .evcxr_bundle()
        .unwrap();
    // PNG first (shown untrusted), base64 on one line ("iVBORw0KGgo" is the PNG signature).
    assert!(bundle.starts_with("EVCXR_BEGIN_CONTENT image/png\niVBORw0KGgo"));
    assert!(bundle.contains("\nEVCXR_END_CONTENT\nEVCXR_BEGIN_CONTENT image/svg+xml\n<svg"));
    assert!(bundle.ends_with("</svg>\nEVCXR_END_CONTENT"));
    assert!(!bundle.contains("text/html"));
}

#[test]
fn nan_empty_and_out_of_range_do_not_panic() {
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let charts = [
        Chart::new("empty chart"),
        Chart::new("all NaN")
            .line("l", vec![nan, nan], vec![nan, 1.0])
            .points("p", vec![inf], vec![nan])
            .histogram("h", vec![nan, inf], 10, None)
            .paths(vec![0.0, 1.0], vec![vec![nan, nan], vec![]], nan),
        Chart::new("holes")
            .line(
                "l",
                vec![0.0, 1.0, nan, 3.0, 4.0],
                vec![0.0, 1.0, 2.0, inf, 4.0],
            )
            .histogram("zero bins", vec![1.0, 1.0, 1.0], 0, None)
            .hline("nan ref", nan),
        Chart::new("log with non-positive")
            .line("l", vec![-1.0, 0.0, 1.0, 10.0], vec![1.0, -2.0, 0.0, 5.0])
            .histogram("h", vec![0.5, 1.0, 2.0], 5, None)
            .log_x()
            .log_y(),
        Chart::new("mismatched lengths").line("l", vec![0.0, 1.0, 2.0], vec![1.0]),
        Chart::new("single point")
            .points("p", vec![2.0], vec![2.0])
            .line("l", vec![1.0], vec![1.0]),
        Chart::new("huge values inside a fixed range")
            .line("l", vec![0.0, 0.5, 1.0], vec![0.0, 1e300, 0.0])
            .points("p", vec![0.5, 1e200], vec![0.5, 0.5])
            .x_range(0.0, 1.0)
            .y_range(0.0, 1.0),
    ];
    for c in &charts {
        let svg = c
            .to_svg_string((900, 560))
            .unwrap_or_else(|e| panic!("{}: {e}", c.title));
        assert!(svg.contains(&c.title));
        c.to_svg_string((120, 90)).unwrap();
    }
    // Clipping: nothing of the 1e300 spike is drawn outside the image.
    let svg = charts[6].to_svg_string((900, 560)).unwrap();
    for pts in svg.split("points=\"").skip(1) {
        let pts = &pts[..pts.find('"').unwrap()];
        for xy in pts.split_whitespace() {
            for v in xy.split(',') {
                let v: f64 = v.parse().unwrap();
                assert!((0.0..=900.0).contains(&v), "{v} outside the image");
            }
        }
    }
    // An absurd bin count is clamped, not allocated.
    Chart::new("bins")
        .histogram("h", vec![0.0, 1.0], usize::MAX, None)
        .to_svg_string((900, 560))
        .unwrap();
    // Panels far too small to be useful still do not panic (they may report an error).
    let crowded = Figure::grid(5, vec![Figure::from(sample_chart()); 20]);
    let _ = crowded.to_svg_string((120, 90));
    let crowded = Figure::grid(6, vec![Figure::from(sample_heatmap()); 36]);
    let _ = crowded.to_svg_string((120, 90));
    // Invalid fixed ranges are errors.
    let bad = Chart::new("bad").x_range(1.0, 1.0);
    assert!(matches!(
        bad.to_svg_string((900, 560)),
        Err(Error::InvalidParameter { .. })
    ));
    let bad = Chart::new("bad").y_range(-1.0, 1.0).log_y();
    assert!(matches!(
        bad.to_svg_string((900, 560)),
        Err(Error::InvalidParameter { .. })
    ));
    // Heatmaps: all NaN, a single cell, NaN value range.
    let all_nan = Heatmap::new(
        "nan map",
        vec![0.0, 1.0],
        vec![0.0],
        Array2::from_elem((2, 1), nan),
    );
    assert!(all_nan
        .to_svg_string((900, 560))
        .unwrap()
        .contains("nan map"));
    Heatmap::new("one", vec![0.0], vec![0.0], Array2::ones((1, 1)))
        .to_svg_string((900, 560))
        .unwrap();
    let empty = Heatmap::new("empty", Vec::<f64>::new(), vec![0.0], Array2::zeros((0, 1)));
    assert!(empty.to_svg_string((900, 560)).is_err());
    let bad_range =
        Heatmap::new("r", vec![0.0], vec![0.0], Array2::ones((1, 1))).value_range(nan, 1.0);
    assert!(bad_range.to_svg_string((900, 560)).is_err());
}

#[test]
fn legend_positions_and_styles() {
    let xs = vec![0.0, 1.0, 2.0];
    for legend in [
        Legend::Auto,
        Legend::UpperLeft,
        Legend::UpperRight,
        Legend::LowerLeft,
        Legend::LowerRight,
    ] {
        let svg = Chart::new("legend")
            .layer(
                Layer::line("custom", xs.clone(), xs.clone())
                    .color(palette::RED)
                    .width(4)
                    .dashed(),
            )
            .legend(legend)
            .to_svg_string((900, 560))
            .unwrap();
        assert!(svg.contains("custom"));
    }
    let off = Chart::new("legend")
        .line("hidden label", xs.clone(), xs)
        .legend(Legend::Off)
        .to_svg_string((900, 560))
        .unwrap();
    assert!(!off.contains("hidden label"));
}

/// `(x, y)` of the legend box: the translucent white rectangle.
fn legend_xy(svg: &str) -> (f64, f64) {
    let r = svg
        .split("<rect")
        .find(|r| r.contains("opacity=\"0.8\" fill=\"#FFFFFF\""))
        .expect("no legend box");
    let attr = |name: &str| -> f64 {
        let from = r.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        r[from..from + r[from..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    (attr("x"), attr("y"))
}

#[test]
fn auto_legend_avoids_the_data() {
    let xs: Vec<f64> = (0..=50).map(|i| i as f64 / 10.0).collect();
    let rising: Vec<f64> = xs.iter().map(|x| x * x).collect();
    let falling: Vec<f64> = xs.iter().map(|x| 25.0 - x * x).collect();
    let at = |ys: &Vec<f64>| {
        let c = Chart::new("auto").line("curve", xs.clone(), ys.clone());
        legend_xy(&c.to_svg_string((900, 560)).unwrap())
    };
    // Rising data fills the upper right: the legend goes upper left.
    let (x, y) = at(&rising);
    assert!(x < 450.0 && y < 280.0, "({x}, {y})");
    // Falling data fills the upper left: the legend goes upper right.
    let (x, y) = at(&falling);
    assert!(x > 450.0 && y < 280.0, "({x}, {y})");
}

const BLACK: RGBColor = RGBColor(0, 0, 0);

/// `#RRGGBB`, as the SVG backend writes colours.
fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The trimmed `<text>` contents with this `text-anchor` (`end`: y ticks, `start`: legend
/// entries and colour-bar ticks, `middle`: titles, axis labels and x ticks).
fn texts_anchored(svg: &str, anchor: &str) -> Vec<String> {
    let key = format!("text-anchor=\"{anchor}\"");
    svg.split("<text")
        .skip(1)
        .filter(|t| t[..t.find('>').unwrap()].contains(&key))
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

/// The points of every `<polyline>` stroked in `color`.
fn polylines(svg: &str, color: RGBColor) -> Vec<Vec<(f64, f64)>> {
    let key = format!("stroke=\"{}\"", hex(color));
    svg.split("<polyline")
        .skip(1)
        .map(|p| &p[..p.find("/>").unwrap()])
        .filter(|p| p.contains(&key))
        .map(|p| {
            let from = p.find("points=\"").unwrap() + 8;
            p[from..from + p[from..].find('"').unwrap()]
                .split_whitespace()
                .map(|xy| {
                    let (x, y) = xy.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// Elements of kind `tag` (`"<rect"`, `"<circle"`) filled with `color`.
fn filled(svg: &str, tag: &str, color: RGBColor) -> usize {
    let key = format!("fill=\"{}\"", hex(color));
    svg.split(tag)
        .skip(1)
        .filter(|e| e[..e.find("/>").unwrap()].contains(&key))
        .count()
}

/// The plotting area `(left, right, top, bottom)` in pixels: the span of the two axis lines
/// of a single chart (the longest black polylines).
fn plot_box(svg: &str) -> (f64, f64, f64, f64) {
    let lines = polylines(svg, BLACK);
    let span = |vertical: bool| {
        lines
            .iter()
            .filter(|l| l.len() == 2 && (l[0].0 == l[1].0) == vertical)
            .max_by(|a, b| {
                let len = |l: &&Vec<(f64, f64)>| (l[1].0 - l[0].0).abs() + (l[1].1 - l[0].1).abs();
                len(a).total_cmp(&len(b))
            })
            .cloned()
            .expect("no axis line")
    };
    let (x_axis, y_axis) = (span(false), span(true));
    let (l, r) = (x_axis[0].0.min(x_axis[1].0), x_axis[0].0.max(x_axis[1].0));
    let (t, b) = (y_axis[0].1.min(y_axis[1].1), y_axis[0].1.max(y_axis[1].1));
    (l, r, t, b)
}

/// Decimals of a tick label (`"0.25"` -> 2, `"10"` -> 0).
fn decimals(label: &str) -> usize {
    label.split_once('.').map_or(0, |(_, d)| d.len())
}

fn assert_texts(svg: &str, expected: &[&str]) {
    for text in expected {
        assert!(has_text(svg, text), "missing {text:?}");
    }
}

/// Writes one figure of each kind (SVG and PNG, `$TMPDIR/score-sde-plot-tests/gallery`) for a
/// visual check, and checks in each SVG what a reader relies on: titles and legend labels,
/// series colours in palette order, readable ticks, and data clipped to the plotting area.
#[test]
fn gallery() {
    let dir = out_dir("gallery");
    let save = |name: &str, fig: Figure| {
        let [svg, png] = fig.save(dir.join(name)).unwrap();
        png_ok(&png);
        std::fs::read_to_string(svg).unwrap()
    };

    // Layers take palette colours in order; the reference line is dark grey.
    let svg = save("chart", sample_chart().into());
    assert_texts(
        &svg,
        &[
            "Density of x at t = 0",
            "x",
            "density p(x)",
            "samples (n = 5000)",
            "exact N(0, 1)",
            "N(0, 1.5²)",
            "mean",
        ],
    );
    let (_, dens) = histogram_density(&normals(5000, 1), 40, Some((-4.0, 4.0)));
    let bars = dens.iter().filter(|&&d| d > 0.0).count();
    // One translucent rectangle per non-empty bin, plus the legend swatch.
    assert_eq!(filled(&svg, "<rect", palette::BLUE), bars + 1);
    let long = |c| polylines(&svg, c).iter().filter(|l| l.len() > 50).count();
    assert_eq!(long(palette::ORANGE), 1, "the solid line is one polyline");
    assert_eq!(
        long(palette::GREEN),
        0,
        "the dashed line is drawn in dashes"
    );
    assert!(polylines(&svg, palette::GREEN).len() > 20);
    // The vertical mean line in dashes at one x; its legend glyph is two short dashes.
    let (dashes, glyph): (Vec<_>, Vec<_>) = polylines(&svg, palette::REFERENCE)
        .into_iter()
        .partition(|l| l.iter().all(|p| p.0 == l[0].0));
    assert!(dashes.len() > 10 && dashes.iter().all(|d| d[0].0 == dashes[0][0].0));
    assert_eq!(glyph.len(), 2);
    // Every y tick has the same number of decimals.
    let ticks = texts_anchored(&svg, "end");
    assert_eq!(ticks, ["0.0", "0.1", "0.2", "0.3", "0.4"]);

    // 40 translucent paths, no legend entry for them or the unlabelled reference line.
    let svg = save("paths", sample_paths().into());
    assert_texts(&svg, &["Brownian paths", "time t", "X_t"]);
    let paths = svg.matches("opacity=\"0.35\" stroke=\"#1F77B4\"").count();
    assert_eq!(paths, 40);
    assert_eq!(texts_anchored(&svg, "start"), ["+2 sqrt(t)", "-2 sqrt(t)"]);
    assert!(!polylines(&svg, palette::ORANGE).is_empty());
    assert!(!polylines(&svg, palette::GREEN).is_empty());

    // One cell per value, the NaN cell grey, the extremes at the ends of viridis.
    let svg = save("heatmap", sample_heatmap().into());
    assert_texts(&svg, &["Diffused density p_t(x)", "time t", "x", "p_t(x)"]);
    assert_eq!(filled(&svg, "<rect", palette::MISSING), 1);
    assert_eq!(filled(&svg, "<rect", viridis(1.0)), 1, "one maximal cell");
    assert!(
        filled(&svg, "<rect", viridis(0.0)) > 100,
        "the far tails are minimal"
    );
    let bar_ticks = texts_anchored(&svg, "start");
    assert!(bar_ticks.len() >= 3, "{bar_ticks:?}");
    assert!(bar_ticks
        .iter()
        .all(|t| decimals(t) == decimals(&bar_ticks[0])));

    let svg = save("grid", sample_grid());
    assert_texts(
        &svg,
        &[
            "Fit during training",
            "step 0",
            "step 250",
            "step 500",
            "step 1000",
        ],
    );
    let models = polylines(&svg, palette::BLUE);
    assert_eq!(models.iter().filter(|l| l.len() > 50).count(), 4);
    assert_eq!(
        texts_anchored(&svg, "start").len(),
        8,
        "model and target per panel"
    );

    // Log axes: ticks at powers of ten, every marker drawn.
    let xs: Vec<f64> = (0..=40).map(|i| 10f64.powf(i as f64 / 10.0)).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|x| 3.0 / x + 1e-3 * normals(1, *x as u64)[0].abs())
        .collect();
    let loglog = Chart::new("Loss (log-log)")
        .x_label("training step")
        .y_label("loss")
        .points("measured", xs.clone(), ys)
        .line(
            "3 / n",
            xs.clone(),
            xs.iter().map(|x| 3.0 / x).collect::<Vec<_>>(),
        )
        .log_x()
        .log_y();
    let svg = save("loglog", loglog.into());
    let x_ticks: Vec<String> = texts_anchored(&svg, "middle")
        .into_iter()
        .filter(|t| t.parse::<f64>().is_ok())
        .collect();
    assert_eq!(x_ticks, ["1", "10", "100", "1000", "10000"]);
    assert_eq!(texts_anchored(&svg, "end"), ["0.001", "0.01", "0.1", "1"]);
    assert_eq!(filled(&svg, "<circle", palette::BLUE), 41 + 1);

    // Fixed ranges: the line is cut where it leaves the plotting area, not run along its
    // edge, and markers outside are dropped.
    let n = 400;
    let xs: Vec<f64> = (0..=n)
        .map(|i| 4.0 * std::f64::consts::PI * i as f64 / n as f64)
        .collect();
    let sin: Vec<f64> = xs.iter().map(|x| x.sin()).collect();
    let cos: Vec<f64> = xs.iter().step_by(8).map(|x| x.cos()).collect();
    let marks: Vec<f64> = xs.iter().copied().step_by(8).collect();
    let clipped = Chart::new("Clipped to |y| <= 0.5")
        .line("sin x", xs.clone(), sin)
        .points("cos x", marks, cos.clone())
        .x_range(0.0, 4.0 * std::f64::consts::PI)
        .y_range(-0.5, 0.5)
        .legend(Legend::Off);
    let svg = save("clipped", clipped.into());
    let (l, r, t, b) = plot_box(&svg);
    let pieces = polylines(&svg, palette::BLUE);
    // sin x stays within ±0.5 around its 5 zeros in [0, 4π].
    assert_eq!(pieces.len(), 5);
    let on_edge = |y: f64| (y - t).abs() <= 1.0 || (y - b).abs() <= 1.0;
    for piece in &pieces {
        for &(x, y) in piece {
            assert!(x >= l - 1.0 && x <= r + 1.0 && y >= t - 1.0 && y <= b + 1.0);
        }
        assert!(!piece.windows(2).any(|w| on_edge(w[0].1) && on_edge(w[1].1)));
    }
    for piece in &pieces[1..4] {
        assert!(on_edge(piece[0].1) && on_edge(piece[piece.len() - 1].1));
    }
    let visible = cos.iter().filter(|c| c.abs() <= 0.5).count();
    assert_eq!(filled(&svg, "<circle", palette::ORANGE), visible);

    let xs: Vec<f64> = (0..=50).map(|i| i as f64 / 10.0).collect();
    let rising = Chart::new("Rising data: legend moves left")
        .x_label("x")
        .y_label("y")
        .line(
            "x²",
            xs.clone(),
            xs.iter().map(|x| x * x).collect::<Vec<_>>(),
        )
        .points(
            "x² + noise",
            xs.clone(),
            xs.iter()
                .zip(normals(51, 9))
                .map(|(x, e)| x * x + e)
                .collect::<Vec<_>>(),
        );
    let svg = save(
        "grid_mixed",
        Figure::grid(
            3,
            [
                Figure::from(sample_heatmap()),
                rising.into(),
                sample_paths().into(),
            ],
        ),
    );
    assert_texts(
        &svg,
        &[
            "Diffused density p_t(x)",
            "Rising data: legend moves left",
            "Brownian paths",
            "x²",
            "x² + noise",
            "+2 sqrt(t)",
        ],
    );

    // No data: title, labels and the unit square's ticks, nothing coloured.
    let svg = save(
        "empty",
        Chart::new("An empty chart")
            .x_label("x")
            .y_label("y")
            .into(),
    );
    assert_texts(&svg, &["An empty chart", "x", "y", "0.0", "1.0"]);
    assert_eq!(texts_anchored(&svg, "end").len(), 6);
    assert!(palette::CATEGORICAL.iter().all(|&c| !svg.contains(&hex(c))));
}
