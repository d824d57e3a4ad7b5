//! Drawing a [`Heatmap`]: coloured cells (grey where not finite) beside a colour bar, which
//! plotters does not provide.
use plotters::chart::{ChartBuilder, LabelAreaPosition};
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::element::Rectangle;
use plotters::prelude::DrawingBackend;
use plotters::style::{Color, BLACK};

use super::axis::{Extent, TickFmt};
use super::color::{palette, viridis};
use super::figure::Heatmap;
use super::style::plot_err;
use super::style::{ensure_fonts, font, stroke, titled, widest, Sizes};
use crate::error::{Error, Result};

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

pub(super) fn draw_heatmap<DB: DrawingBackend>(
    hm: &Heatmap,
    area: &DrawingArea<DB, Shift>,
) -> Result<()> {
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
    let bar_tick_w = widest(bar_ticks.iter().map(|&t| fbar.fmt(t)), sz.tick)?;
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
    let y_tick_w = widest(yc.key_points(nyl).iter().map(|&t| fy.fmt(t)), sz.tick)?;
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
