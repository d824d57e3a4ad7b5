//! Figures for the book and the notebooks: a small, data-only description of a figure
//! ([`Chart`], [`Heatmap`], [`Figure`]) rendered with plotters to SVG or PNG files, to an SVG
//! string, or inline in an evcxr notebook.
//!
//! ```no_run
//! use score_sde::book::plot::Chart;
//! let xs: Vec<f64> = (0..100).map(|i| i as f64 / 10.0).collect();
//! let ys: Vec<f64> = xs.iter().map(|x| x.sin()).collect();
//! Chart::new("A sine").x_label("x").y_label("sin x").line("sin", xs, ys).save("target/sine")?;
//! # Ok::<(), score_sde::Error>(())
//! ```
//!
//! Conventions, so that bad data never panics:
//! - non-finite points (and non-positive ones on a log axis) are skipped; a skipped point breaks
//!   a line into two pieces;
//! - everything is clipped to the axis ranges, so fixed ranges never draw over the axes;
//! - axis ranges not given are the data range padded by 5% (a histogram's density axis starts
//!   at 0); a chart with no drawable data renders its title and axes on the unit square;
//! - invalid *settings* (a range with `lo >= hi`, a heatmap whose shape does not fit its axes,
//!   an image smaller than [`MIN_SIZE`]) are reported as errors;
//! - PNG text uses the DejaVu Sans font bundled by the `dejavu` crate (no system fonts needed).
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ndarray::Array2;
use plotters::chart::{ChartBuilder, ChartContext, LabelAreaPosition, SeriesLabelPosition};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::combinators::{IntoLogRange, LogCoord};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{Circle, EmptyElement, PathElement, Rectangle};
use plotters::prelude::{BitMapBackend, DashedLineSeries, DrawingBackend, LineSeries, SVGBackend};
use plotters::style::{
    register_font, Color, FontStyle, IntoFont, RGBAColor, ShapeStyle, TextStyle, BLACK, WHITE,
};

use crate::error::{Error, Result};

pub mod inline;

pub use plotters::style::RGBColor;

/// Fixed colours: a tab10-like categorical palette assigned to layers in order, plus the
/// colours of reference lines and of non-finite heatmap cells.
pub mod palette {
    use super::RGBColor;

    pub const BLUE: RGBColor = RGBColor(31, 119, 180);
    pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
    pub const GREEN: RGBColor = RGBColor(44, 160, 44);
    pub const RED: RGBColor = RGBColor(214, 39, 40);
    pub const PURPLE: RGBColor = RGBColor(148, 103, 189);
    pub const BROWN: RGBColor = RGBColor(140, 86, 75);
    pub const PINK: RGBColor = RGBColor(227, 119, 194);
    pub const GREY: RGBColor = RGBColor(127, 127, 127);
    pub const OLIVE: RGBColor = RGBColor(188, 189, 34);
    pub const CYAN: RGBColor = RGBColor(23, 190, 207);
    /// Layer colours in the order they are handed out.
    pub const CATEGORICAL: [RGBColor; 10] = [
        BLUE, ORANGE, GREEN, RED, PURPLE, BROWN, PINK, GREY, OLIVE, CYAN,
    ];
    /// Default colour of [`hline`](super::Chart::hline) / [`vline`](super::Chart::vline).
    pub const REFERENCE: RGBColor = RGBColor(64, 64, 64);
    /// Colour of NaN / infinite heatmap cells.
    pub const MISSING: RGBColor = RGBColor(190, 190, 190);
}

/// Size used by `save`, `evcxr_display` and friends for a single chart or heatmap.
pub const DEFAULT_SIZE: (u32, u32) = (900, 560);
/// Smallest image accepted by the `save_*` / `to_svg_string` functions.
pub const MIN_SIZE: (u32, u32) = (120, 90);

/// Viridis-like anchors at `t = 0, 1/8, ..., 1` (matplotlib's viridis sampled at 9 points).
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (72, 40, 120),
    (62, 73, 137),
    (49, 104, 142),
    (38, 130, 142),
    (31, 158, 137),
    (53, 183, 121),
    (109, 205, 89),
    (253, 231, 37),
];

/// Perceptual colour for `t` in `[0, 1]` (clamped), linearly interpolated between viridis
/// anchors; NaN gives [`palette::MISSING`].
pub fn viridis(t: f64) -> RGBColor {
    if t.is_nan() {
        return palette::MISSING;
    }
    let s = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (s.floor() as usize).min(VIRIDIS.len() - 2);
    let f = s - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + f * (q as f64 - p as f64)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Most bins a histogram is drawn with (more are clamped to this).
pub const MAX_BINS: usize = 100_000;

/// Histogram of the finite `samples` as a density: returns `(edges, density)` with
/// `bins + 1` edges and `bins` heights (`bins` is clamped to `1..=MAX_BINS`). Counts are divided by the number
/// of *all* finite samples times the bin width, so the bars have area 1 when the range covers
/// the data (the default, `range = None`) and integrate to the fraction inside otherwise — the
/// right normalisation to compare with a true density. A degenerate range is widened by ±0.5.
pub fn histogram_density(
    samples: &[f64],
    bins: usize,
    range: Option<(f64, f64)>,
) -> (Vec<f64>, Vec<f64>) {
    let bins = bins.clamp(1, MAX_BINS);
    let finite: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    let (mut lo, mut hi) = match range {
        Some((a, b)) if a.is_finite() && b.is_finite() => (a.min(b), a.max(b)),
        _ => finite
            .iter()
            .fold(None, |acc: Option<(f64, f64)>, &x| match acc {
                None => Some((x, x)),
                Some((a, b)) => Some((a.min(x), b.max(x))),
            })
            .unwrap_or((0.0, 1.0)),
    };
    if hi <= lo {
        lo -= 0.5;
        hi += 0.5;
    }
    let width = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|i| lo + i as f64 * width).collect();
    let mut counts = vec![0usize; bins];
    for &x in &finite {
        if x >= lo && x <= hi {
            let i = (((x - lo) / width).floor() as usize).min(bins - 1);
            counts[i] += 1;
        }
    }
    let norm = finite.len() as f64 * width;
    let density = counts
        .iter()
        .map(|&c| if norm > 0.0 { c as f64 / norm } else { 0.0 })
        .collect();
    (edges, density)
}

// ---------------------------------------------------------------------------------------------
// Data description
// ---------------------------------------------------------------------------------------------

/// What a [`Layer`] draws.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    /// A polyline through `(xs[i], ys[i])` (the shorter length wins).
    Line { xs: Vec<f64>, ys: Vec<f64> },
    /// Small filled markers.
    Points { xs: Vec<f64>, ys: Vec<f64> },
    /// Translucent bars of [`histogram_density`].
    Histogram {
        samples: Vec<f64>,
        bins: usize,
        range: Option<(f64, f64)>,
    },
    /// Many thin translucent lines sharing the abscissae `times` (trajectories).
    Paths {
        times: Vec<f64>,
        paths: Vec<Vec<f64>>,
        alpha: f64,
    },
    /// A horizontal reference line at this `y`.
    HLine(f64),
    /// A vertical reference line at this `x`.
    VLine(f64),
}

