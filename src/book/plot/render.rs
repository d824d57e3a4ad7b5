//! Output: the same methods on [`Chart`], [`Heatmap`] and [`Figure`] (SVG string, SVG / PNG
//! files; the inline evcxr display is in `inline`), and the layout of grids of panels.
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::prelude::{BitMapBackend, DrawingBackend, SVGBackend};
use plotters::style::WHITE;

use super::chart::draw_chart;
use super::figure::{Chart, Figure, Heatmap};
use super::heatmap::draw_heatmap;
use super::style::{ensure_fonts, plot_err, titled, Sizes, DEFAULT_SIZE, MIN_SIZE};
use crate::error::{Error, Result};

pub(super) trait Render {
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
        }
    };
}

output_methods!(Chart);
output_methods!(Heatmap);
output_methods!(Figure);

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(super) fn check_size(size: (u32, u32)) -> Result<()> {
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

pub(super) fn svg_string<R: Render>(fig: &R, size: (u32, u32)) -> Result<String> {
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
