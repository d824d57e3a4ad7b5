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
//!
//! plotters does the drawing: tick positions (`key_points`), log scales (`LogCoord`), the mesh
//! and tick labels (through `x_label_formatter`), titles, series, the legend box
//! (`configure_series_labels`) and text measurement (`FontDesc::box_size`, to size the label
//! areas). Ours, only where plotters falls short:
//! - clipping (`clip.rs`): plotters clamps each out-of-range point onto the edge of the
//!   plotting area, so a line leaving a fixed range is drawn *along* the edge; we cut it there;
//! - tick labels (`axis.rs`): plotters prints each tick on its own (`0.0`, `0.25`, `0.5`) and
//!   never in scientific notation on a linear axis (at most 5 decimals: `1e-6` prints as
//!   `0.0`); ours share one number of decimals per axis and switch to `1.5e-5` for tiny or huge
//!   values;
//! - legend placement (`legend.rs`): plotters puts the legend in a fixed corner;
//!   [`Legend::Auto`] picks the corner covering the least data;
//! - heat maps (`heatmap.rs`) with their colour bar, which plotters does not have, and
//!   [`viridis`] (plotters' `ViridisRGB`, behind its `colormaps` feature, has coarser anchors
//!   and panics on NaN);
//! - [`histogram_density`]: plotters' `Histogram` series counts into discrete buckets, with no
//!   density normalisation, fixed range or log axis;
//! - the evcxr display: plotters' `evcxr_figure` (feature `evcxr`) panics when drawing fails.
mod axis;
mod chart;
mod clip;
mod color;
mod figure;
mod heatmap;
mod image_grid;
pub mod inline;
mod layer;
mod legend;
mod prepared;
mod render;
mod style;

pub use color::{palette, viridis};
pub use figure::{Chart, Figure, Heatmap, Legend};
pub use image_grid::ImageGrid;
pub use layer::{histogram_density, Layer, LayerKind, MAX_BINS};
pub use plotters::style::RGBColor;
pub use style::{DEFAULT_SIZE, MIN_SIZE};