/// One thing drawn on a [`Chart`], with its legend label (empty: not in the legend) and style.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub label: String,
    pub kind: LayerKind,
    /// `None`: the next colour of [`palette::CATEGORICAL`] ([`palette::REFERENCE`] for
    /// reference lines, which do not consume a palette colour).
    pub color: Option<RGBColor>,
    /// Dashed stroke (lines, paths and reference lines).
    pub dashed: bool,
    /// Stroke width in pixels at the default size (marker radius for points); `None`: 2 for
    /// lines, 1 for paths, radius 3 for points.
    pub width: Option<u32>,
}

impl Layer {
    fn new(label: impl Into<String>, kind: LayerKind) -> Self {
        Layer {
            label: label.into(),
            kind,
            color: None,
            dashed: false,
            width: None,
        }
    }

    /// A solid line.
    pub fn line(
        label: impl Into<String>,
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
    ) -> Self {
        Layer::new(
            label,
            LayerKind::Line {
                xs: xs.into(),
                ys: ys.into(),
            },
        )
    }

    /// A scatter of small markers.
    pub fn points(
        label: impl Into<String>,
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
    ) -> Self {
        Layer::new(
            label,
            LayerKind::Points {
                xs: xs.into(),
                ys: ys.into(),
            },
        )
    }

    /// A density histogram (see [`histogram_density`]); `range` is `None` or `(lo, hi)`.
    pub fn histogram(
        label: impl Into<String>,
        samples: impl Into<Vec<f64>>,
        bins: usize,
        range: impl Into<Option<(f64, f64)>>,
    ) -> Self {
        Layer::new(
            label,
            LayerKind::Histogram {
                samples: samples.into(),
                bins,
                range: range.into(),
            },
        )
    }

    /// Thin lines `paths[k][i]` against `times[i]`, with opacity `alpha` (clamped to
    /// `[0.02, 1]`, NaN: 0.3); no legend entry unless a label is set with [`Layer::label`].
    pub fn paths(times: impl Into<Vec<f64>>, paths: Vec<Vec<f64>>, alpha: f64) -> Self {
        Layer::new(
            "",
            LayerKind::Paths {
                times: times.into(),
                paths,
                alpha,
            },
        )
    }

    /// A dashed horizontal reference line.
    pub fn hline(label: impl Into<String>, y: f64) -> Self {
        Layer::new(label, LayerKind::HLine(y)).dashed()
    }

    /// A dashed vertical reference line.
    pub fn vline(label: impl Into<String>, x: f64) -> Self {
        Layer::new(label, LayerKind::VLine(x)).dashed()
    }

    /// Draws the stroke dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// Draws the stroke solid.
    pub fn solid(mut self) -> Self {
        self.dashed = false;
        self
    }

    /// Overrides the palette colour.
    pub fn color(mut self, color: RGBColor) -> Self {
        self.color = Some(color);
        self
    }

    /// Overrides the stroke width, or the marker radius of points (pixels at the default
    /// size).
    pub fn width(mut self, width: u32) -> Self {
        self.width = Some(width);
        self
    }

    /// Sets the legend label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// Where the legend goes; [`Legend::Auto`] picks the corner covering the least data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Legend {
    #[default]
    Auto,
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
    /// No legend.
    Off,
}

/// A 2-D chart: layers over shared, optionally logarithmic axes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub layers: Vec<Layer>,
    /// `None`: data range plus 5%.
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    pub log_x: bool,
    pub log_y: bool,
    pub legend: Legend,
}

impl Chart {
    /// An empty chart with this title.
    pub fn new(title: impl Into<String>) -> Self {
        Chart {
            title: title.into(),
            ..Chart::default()
        }
    }

    /// Sets the x axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Sets the y axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Adds any layer (for full control over its style).
    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }

    /// Adds a solid line ([`Layer::line`]).
    pub fn line(
        self,
        label: impl Into<String>,
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
    ) -> Self {
        self.layer(Layer::line(label, xs, ys))
    }

    /// Adds a dashed line.
    pub fn dashed_line(
        self,
        label: impl Into<String>,
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
    ) -> Self {
        self.layer(Layer::line(label, xs, ys).dashed())
    }

    /// Adds markers ([`Layer::points`]).
    pub fn points(
        self,
        label: impl Into<String>,
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
    ) -> Self {
        self.layer(Layer::points(label, xs, ys))
    }

    /// Adds a density histogram ([`Layer::histogram`]).
    pub fn histogram(
        self,
        label: impl Into<String>,
        samples: impl Into<Vec<f64>>,
        bins: usize,
        range: impl Into<Option<(f64, f64)>>,
    ) -> Self {
        self.layer(Layer::histogram(label, samples, bins, range))
    }

    /// Adds thin unlabelled trajectories ([`Layer::paths`]).
    pub fn paths(self, times: impl Into<Vec<f64>>, paths: Vec<Vec<f64>>, alpha: f64) -> Self {
        self.layer(Layer::paths(times, paths, alpha))
    }

    /// Adds a dashed horizontal reference line.
    pub fn hline(self, label: impl Into<String>, y: f64) -> Self {
        self.layer(Layer::hline(label, y))
    }

    /// Adds a dashed vertical reference line.
    pub fn vline(self, label: impl Into<String>, x: f64) -> Self {
        self.layer(Layer::vline(label, x))
    }

    /// Fixes the x range (`lo < hi`, both `> 0` on a log axis; checked when drawing).
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }

    /// Fixes the y range (`lo < hi`, both `> 0` on a log axis; checked when drawing).
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// Logarithmic x axis (non-positive x are skipped).
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    /// Logarithmic y axis (non-positive y are skipped).
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Sets the legend position (or [`Legend::Off`]).
    pub fn legend(mut self, legend: Legend) -> Self {
        self.legend = legend;
        self
    }
}

/// Values on a grid drawn as coloured cells, with a colour bar.
///
/// `values[[i, j]]` is the value at `(xs[i], ys[j])`, i.e. shape `[nx, ny]`; `xs` and `ys` are
/// the cell centres, strictly increasing (cells may be uneven: edges are the midpoints).
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    pub values: Array2<f64>,
    pub colorbar_label: String,
    /// Values mapped to the ends of the colour map; `None`: finite min and max.
    pub value_range: Option<(f64, f64)>,
}

impl Heatmap {
    /// A heatmap of `values` with shape `[xs.len(), ys.len()]` (checked when drawing).
    pub fn new(
        title: impl Into<String>,
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
        values: Array2<f64>,
    ) -> Self {
        Heatmap {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            xs: xs.into(),
            ys: ys.into(),
            values,
            colorbar_label: String::new(),
            value_range: None,
        }
    }

    /// From row-major nested vectors `rows[i][j]` at `(xs[i], ys[j])`; errors when ragged.
    pub fn from_rows(
        title: impl Into<String>,
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
        rows: &[Vec<f64>],
    ) -> Result<Self> {
        let ny = rows.first().map_or(0, Vec::len);
        if let Some(bad) = rows.iter().find(|r| r.len() != ny) {
            return Err(Error::shape("heatmap rows", ny, bad.len()));
        }
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let values = Array2::from_shape_vec((rows.len(), ny), flat)
            .map_err(|e| Error::shape("heatmap rows", "a rectangular table", e))?;
        Ok(Heatmap::new(title, xs, ys, values))
    }

    /// Evaluates `f(x, y)` on the grid `xs × ys`.
    pub fn from_fn(
        title: impl Into<String>,
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
        f: impl Fn(f64, f64) -> f64,
    ) -> Self {
        let (xs, ys) = (xs.into(), ys.into());
        let values = Array2::from_shape_fn((xs.len(), ys.len()), |(i, j)| f(xs[i], ys[j]));
        Heatmap::new(title, xs, ys, values)
    }

