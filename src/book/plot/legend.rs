//! The legend: one entry per labelled layer, drawn by plotters in the corner that
//! [`legend_position`] picks (for [`Legend::Auto`], the one covering the least data).
use plotters::chart::SeriesLabelPosition;
use plotters::coord::ranged1d::Ranged;
use plotters::element::{Circle, EmptyElement, PathElement, Rectangle};
use plotters::prelude::DrawingBackend;
use plotters::style::Color;

use super::axis::Axis;
use super::figure::{Chart, Legend};
use super::layer::LayerKind;
use super::prepared::{Ctx, Prepared};
use super::style::plot_err;
use super::style::{stroke, widest, Sizes};
use crate::error::Result;

/// Registers the legend entry of a layer: an empty series carrying its label and glyph.
pub(super) fn add_legend_entry<'a, DB, X, Y>(
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
pub(super) fn legend_position(
    chart: &Chart,
    layers: &[Prepared],
    xa: &Axis,
    ya: &Axis,
    plot: (f64, f64),
    sz: &Sizes,
) -> Result<SeriesLabelPosition> {
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
        return Ok(corners[i].clone());
    }
    // Legend box size as a fraction of the plotting area.
    let labels: Vec<&str> = layers
        .iter()
        .filter(|p| !p.layer.label.is_empty())
        .map(|p| p.layer.label.as_str())
        .collect();
    let longest = widest(&labels, sz.legend)?;
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
    Ok(corners[best].clone())
}

#[cfg(test)]
mod tests {
    use super::super::chart::axes;
    use super::super::prepared::prepare;
    use super::super::style::ensure_fonts;
    use super::*;

    fn corner(chart: &Chart) -> SeriesLabelPosition {
        ensure_fonts().unwrap();
        let layers = prepare(chart);
        let (xa, ya) = axes(chart, &layers).unwrap();
        let sz = Sizes::for_area(900, 560);
        legend_position(chart, &layers, &xa, &ya, (790.0, 430.0), &sz).unwrap()
    }

    fn curve(f: impl Fn(f64) -> f64) -> Chart {
        let xs: Vec<f64> = (0..=50).map(|i| i as f64 / 50.0).collect();
        let ys: Vec<f64> = xs.iter().map(|&x| f(x)).collect();
        Chart::new("").line("a fairly long legend label", xs, ys)
    }

    #[test]
    fn auto_legend_takes_the_emptiest_corner() {
        use SeriesLabelPosition::*;
        assert_eq!(corner(&curve(|x| x * x)), UpperLeft);
        assert_eq!(corner(&curve(|x| 1.0 - x * x)), UpperRight);
        // Data along the top: lower corners, lower right first.
        assert_eq!(corner(&curve(|_| 0.95).y_range(0.0, 1.0)), LowerRight);
        assert_eq!(corner(&curve(|x| (x - 0.5).abs())), LowerRight);
        // Tall bars on the right push the legend left, although no line is there.
        let bars = Chart::new("")
            .histogram("h", vec![0.8, 0.9, 0.95, 0.96, 0.97], 4, (0.75, 1.0))
            .x_range(0.0, 1.0);
        assert_eq!(corner(&bars), UpperLeft);
        // A requested corner is kept whatever the data.
        assert_eq!(
            corner(&curve(|x| x * x).legend(Legend::UpperRight)),
            UpperRight
        );
        assert_eq!(corner(&curve(|x| x).legend(Legend::LowerLeft)), LowerLeft);
    }
}
