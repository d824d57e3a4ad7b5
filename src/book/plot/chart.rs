//! Drawing a [`Chart`]: layer colours, axis ranges, the mesh, then each layer clipped to the
//! visible box, then the legend.
use plotters::chart::ChartBuilder;
use plotters::coord::combinators::{IntoLogRange, LogCoord};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::{Circle, Rectangle};
use plotters::prelude::{DashedLineSeries, DrawingBackend, LineSeries};
use plotters::style::{Color, ShapeStyle, BLACK, WHITE};

use super::axis::{Axis, Extent, TickFmt};
use super::clip::{clip_polyline, inside};
use super::figure::{Chart, Legend};
use super::layer::LayerKind;
use super::legend::{add_legend_entry, legend_position};
use super::prepared::{prepare, Ctx, Prepared};
use super::style::plot_err;
use super::style::{ensure_fonts, font, stroke, titled, widest, Sizes};
use crate::error::Result;

pub(super) fn axes(chart: &Chart, layers: &[Prepared]) -> Result<(Axis, Axis)> {
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

pub(super) fn draw_chart<DB: DrawingBackend>(
    chart: &Chart,
    area: &DrawingArea<DB, Shift>,
) -> Result<()> {
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
    let y_tick_w = widest(yc.key_points(ny).iter().map(|&t| fy.fmt(t)), sz.tick)?;
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
        let pos = legend_position(chart, layers, &xa, &ya, (pw as f64, ph as f64), sz)?;
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