    /// Sets the x axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Sets the y axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Sets the label of the colour bar.
    pub fn colorbar_label(mut self, label: impl Into<String>) -> Self {
        self.colorbar_label = label.into();
        self
    }

    /// Fixes the values mapped to the ends of the colour map (values outside are clamped).
    pub fn value_range(mut self, lo: f64, hi: f64) -> Self {
        self.value_range = Some((lo, hi));
        self
    }
}

/// Anything this module draws: a chart, a heatmap or a grid of small multiples.
#[derive(Clone, Debug, PartialEq)]
pub enum Figure {
    Chart(Chart),
    Heatmap(Heatmap),
    /// Panels laid out row by row, `cols` per row, under an optional title (empty: none).
    Grid {
        title: String,
        cols: usize,
        panels: Vec<Figure>,
    },
}

impl From<Chart> for Figure {
    fn from(c: Chart) -> Self {
        Figure::Chart(c)
    }
}

impl From<Heatmap> for Figure {
    fn from(h: Heatmap) -> Self {
        Figure::Heatmap(h)
    }
}

impl Figure {
    /// Small multiples: `panels` laid out `cols` per row (`cols = 0` is taken as 1).
    pub fn grid<F: Into<Figure>>(cols: usize, panels: impl IntoIterator<Item = F>) -> Self {
        Figure::Grid {
            title: String::new(),
            cols,
            panels: panels.into_iter().map(Into::into).collect(),
        }
    }

    /// Sets the title (of the grid, or of the single chart / heatmap).
    pub fn with_title(mut self, t: impl Into<String>) -> Self {
        match &mut self {
            Figure::Chart(c) => c.title = t.into(),
            Figure::Heatmap(h) => h.title = t.into(),
            Figure::Grid { title, .. } => *title = t.into(),
        }
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Output: the same methods on Chart, Heatmap and Figure
// ---------------------------------------------------------------------------------------------

trait Render {
    fn render<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;
    fn size(&self) -> (u32, u32);
}

impl Render for Chart {
    fn render<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        draw_chart(self, area)
    }
    fn size(&self) -> (u32, u32) {
        DEFAULT_SIZE
    }
}

impl Render for Heatmap {
    fn render<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        draw_heatmap(self, area)
    }
    fn size(&self) -> (u32, u32) {
        DEFAULT_SIZE
    }
}

impl Render for Figure {
    fn render<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        match self {
            Figure::Chart(c) => draw_chart(c, area),
            Figure::Heatmap(h) => draw_heatmap(h, area),
            Figure::Grid {
                title,
                cols,
                panels,
            } => draw_grid(title, *cols, panels, area),
        }
    }
    fn size(&self) -> (u32, u32) {
        match self {
            Figure::Grid {
                title,
                cols,
                panels,
            } if !panels.is_empty() => {
                let cols = (*cols).clamp(1, panels.len()) as u32;
                let rows = panels.len().div_ceil(cols as usize) as u32;
                let (pw, ph) = if cols == 1 { (900, 480) } else { (480, 340) };
                let th = if title.is_empty() { 0 } else { 50 };
                (cols * pw, rows * ph + th)
            }
            _ => DEFAULT_SIZE,
        }
    }
}

macro_rules! output_methods {
    ($t:ty) => {
        impl $t {
            /// Draws onto any plotters drawing area (the caller fills the background and
            /// presents the area).
            pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
                self.render(area)
            }

            /// Size used by [`save`](Self::save) and [`evcxr_display`](Self::evcxr_display):
            /// [`DEFAULT_SIZE`], or one that keeps every grid panel readable.
            pub fn default_size(&self) -> (u32, u32) {
                self.size()
            }

            /// The figure as a standalone SVG document of `size` pixels.
            pub fn to_svg_string(&self, size: (u32, u32)) -> Result<String> {
                svg_string(self, size)
            }

            /// Writes an SVG file (creating missing parent directories).
            pub fn save_svg(&self, path: impl AsRef<Path>, size: (u32, u32)) -> Result<()> {
                save_svg(self, path.as_ref(), size)
            }

            /// Writes a PNG file; the path must end in `.png` (creating missing parent
            /// directories).
            pub fn save_png(&self, path: impl AsRef<Path>, size: (u32, u32)) -> Result<()> {
                save_png(self, path.as_ref(), size)
            }

            /// Writes `{stem}.svg` and `{stem}.png` at [`default_size`](Self::default_size)
            /// and returns both paths.
            pub fn save(&self, stem: impl AsRef<Path>) -> Result<[PathBuf; 2]> {
                save_both(self, stem.as_ref())
            }

            /// The evcxr display blocks of the figure at [`default_size`](Self::default_size):
            /// `image/png` (base64), which JupyterLab shows even in an untrusted notebook,
            /// and `image/svg+xml` beside it when the SVG is small (see [`inline`]).
            pub fn evcxr_bundle(&self) -> Result<String> {
                inline::evcxr_bundle(self)
            }

            /// Shows the figure inline when it is the value of an evcxr notebook cell (an
            /// error is shown as text instead).
            pub fn evcxr_display(&self) {
                match inline::evcxr_bundle(self) {
                    Ok(bundle) => println!("{bundle}"),
                    Err(e) => println!("{}", inline::evcxr_error(&e)),
                }
            }
        }
    };
}

output_methods!(Chart);
output_methods!(Heatmap);
output_methods!(Figure);

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Registers DejaVu Sans as plotters' "sans-serif" once; every drawing goes through it
/// (with the `ab_glyph` feature even SVG output measures text with it).
fn ensure_fonts() -> Result<()> {
    static FONTS: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let fonts = [
                (FontStyle::Normal, dejavu::sans::regular()),
                (FontStyle::Bold, dejavu::sans::bold()),
                (FontStyle::Oblique, dejavu::sans::oblique()),
                (FontStyle::Italic, dejavu::sans::oblique()),
            ];
            for (style, bytes) in fonts {
                register_font("sans-serif", style, bytes)
                    .map_err(|_| "the bundled DejaVu Sans font could not be loaded".to_string())?;
            }
            Ok(())
        })
        .clone()
        .map_err(Error::Plot)
}

fn check_size(size: (u32, u32)) -> Result<()> {
    if size.0 < MIN_SIZE.0 || size.1 < MIN_SIZE.1 {
        return Err(Error::param(
            "size",
            format!(
                "a figure needs at least {}x{} pixels, got {}x{}",
                MIN_SIZE.0, MIN_SIZE.1, size.0, size.1
            ),
        ));
    }
    Ok(())
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))
        }
        _ => Ok(()),
    }
}

