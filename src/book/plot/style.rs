//! The look shared by every figure: the bundled font, text sizes and margins scaled to the
//! drawing area, titles and strokes.
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::drawing::DrawingArea;
use plotters::prelude::DrawingBackend;
use plotters::style::{register_font, FontStyle, IntoFont, RGBAColor, ShapeStyle, TextStyle};

use crate::error::{Error, Result};

/// Size used by `save`, `evcxr_display` and friends for a single chart or heatmap.
pub const DEFAULT_SIZE: (u32, u32) = (900, 560);
/// Smallest image accepted by the `save_*` / `to_svg_string` functions.
pub const MIN_SIZE: (u32, u32) = (120, 90);

/// A plotters failure as our typed error.
pub(super) fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

/// Registers DejaVu Sans as plotters' "sans-serif" once; every drawing goes through it
/// (with the `ab_glyph` feature even SVG output measures text with it).
pub(super) fn ensure_fonts() -> Result<()> {
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

/// Font sizes and strokes scaled to the drawing area (reference: 900 x 560 px). Sizes are
/// plotters font sizes; the rendered em is `size / 1.24` pixels.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sizes {
    pub(super) scale: f64,
    pub(super) title: f64,
    pub(super) desc: f64,
    pub(super) tick: f64,
    pub(super) legend: f64,
    pub(super) margin: u32,
}

impl Sizes {
    pub(super) fn for_area(w: u32, h: u32) -> Self {
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

    pub(super) fn px(&self, base: f64) -> u32 {
        (base * self.scale).round().max(1.0) as u32
    }
}

/// Width in pixels of the widest of `texts` at font `size`, as plotters lays them out.
pub(super) fn widest<S: AsRef<str>>(texts: impl IntoIterator<Item = S>, size: f64) -> Result<f64> {
    let font = font(size);
    texts.into_iter().try_fold(0.0, |w: f64, s| {
        let (sw, _) = font.font.box_size(s.as_ref()).map_err(plot_err)?;
        Ok(w.max(sw as f64))
    })
}

pub(super) fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font())
}

fn title_font(size: f64) -> TextStyle<'static> {
    // `FontDesc::style` keeps the regular glyphs in plotters 0.3.7: build the bold one directly.
    TextStyle::from(("sans-serif", size, FontStyle::Bold).into_font())
}

/// Draws a title above `area` and returns what is left (the area itself for an empty title).
pub(super) fn titled<DB: DrawingBackend>(
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

pub(super) fn stroke(color: RGBAColor, width: u32) -> ShapeStyle {
    ShapeStyle {
        color,
        filled: false,
        stroke_width: width,
    }
}
