//! What a figure is: a [`Chart`] of layers, a [`Heatmap`], or a [`Figure`] grid of panels.
use ndarray::Array2;

use super::layer::Layer;
use crate::error::{Error, Result};

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