fn svg_string<R: Render>(fig: &R, size: (u32, u32)) -> Result<String> {
    check_size(size)?;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        fig.render(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

fn save_svg<R: Render>(fig: &R, path: &Path, size: (u32, u32)) -> Result<()> {
    let svg = svg_string(fig, size)?;
    create_parent(path)?;
    std::fs::write(path, svg).map_err(|e| io_err(path, e))
}

fn save_png<R: Render>(fig: &R, path: &Path, size: (u32, u32)) -> Result<()> {
    check_size(size)?;
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        return Err(Error::param(
            "path",
            format!("a PNG path must end in .png, got {}", path.display()),
        ));
    }
    create_parent(path)?;
    // Surface an unwritable path as an I/O error before plotters hides it in its own error.
    std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    fig.render(&root)?;
    root.present().map_err(plot_err)
}

fn save_both<R: Render>(fig: &R, stem: &Path) -> Result<[PathBuf; 2]> {
    let with_ext = |ext: &str| {
        let mut s = stem.as_os_str().to_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    let (svg, png) = (with_ext(".svg"), with_ext(".png"));
    save_svg(fig, &svg, fig.size())?;
    save_png(fig, &png, fig.size())?;
    Ok([svg, png])
}

// ---------------------------------------------------------------------------------------------
// Layout and text
// ---------------------------------------------------------------------------------------------

/// Font sizes and strokes scaled to the drawing area (reference: 900 x 560 px). Sizes are
/// plotters font sizes; the rendered em is `size / 1.24` pixels.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    scale: f64,
    title: f64,
    desc: f64,
    tick: f64,
    legend: f64,
    margin: u32,
}

impl Sizes {
    fn for_area(w: u32, h: u32) -> Self {
        let scale = (w as f64 / DEFAULT_SIZE.0 as f64)
            .min(h as f64 / DEFAULT_SIZE.1 as f64)
            .sqrt()
            .clamp(0.75, 1.6);
        Sizes {
            scale,
            title: 29.0 * scale,
            desc: 23.0 * scale,
            tick: (19.0 * scale).max(15.0),
            legend: (18.0 * scale).max(15.0),
            margin: (12.0 * scale).round() as u32,
        }
    }

    fn px(&self, base: f64) -> u32 {
        (base * self.scale).round().max(1.0) as u32
    }
}

fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font())
}

fn title_font(size: f64) -> TextStyle<'static> {
    // `FontDesc::style` keeps the regular glyphs in plotters 0.3.7: build the bold one directly.
    TextStyle::from(("sans-serif", size, FontStyle::Bold).into_font())
}

/// Draws a title above `area` and returns what is left (the area itself for an empty title).
fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    size: f64,
) -> Result<DrawingArea<DB, Shift>> {
    if title.is_empty() {
        return Ok(area.clone());
    }
    let rest = area.titled(title, title_font(size)).map_err(plot_err)?;
    let gap = (size * 0.25).round() as u32;
    Ok(rest.margin(gap, 0, 0, 0))
}

/// How tick values of one axis are printed: a common number of decimals, or scientific.
#[derive(Clone, Copy, Debug)]
enum TickFmt {
    Fixed { decimals: usize, zero: f64 },
    Sci { decimals: usize, zero: f64 },
    PerValue,
}

fn decimals_needed(ticks: &[f64], f: impl Fn(f64, usize) -> f64) -> usize {
    (0..=6)
        .find(|&d| {
            ticks.iter().all(|&t| {
                let r = f(t, d);
                (r - t).abs() <= 1e-9 * t.abs().max(1e-300)
            })
        })
        .unwrap_or(6)
}

fn round_to(t: f64, d: usize) -> f64 {
    let p = 10f64.powi(d as i32);
    (t * p).round() / p
}

fn round_sci(t: f64, d: usize) -> f64 {
    format!("{t:.d$e}").parse().unwrap_or(t)
}

impl TickFmt {
    fn new(ticks: &[f64], log: bool) -> Self {
        if log {
            return TickFmt::PerValue;
        }
        let m = ticks.iter().fold(0f64, |a, t| a.max(t.abs()));
        let zero = 1e-9 * m;
        let ticks: Vec<f64> = ticks.iter().copied().filter(|t| t.abs() > zero).collect();
        if m >= 1e5 || (m > 0.0 && m < 1e-3) {
            let decimals = decimals_needed(&ticks, round_sci).min(4);
            TickFmt::Sci { decimals, zero }
        } else {
            let decimals = decimals_needed(&ticks, round_to);
            TickFmt::Fixed { decimals, zero }
        }
    }

    fn fmt(&self, v: f64) -> String {
        match *self {
            TickFmt::Fixed { decimals, zero } => {
                let v = if v.abs() <= zero { 0.0 } else { v };
                format!("{v:.decimals$}")
            }
            TickFmt::Sci { decimals, zero } => {
                if v.abs() <= zero {
                    "0".into()
                } else {
                    format!("{v:.decimals$e}")
                }
            }
            TickFmt::PerValue => {
                let a = v.abs();
                if (1e-3..1e5).contains(&a) {
                    let d = decimals_needed(&[v], round_to);
                    format!("{v:.d$}")
                } else {
                    let d = decimals_needed(&[v], round_sci).min(4);
                    format!("{v:.d$e}")
                }
            }
        }
    }
}

/// Text width estimate in pixels: DejaVu digits are 0.64 em wide and an em is `size / 1.24`.
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.52
}

// ---------------------------------------------------------------------------------------------
// Axes: ranges, transforms and clipping
// ---------------------------------------------------------------------------------------------

/// One axis: its visible range and whether it is logarithmic. Clipping happens in the
/// transformed coordinate `u` (`log10 v` on a log axis).
#[derive(Clone, Copy, Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn fwd(&self, v: f64) -> Option<f64> {
        match (v.is_finite(), self.log) {
            (false, _) => None,
            (true, false) => Some(v),
            (true, true) if v > 0.0 => Some(v.log10()),
            _ => None,
        }
    }

    fn inv(&self, u: f64) -> f64 {
        if self.log {
            10f64.powf(u)
        } else {
            u
        }
    }

    fn u_lo(&self) -> f64 {
        self.fwd(self.lo).unwrap_or(0.0)
    }

    fn u_hi(&self) -> f64 {
        self.fwd(self.hi).unwrap_or(1.0)
    }

    /// Transformed and clamped to the visible range; non-positive values on a log axis go
    /// to the low end (histogram bars start there).
    fn clamp_u(&self, v: f64) -> f64 {
        let u = match self.fwd(v) {
            Some(u) => u,
            None if self.log && v <= 0.0 => f64::NEG_INFINITY,
            None => v,
        };
        u.clamp(self.u_lo(), self.u_hi())
    }

    /// Position in `[0, 1]` across the visible range.
    fn norm(&self, v: f64) -> Option<f64> {
        let u = self.fwd(v)?;
        Some((u - self.u_lo()) / (self.u_hi() - self.u_lo()))
    }

    /// The visible range for `extent` (finite, already valid on this axis) or a fixed range.
    fn build(
        fixed: Option<(f64, f64)>,
        extent: Option<(f64, f64)>,
        log: bool,
        floor0: bool,
        name: &'static str,
    ) -> Result<Axis> {
        if let Some((lo, hi)) = fixed {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(Error::param(
                    name,
                    format!("needs finite lo < hi, got ({lo}, {hi})"),
                ));
            }
            if log && lo <= 0.0 {
                return Err(Error::param(
                    name,
                    format!("a log axis needs lo > 0, got {lo}"),
                ));
            }
            return Ok(Axis { lo, hi, log });
        }
        let (lo, hi) = match (extent, log) {
            (None, false) => (0.0, 1.0),
            (None, true) => (1.0, 10.0),
            (Some((a, b)), false) if a == b => {
                let d = (a.abs() * 0.1).max(0.5);
                (a - d, b + d)
            }
            (Some((a, b)), true) if a == b => (a / 2.0, b * 2.0),
            (Some((a, b)), false) => {
                let pad = 0.05 * (b - a);
                let lo = if floor0 && a >= 0.0 { 0.0 } else { a - pad };
                (lo, b + pad)
            }
            (Some((a, b)), true) => {
                let r = (b / a).powf(0.05);
                (a / r, b * r)
            }
        };
        Ok(Axis { lo, hi, log })
    }
}

