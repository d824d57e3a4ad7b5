//! One thing drawn on a chart ([`Layer`]) and the density histogram behind histogram layers.
use plotters::style::RGBColor;

/// Most bins a histogram is drawn with (more are clamped to this).
pub const MAX_BINS: usize = 100_000;

/// Histogram of the finite `samples` as a density: returns `(edges, density)` with
/// `bins + 1` edges and `bins` heights (`bins` is clamped to `1..=MAX_BINS`). Counts are
/// divided by the number of *all* finite samples times the bin width, so the bars have area 1
/// when the range covers the data (the default, `range = None`) and integrate to the fraction
/// inside otherwise — the right normalisation to compare with a true density. A degenerate
/// range is widened by ±0.5.
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

/// One thing drawn on a [`Chart`](super::Chart), with its legend label (empty: not in the
/// legend) and style.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub label: String,
    pub kind: LayerKind,
    /// `None`: the next colour of [`palette::CATEGORICAL`](super::palette::CATEGORICAL)
    /// ([`palette::REFERENCE`](super::palette::REFERENCE) for reference lines, which do not
    /// consume a palette colour).
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
