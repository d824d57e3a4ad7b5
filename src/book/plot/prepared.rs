//! A chart's layers ready to draw (colour assigned, histogram bars computed) and the plotters
//! chart context they are drawn into; shared by the chart body and the legend.
use plotters::chart::ChartContext;
use plotters::coord::cartesian::Cartesian2d;
use plotters::style::RGBColor;

use super::color::palette;
use super::figure::Chart;
use super::layer::{histogram_density, Layer, LayerKind};

/// A layer ready to draw: its colour and, for histograms, the computed bars.
pub(super) struct Prepared<'a> {
    pub(super) layer: &'a Layer,
    pub(super) color: RGBColor,
    pub(super) bars: Option<(Vec<f64>, Vec<f64>)>,
}

pub(super) fn prepare(chart: &Chart) -> Vec<Prepared<'_>> {
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

/// The plotters chart context of a 2-D Cartesian chart.
pub(super) type Ctx<'a, DB, X, Y> = ChartContext<'a, DB, Cartesian2d<X, Y>>;