/// Running min / max of the finite values on one axis.
#[derive(Default)]
struct Extent(Option<(f64, f64)>);

impl Extent {
    fn add(&mut self, axis_log: bool, v: f64) {
        if !v.is_finite() || (axis_log && v <= 0.0) {
            return;
        }
        self.0 = Some(match self.0 {
            None => (v, v),
            Some((a, b)) => (a.min(v), b.max(v)),
        });
    }
}

/// Liang–Barsky: the part of segment `p -> q` inside the box, as `(t0, t1, a, b)`.
#[allow(clippy::type_complexity)]
fn clip_segment(
    p: (f64, f64),
    q: (f64, f64),
    bx: (f64, f64, f64, f64),
) -> Option<(f64, f64, (f64, f64), (f64, f64))> {
    let (u0, u1, v0, v1) = bx;
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (pk, qk) in [
        (-dx, p.0 - u0),
        (dx, u1 - p.0),
        (-dy, p.1 - v0),
        (dy, v1 - p.1),
    ] {
        if pk == 0.0 {
            if qk < 0.0 {
                return None;
            }
        } else {
            let r = qk / pk;
            if pk < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (p.0 + t * dx, p.1 + t * dy);
    Some((t0, t1, at(t0), at(t1)))
}

/// Splits a polyline into the visible pieces (data coordinates), breaking at non-finite
/// points and where it leaves the box.
fn clip_polyline(
    pts: impl IntoIterator<Item = (f64, f64)>,
    xa: &Axis,
    ya: &Axis,
) -> Vec<Vec<(f64, f64)>> {
    let bx = (xa.u_lo(), xa.u_hi(), ya.u_lo(), ya.u_hi());
    let inv = |(u, v): (f64, f64)| (xa.inv(u), ya.inv(v));
    let mut pieces = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let flush = |cur: &mut Vec<(f64, f64)>, pieces: &mut Vec<Vec<(f64, f64)>>| {
        if cur.len() >= 2 {
            pieces.push(std::mem::take(cur));
        } else {
            cur.clear();
        }
    };
    let mut prev: Option<(f64, f64)> = None;
    for (x, y) in pts {
        let q = xa.fwd(x).zip(ya.fwd(y));
        match (prev, q) {
            (Some(p), Some(q)) => match clip_segment(p, q, bx) {
                Some((t0, t1, a, b)) => {
                    if t0 > 0.0 || cur.is_empty() {
                        flush(&mut cur, &mut pieces);
                        cur.push(inv(a));
                    }
                    cur.push(inv(b));
                    if t1 < 1.0 {
                        flush(&mut cur, &mut pieces);
                    }
                }
                None => flush(&mut cur, &mut pieces),
            },
            (_, None) => flush(&mut cur, &mut pieces),
            (None, Some(_)) => {}
        }
        prev = q;
    }
    flush(&mut cur, &mut pieces);
    pieces
}

fn inside(xa: &Axis, ya: &Axis, x: f64, y: f64) -> bool {
    let ok = |a: &Axis, v: f64| a.fwd(v).is_some_and(|u| u >= a.u_lo() && u <= a.u_hi());
    ok(xa, x) && ok(ya, y)
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

/// A layer ready to draw: its colour and, for histograms, the computed bars.
struct Prepared<'a> {
    layer: &'a Layer,
    color: RGBColor,
    bars: Option<(Vec<f64>, Vec<f64>)>,
}

fn prepare(chart: &Chart) -> Vec<Prepared<'_>> {
    let mut next = 0;
    chart
        .layers
        .iter()
        .map(|layer| {
            let reference = matches!(layer.kind, LayerKind::HLine(_) | LayerKind::VLine(_));
            let color = match (layer.color, reference) {
                (Some(c), _) => c,
                (None, true) => palette::REFERENCE,
                (None, false) => {
                    next += 1;
                    palette::CATEGORICAL[(next - 1) % palette::CATEGORICAL.len()]
                }
            };
            let bars = match &layer.kind {
                LayerKind::Histogram {
                    samples,
                    bins,
                    range,
                } => Some(histogram_density(samples, *bins, *range)),
                _ => None,
            };
            Prepared { layer, color, bars }
        })
        .collect()
}

fn axes(chart: &Chart, layers: &[Prepared]) -> Result<(Axis, Axis)> {
    let (lx, ly) = (chart.log_x, chart.log_y);
    let valid = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    let (mut ex, mut ey) = (Extent::default(), Extent::default());
    let pair = |x: f64, y: f64, ex: &mut Extent, ey: &mut Extent| {
        if valid(x, lx) && valid(y, ly) {
            ex.add(lx, x);
            ey.add(ly, y);
        }
    };
    let mut has_hist = false;
    for p in layers {
        match &p.layer.kind {
            LayerKind::Line { xs, ys } | LayerKind::Points { xs, ys } => {
                for (&x, &y) in xs.iter().zip(ys) {
                    pair(x, y, &mut ex, &mut ey);
                }
            }
            LayerKind::Paths { times, paths, .. } => {
                for path in paths {
                    for (&x, &y) in times.iter().zip(path) {
                        pair(x, y, &mut ex, &mut ey);
                    }
                }
            }
            LayerKind::Histogram { .. } => {
                has_hist = true;
                if let Some((edges, dens)) = &p.bars {
                    if dens.iter().any(|&d| d > 0.0) {
                        for &e in edges {
                            ex.add(lx, e);
                        }
                        for &d in dens {
                            ey.add(ly, d);
                        }
                    }
                }
            }
            LayerKind::HLine(y) => ey.add(ly, *y),
            LayerKind::VLine(x) => ex.add(lx, *x),
        }
    }
    let xa = Axis::build(chart.x_range, ex.0, lx, false, "x_range")?;
    let ya = Axis::build(chart.y_range, ey.0, ly, has_hist, "y_range")?;
    Ok((xa, ya))
}

fn draw_chart<DB: DrawingBackend>(chart: &Chart, area: &DrawingArea<DB, Shift>) -> Result<()> {
    ensure_fonts()?;
    let (w, h) = area.dim_in_pixel();
    let sz = Sizes::for_area(w, h);
    let layers = prepare(chart);
    let (xa, ya) = axes(chart, &layers)?;
    let inner = titled(area, &chart.title, sz.title)?;
    let (xr, yr) = (xa.lo..xa.hi, ya.lo..ya.hi);
    match (xa.log, ya.log) {
        (false, false) => chart_body(
            chart,
            &layers,
            &inner,
            &sz,
            xa,
            ya,
            RangedCoordf64::from(xr),
            RangedCoordf64::from(yr),
        ),
        (true, false) => chart_body(
            chart,
            &layers,
            &inner,
            &sz,
            xa,
            ya,
            LogCoord::from(xr.log_scale()),
            RangedCoordf64::from(yr),
        ),
        (false, true) => chart_body(
            chart,
            &layers,
            &inner,
            &sz,
            xa,
            ya,
            RangedCoordf64::from(xr),
            LogCoord::from(yr.log_scale()),
        ),
        (true, true) => chart_body(
            chart,
            &layers,
            &inner,
            &sz,
            xa,
            ya,
            LogCoord::from(xr.log_scale()),
            LogCoord::from(yr.log_scale()),
        ),
    }
}

type Ctx<'a, DB, X, Y> = ChartContext<'a, DB, Cartesian2d<X, Y>>;

/// Everything below the title, generic over linear / log coordinates.
#[allow(clippy::too_many_arguments)]
fn chart_body<DB, X, Y>(
    chart: &Chart,
    layers: &[Prepared],
    area: &DrawingArea<DB, Shift>,
    sz: &Sizes,
    xa: Axis,
    ya: Axis,
    xc: X,
    yc: Y,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (w, h) = area.dim_in_pixel();
    let nx = ((w as f64 / (110.0 * sz.scale)) as usize).clamp(3, 10);
    let ny = ((h as f64 / (70.0 * sz.scale)) as usize).clamp(3, 8);
    let fx = TickFmt::new(&xc.key_points(nx), xa.log);
    let fy = TickFmt::new(&yc.key_points(ny), ya.log);
    let y_tick_w = yc
        .key_points(ny)
        .iter()
        .map(|&t| text_width(&fy.fmt(t), sz.tick))
        .fold(0.0, f64::max);
    let y_area = y_tick_w
        + 12.0
        + if chart.y_label.is_empty() {
            0.0
        } else {
            sz.desc * 1.3
        };
    let x_area = sz.tick * 1.4
        + 8.0
        + if chart.x_label.is_empty() {
            0.0
        } else {
            sz.desc * 1.3
        };

    let mut ctx = ChartBuilder::on(area)
        .margin(sz.margin)
        .margin_right(sz.margin * 2)
        .x_label_area_size(x_area as u32)
        .y_label_area_size(y_area as u32)
        .build_cartesian_2d(xc, yc)
        .map_err(plot_err)?;

    let fmt_x = |v: &f64| fx.fmt(*v);
    let fmt_y = |v: &f64| fy.fmt(*v);
    {
        let mut mesh = ctx.configure_mesh();
        mesh.x_labels(nx)
            .y_labels(ny)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .label_style(font(sz.tick))
            .axis_desc_style(font(sz.desc))
            .bold_line_style(BLACK.mix(0.10))
            .light_line_style(if xa.log || ya.log {
                BLACK.mix(0.03)
            } else {
                BLACK.mix(0.0)
            })
            .axis_style(BLACK.mix(0.8));
        if !chart.x_label.is_empty() {
            mesh.x_desc(chart.x_label.as_str());
        }
        if !chart.y_label.is_empty() {
            mesh.y_desc(chart.y_label.as_str());
        }
        mesh.draw().map_err(plot_err)?;
    }

    let plot_w = ctx.plotting_area().dim_in_pixel().0 as f64;
    let mut n_legend = 0;
    for p in layers {
        draw_layer(&mut ctx, p, &xa, &ya, sz, plot_w)?;
        if !p.layer.label.is_empty() {
            add_legend_entry(&mut ctx, p, sz)?;
            n_legend += 1;
        }
    }

    if n_legend > 0 && chart.legend != Legend::Off {
        let (pw, ph) = ctx.plotting_area().dim_in_pixel();
        let pos = legend_position(chart, layers, &xa, &ya, (pw as f64, ph as f64), sz);
        ctx.configure_series_labels()
            .position(pos)
            .margin(sz.px(10.0))
            .legend_area_size(sz.px(34.0))
            .label_font(font(sz.legend))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

fn stroke(color: RGBAColor, width: u32) -> ShapeStyle {
    ShapeStyle {
        color,
        filled: false,
        stroke_width: width,
    }
}

fn draw_piece<DB, X, Y>(
    ctx: &mut Ctx<'_, DB, X, Y>,
    piece: Vec<(f64, f64)>,
    style: ShapeStyle,
    dashed: bool,
    sz: &Sizes,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if dashed {
        let (dash, gap) = (sz.px(8.0) as i32, sz.px(5.0) as i32);
        ctx.draw_series(DashedLineSeries::new(piece, dash, gap, style))
            .map_err(plot_err)?;
    } else {
        ctx.draw_series(LineSeries::new(piece, style))
            .map_err(plot_err)?;
    }
    Ok(())
}

fn draw_layer<DB, X, Y>(
    ctx: &mut Ctx<'_, DB, X, Y>,
    p: &Prepared,
    xa: &Axis,
    ya: &Axis,
    sz: &Sizes,
    plot_w: f64,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let layer = p.layer;
    let width = |default: f64| sz.px(layer.width.map_or(default, f64::from));
    match &layer.kind {
        LayerKind::Line { xs, ys } => {
            let style = stroke(p.color.to_rgba(), width(2.0));
            let pts = xs.iter().copied().zip(ys.iter().copied());
            for piece in clip_polyline(pts, xa, ya) {
                draw_piece(ctx, piece, style, layer.dashed, sz)?;
            }
        }
        LayerKind::Points { xs, ys } => {
            let r = sz.px(layer.width.map_or(3.0, f64::from)) as i32;
            let style = p.color.mix(0.8).filled();
            let pts: Vec<(f64, f64)> = xs
                .iter()
                .copied()
                .zip(ys.iter().copied())
                .filter(|&(x, y)| inside(xa, ya, x, y))
                .collect();
            ctx.draw_series(pts.into_iter().map(|c| Circle::new(c, r, style)))
                .map_err(plot_err)?;
        }
        LayerKind::Histogram { .. } => {
            let Some((edges, dens)) = &p.bars else {
                return Ok(());
            };
            let span = xa.u_hi() - xa.u_lo();
            let fill = p.color.mix(0.45).filled();
            let mut rects = Vec::new();
            for (i, &d) in dens.iter().enumerate() {
                if d <= 0.0 || !d.is_finite() {
                    continue;
                }
                let (u0, u1) = (xa.clamp_u(edges[i]), xa.clamp_u(edges[i + 1]));
                let (v0, v1) = (ya.clamp_u(0.0), ya.clamp_u(d));
                if u1 > u0 && v1 > v0 {
                    let a = (xa.inv(u0), ya.inv(v0));
                    let b = (xa.inv(u1), ya.inv(v1));
                    rects.push((a, b, (u1 - u0) / span * plot_w));
                }
            }
            ctx.draw_series(rects.iter().map(|&(a, b, _)| Rectangle::new([a, b], fill)))
                .map_err(plot_err)?;
            // Bar outlines only while bars are wide enough for an edge to help.
            let edge = stroke(p.color.mix(0.9), 1);
            ctx.draw_series(
                rects
                    .iter()
                    .filter(|r| r.2 >= 6.0)
                    .map(|&(a, b, _)| Rectangle::new([a, b], edge)),
            )
            .map_err(plot_err)?;
        }
        LayerKind::Paths {
            times,
            paths,
            alpha,
        } => {
            let alpha = if alpha.is_finite() {
                alpha.clamp(0.02, 1.0)
            } else {
                0.3
            };
            let style = stroke(p.color.mix(alpha), width(1.0));
            for path in paths {
                let pts = times.iter().copied().zip(path.iter().copied());
                for piece in clip_polyline(pts, xa, ya) {
                    draw_piece(ctx, piece, style, layer.dashed, sz)?;
                }
            }
        }
        LayerKind::HLine(y) => {
            let style = stroke(p.color.to_rgba(), width(2.0));
            if inside(xa, ya, xa.lo, *y) {
                draw_piece(ctx, vec![(xa.lo, *y), (xa.hi, *y)], style, layer.dashed, sz)?;
            }
        }
        LayerKind::VLine(x) => {
            let style = stroke(p.color.to_rgba(), width(2.0));
            if inside(xa, ya, *x, ya.lo) {
                draw_piece(ctx, vec![(*x, ya.lo), (*x, ya.hi)], style, layer.dashed, sz)?;
            }
        }
    }
    Ok(())
}

/// Registers the legend entry of a layer: an empty series carrying its label and glyph.
fn add_legend_entry<'a, DB, X, Y>(
    ctx: &mut Ctx<'a, DB, X, Y>,
    p: &Prepared,
    sz: &Sizes,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let layer = p.layer;
    let color = p.color;
    let len = sz.px(26.0) as i32;
    let lw = sz.px(layer.width.map_or(2.0, f64::from));
    let anno = ctx
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
        .map_err(plot_err)?;
    anno.label(layer.label.as_str());
    match layer.kind {
        LayerKind::Points { .. } => {
            let r = sz.px(4.0) as i32;
            anno.legend(move |(x, y)| Circle::new((x + len / 2, y), r, color.mix(0.8).filled()));
        }
        LayerKind::Histogram { .. } => {
            let hh = sz.px(6.0) as i32;
            anno.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + Rectangle::new([(2, -hh), (len - 2, hh)], color.mix(0.45).filled())
                    + Rectangle::new([(2, -hh), (len - 2, hh)], stroke(color.mix(0.9), 1))
            });
        }
        LayerKind::Paths { .. } => {
            anno.legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + len, y)], stroke(color.mix(0.8), lw))
            });
        }
        _ if layer.dashed => {
            let d = len / 3;
            anno.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (d, 0)], stroke(color.to_rgba(), lw))
                    + PathElement::new(vec![(2 * d - 2, 0), (len, 0)], stroke(color.to_rgba(), lw))
            });
        }
        _ => {
            anno.legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + len, y)], stroke(color.to_rgba(), lw))
            });
        }
    }
    Ok(())
}

/// The requested corner, or for [`Legend::Auto`] the corner whose legend-sized box covers the
/// least data (preferring upper right, upper left, lower right, lower left on ties).
fn legend_position(
    chart: &Chart,
    layers: &[Prepared],
    xa: &Axis,
    ya: &Axis,
    plot: (f64, f64),
    sz: &Sizes,
) -> SeriesLabelPosition {
    let corners = [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ];
    let fixed = match chart.legend {
        Legend::UpperRight => Some(0),
        Legend::UpperLeft => Some(1),
        Legend::LowerRight => Some(2),
        Legend::LowerLeft => Some(3),
        Legend::Auto | Legend::Off => None,
    };
    if let Some(i) = fixed {
        return corners[i].clone();
    }
    // Legend box size as a fraction of the plotting area.
    let labels: Vec<&str> = layers
        .iter()
        .filter(|p| !p.layer.label.is_empty())
        .map(|p| p.layer.label.as_str())
        .collect();
    let longest = labels
        .iter()
        .map(|l| text_width(l, sz.legend))
        .fold(0.0, f64::max);
    let bw = ((longest + 34.0 * sz.scale + 30.0) / plot.0).min(0.9);
    let bh = ((labels.len() as f64 * sz.legend * 1.4 + 25.0) / plot.1).min(0.9);
    let boxes = [
        (1.0 - bw, 1.0, 1.0 - bh, 1.0),
        (0.0, bw, 1.0 - bh, 1.0),
        (1.0 - bw, 1.0, 0.0, bh),
        (0.0, bw, 0.0, bh),
    ];
    let mut score = [0.0f64; 4];
    let mut bar_score = [0.0f64; 4];
    let mut hit = |u: f64, v: f64, wgt: f64| {
        for (s, b) in score.iter_mut().zip(&boxes) {
            if u >= b.0 && u <= b.1 && v >= b.2 && v <= b.3 {
                *s += wgt;
            }
        }
    };
    let mut add_line = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        let mut prev: Option<(f64, f64)> = None;
        for (x, y) in pts {
            let q = xa.norm(x).zip(ya.norm(y));
            if let (Some(a), Some(b)) = (prev, q) {
                let n = (((b.0 - a.0).abs().max((b.1 - a.1).abs())) / 0.01)
                    .ceil()
                    .clamp(1.0, 100.0) as usize;
                for k in 1..=n {
                    let t = k as f64 / n as f64;
                    hit(a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1), 1.0);
                }
            } else if let Some(b) = q {
                hit(b.0, b.1, 1.0);
            }
            prev = q;
        }
    };
    for p in layers {
        match &p.layer.kind {
            LayerKind::Line { xs, ys } | LayerKind::Points { xs, ys } => {
                add_line(&mut xs.iter().copied().zip(ys.iter().copied()));
            }
            LayerKind::Paths { times, paths, .. } => {
                for path in paths {
                    add_line(&mut times.iter().copied().zip(path.iter().copied()));
                }
            }
            LayerKind::HLine(y) => add_line(&mut [(xa.lo, *y), (xa.hi, *y)].into_iter()),
            LayerKind::VLine(x) => add_line(&mut [(*x, ya.lo), (*x, ya.hi)].into_iter()),
            LayerKind::Histogram { .. } => {
                if let Some((edges, dens)) = &p.bars {
                    for (i, &d) in dens.iter().enumerate() {
                        let (Some(a), Some(b)) = (xa.norm(edges[i]), xa.norm(edges[i + 1])) else {
                            continue;
                        };
                        let top = ya.norm(d).unwrap_or(0.0).clamp(0.0, 1.0);
                        let bottom = ya.norm(0.0).unwrap_or(0.0).clamp(0.0, 1.0);
                        // Bars count by the area they share with each box.
                        for (s, bxx) in bar_score.iter_mut().zip(&boxes) {
                            let ow = (b.min(bxx.1) - a.max(bxx.0)).max(0.0);
                            let oh = (top.min(bxx.3) - bottom.max(bxx.2)).max(0.0);
                            *s += 2000.0 * ow * oh;
                        }
                    }
                }
            }
        }
    }
    let score: Vec<f64> = score.iter().zip(&bar_score).map(|(a, b)| a + b).collect();
    let best = (0..4)
        .min_by(|&i, &j| score[i].total_cmp(&score[j]).then(i.cmp(&j)))
        .unwrap_or(0);
    corners[best].clone()
}

// ---------------------------------------------------------------------------------------------
// Heatmaps and grids
// ---------------------------------------------------------------------------------------------

/// Cell edges from strictly increasing centres (midpoints; half a step beyond the ends).
fn cell_edges(c: &[f64], name: &'static str) -> Result<Vec<f64>> {
    if c.is_empty() {
        return Err(Error::param(
            name,
            "a heatmap needs at least one cell per axis",
        ));
    }
    if c.iter().any(|v| !v.is_finite()) || c.windows(2).any(|w| w[1] <= w[0]) {
        return Err(Error::param(
            name,
            "cell centres must be finite and strictly increasing",
        ));
    }
    if c.len() == 1 {
        return Ok(vec![c[0] - 0.5, c[0] + 0.5]);
    }
    let n = c.len();
    let mut e = Vec::with_capacity(n + 1);
    e.push(c[0] - (c[1] - c[0]) / 2.0);
    e.extend(c.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    e.push(c[n - 1] + (c[n - 1] - c[n - 2]) / 2.0);
    Ok(e)
}

fn draw_heatmap<DB: DrawingBackend>(hm: &Heatmap, area: &DrawingArea<DB, Shift>) -> Result<()> {
    ensure_fonts()?;
    let (nx, ny) = (hm.xs.len(), hm.ys.len());
    if hm.values.dim() != (nx, ny) {
        return Err(Error::shape(
            "heatmap values",
            format!("[{nx}, {ny}] (xs.len(), ys.len())"),
            format!("{:?}", hm.values.shape()),
        ));
    }
    let ex = cell_edges(&hm.xs, "heatmap xs")?;
    let ey = cell_edges(&hm.ys, "heatmap ys")?;
    let (vlo, vhi) = match hm.value_range {
        Some((a, b)) => {
            if !(a.is_finite() && b.is_finite() && a < b) {
                return Err(Error::param(
                    "value_range",
                    format!("needs finite lo < hi, got ({a}, {b})"),
                ));
            }
            (a, b)
        }
        None => {
            let mut e = Extent::default();
            hm.values.iter().for_each(|&v| e.add(false, v));
            match e.0 {
                None => (0.0, 1.0),
                Some((a, b)) if a == b => (a - 0.5, b + 0.5),
                Some(r) => r,
            }
        }
    };

    let (w, h) = area.dim_in_pixel();
    let sz = Sizes::for_area(w, h);
    let inner = titled(area, &hm.title, sz.title)?;
    let (iw, _) = inner.dim_in_pixel();

    // Colour-bar ticks decide how wide its column must be.
    let bar_ticks = RangedCoordf64::from(vlo..vhi).key_points(6);
    let fbar = TickFmt::new(&bar_ticks, false);
    let bar_tick_w = bar_ticks
        .iter()
        .map(|&t| text_width(&fbar.fmt(t), sz.tick))
        .fold(0.0, f64::max);
    let bar_label_w = if hm.colorbar_label.is_empty() {
        0.0
    } else {
        sz.desc * 1.6
    };
    let bar_w = sz.px(22.0) as f64;
    let bar_col = (bar_w + bar_tick_w + bar_label_w + 16.0 + 2.0 * sz.margin as f64) as u32;
    let (main, bar) = inner.split_horizontally(iw.saturating_sub(bar_col).max(1));

    let x_area = sz.tick * 1.4
        + 8.0
        + if hm.x_label.is_empty() {
            0.0
        } else {
            sz.desc * 1.3
        };
    let (mw, mh) = main.dim_in_pixel();
    let nxl = ((mw as f64 / (110.0 * sz.scale)) as usize).clamp(3, 10);
    let nyl = ((mh as f64 / (70.0 * sz.scale)) as usize).clamp(3, 8);
    let xc = RangedCoordf64::from(ex[0]..ex[nx]);
    let yc = RangedCoordf64::from(ey[0]..ey[ny]);
    let fx = TickFmt::new(&xc.key_points(nxl), false);
    let fy = TickFmt::new(&yc.key_points(nyl), false);
    let y_tick_w = yc
        .key_points(nyl)
        .iter()
        .map(|&t| text_width(&fy.fmt(t), sz.tick))
        .fold(0.0, f64::max);
    let y_area = y_tick_w
        + 12.0
        + if hm.y_label.is_empty() {
            0.0
        } else {
            sz.desc * 1.3
        };

    let mut ctx = ChartBuilder::on(&main)
        .margin(sz.margin)
        .x_label_area_size(x_area as u32)
        .y_label_area_size(y_area as u32)
        .build_cartesian_2d(xc, yc)
        .map_err(plot_err)?;
    let color_of = |v: f64| {
        if v.is_finite() {
            viridis((v - vlo) / (vhi - vlo))
        } else {
            palette::MISSING
        }
    };
    ctx.draw_series((0..nx).flat_map(|i| {
        let ex = &ex;
        let ey = &ey;
        (0..ny).map(move |j| {
            Rectangle::new(
                [(ex[i], ey[j]), (ex[i + 1], ey[j + 1])],
                color_of(hm.values[[i, j]]).filled(),
            )
        })
    }))
    .map_err(plot_err)?;
    let fmt_x = |v: &f64| fx.fmt(*v);
    let fmt_y = |v: &f64| fy.fmt(*v);
    {
        let mut mesh = ctx.configure_mesh();
        mesh.disable_mesh()
            .x_labels(nxl)
            .y_labels(nyl)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .label_style(font(sz.tick))
            .axis_desc_style(font(sz.desc))
            .axis_style(BLACK.mix(0.8));
        if !hm.x_label.is_empty() {
            mesh.x_desc(hm.x_label.as_str());
        }
        if !hm.y_label.is_empty() {
            mesh.y_desc(hm.y_label.as_str());
        }
        mesh.draw().map_err(plot_err)?;
    }

    // Colour bar: same vertical margins as the main plot so that the two line up.
    let mut cb = ChartBuilder::on(&bar)
        .margin(sz.margin)
        .x_label_area_size(x_area as u32)
        .set_label_area_size(
            LabelAreaPosition::Right,
            (bar_tick_w + 12.0 + bar_label_w) as u32,
        )
        .build_cartesian_2d(0.0..1.0, vlo..vhi)
        .map_err(plot_err)?;
    let steps = 128;
    let dv = (vhi - vlo) / steps as f64;
    cb.draw_series((0..steps).map(|k| {
        let v0 = vlo + k as f64 * dv;
        Rectangle::new(
            [(0.0, v0), (1.0, v0 + dv)],
            viridis((k as f64 + 0.5) / steps as f64).filled(),
        )
    }))
    .map_err(plot_err)?;
    cb.draw_series(std::iter::once(Rectangle::new(
        [(0.0, vlo), (1.0, vhi)],
        stroke(BLACK.mix(0.8), 1),
    )))
    .map_err(plot_err)?;
    let fmt_bar = |v: &f64| fbar.fmt(*v);
    {
        let mut mesh = cb.configure_mesh();
        mesh.disable_mesh()
            .disable_x_axis()
            .y_labels(6)
            .y_label_formatter(&fmt_bar)
            .label_style(font(sz.tick))
            .axis_desc_style(font(sz.desc))
            .axis_style(BLACK.mix(0.8));
        if !hm.colorbar_label.is_empty() {
            mesh.y_desc(hm.colorbar_label.as_str());
        }
        mesh.draw().map_err(plot_err)?;
    }
    Ok(())
}

fn draw_grid<DB: DrawingBackend>(
    title: &str,
    cols: usize,
    panels: &[Figure],
    area: &DrawingArea<DB, Shift>,
) -> Result<()> {
    ensure_fonts()?;
    let (w, h) = area.dim_in_pixel();
    let sz = Sizes::for_area(w, h);
    let inner = titled(area, title, sz.title * 1.1)?;
    if panels.is_empty() {
        return Ok(());
    }
    let cols = cols.clamp(1, panels.len());
    let rows = panels.len().div_ceil(cols);
    // A gutter between columns keeps a colour-bar label apart from the next y label.
    let gutter = if cols > 1 { sz.px(10.0) } else { 0 };
    for (panel, cell) in panels.iter().zip(inner.split_evenly((rows, cols))) {
        panel.render(&cell.margin(0, 0, gutter, gutter))?;
    }
    Ok(())
}
