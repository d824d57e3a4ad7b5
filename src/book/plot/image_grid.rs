//! A grid of small grey-scale images (the 8x8 digits), as PNG (one block of pixels per image
//! pixel, scaled up, no smoothing) and as SVG (one rectangle per pixel): plotters has no image
//! series, and a chart's axes would only get in the way.
use std::path::Path;

use ndarray::{Array2, ArrayView2, Axis};

use crate::error::{Error, Result};

/// Images as rows of `side^2` values in `[lo, hi]` (`lo` white, `hi` black: ink on paper),
/// laid out `cols` to a row with a one-pixel light-grey gutter.
#[derive(Clone, Debug)]
pub struct ImageGrid {
    images: Array2<f64>,
    side: usize,
    cols: usize,
    range: (f64, f64),
}

/// Gutter grey level.
const GUTTER: u8 = 200;

impl ImageGrid {
    /// Errors unless every row has `side^2` finite values, `cols >= 1` and `lo < hi`.
    pub fn new(images: Array2<f64>, side: usize, cols: usize, range: (f64, f64)) -> Result<Self> {
        if side == 0 || images.ncols() != side * side {
            return Err(Error::shape("image grid", side * side, images.ncols()));
        }
        if images.nrows() == 0 || cols == 0 {
            return Err(Error::param(
                "image grid",
                "needs at least one image and one column",
            ));
        }
        if !(range.0.is_finite() && range.1.is_finite() && range.0 < range.1) {
            return Err(Error::param(
                "image grid range",
                format!("need lo < hi, got {range:?}"),
            ));
        }
        crate::error::all_finite(images.iter(), "image grid values")?;
        Ok(Self {
            images,
            side,
            cols,
            range,
        })
    }

    /// Images `top` above their partners `bottom` (row `i` of each is a pair): bands of `cols`
    /// of `top`, each followed by the band of `bottom` below it. Errors unless `top` and
    /// `bottom` have the same shape, and as [`new`](Self::new).
    pub fn pairs(
        top: ArrayView2<f64>,
        bottom: ArrayView2<f64>,
        side: usize,
        cols: usize,
        range: (f64, f64),
    ) -> Result<Self> {
        if top.dim() != bottom.dim() || cols == 0 {
            return Err(Error::shape(
                "image grid pairs",
                format!("{:?}", top.dim()),
                format!("{:?}", bottom.dim()),
            ));
        }
        let mut images = Array2::zeros((0, top.ncols()));
        let err = |e: ndarray::ShapeError| Error::param("image grid pairs", e.to_string());
        for (a, b) in top
            .axis_chunks_iter(Axis(0), cols)
            .zip(bottom.axis_chunks_iter(Axis(0), cols))
        {
            images.append(Axis(0), a).map_err(err)?;
            images.append(Axis(0), b).map_err(err)?;
        }
        Self::new(images, side, cols, range)
    }

    fn rows(&self) -> usize {
        self.images.nrows().div_ceil(self.cols)
    }

    /// The grid in image pixels (gutters included), grey levels 0 (black) ..= 255.
    fn pixels(&self) -> (usize, usize, Vec<u8>) {
        let s = self.side;
        let (w, h) = (self.cols * (s + 1) + 1, self.rows() * (s + 1) + 1);
        let mut px = vec![GUTTER; w * h];
        let (lo, hi) = self.range;
        for (k, img) in self.images.rows().into_iter().enumerate() {
            let (r0, c0) = ((k / self.cols) * (s + 1) + 1, (k % self.cols) * (s + 1) + 1);
            for (j, &v) in img.iter().enumerate() {
                let ink = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
                px[(r0 + j / s) * w + c0 + j % s] = (255.0 * (1.0 - ink)).round() as u8;
            }
        }
        (w, h, px)
    }

    /// PNG bytes, each image pixel drawn as a `scale x scale` block.
    pub fn png_bytes(&self, scale: usize) -> Result<Vec<u8>> {
        let scale = scale.clamp(1, 64);
        let (w, h, px) = self.pixels();
        let (sw, sh) = (w * scale, h * scale);
        let mut big = vec![0u8; sw * sh];
        for y in 0..sh {
            for x in 0..sw {
                big[y * sw + x] = px[(y / scale) * w + x / scale];
            }
        }
        let mut out = Vec::new();
        {
            let dims =
                |v: usize| u32::try_from(v).map_err(|_| Error::param("image grid", "too large"));
            let mut enc = png::Encoder::new(&mut out, dims(sw)?, dims(sh)?);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let png_err = |e: png::EncodingError| Error::Plot(format!("PNG encoding: {e}"));
            let mut writer = enc.write_header().map_err(png_err)?;
            writer.write_image_data(&big).map_err(png_err)?;
            writer.finish().map_err(png_err)?;
        }
        Ok(out)
    }

    /// SVG text, `scale` user units per image pixel.
    pub fn svg_string(&self, scale: usize) -> String {
        let (w, h, px) = self.pixels();
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {w} {h}\" shape-rendering=\"crispEdges\">\n",
            w * scale,
            h * scale
        );
        for (i, &g) in px.iter().enumerate() {
            out += &format!(
                "<rect x=\"{}\" y=\"{}\" width=\"1\" height=\"1\" fill=\"#{g:02x}{g:02x}{g:02x}\"/>\n",
                i % w,
                i / w
            );
        }
        out += "</svg>\n";
        out
    }

    /// Writes `stem.png` and `stem.svg` (8 screen pixels per image pixel).
    pub fn save(&self, stem: impl AsRef<Path>) -> Result<()> {
        let stem = stem.as_ref();
        let io = |path: std::path::PathBuf, bytes: &[u8]| {
            std::fs::write(&path, bytes).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })
        };
        io(stem.with_extension("png"), &self.png_bytes(8)?)?;
        io(stem.with_extension("svg"), self.svg_string(8).as_bytes())
    }

    /// Shows the grid inline in an evcxr notebook (PNG).
    pub fn evcxr_display(&self) {
        match self.png_bytes(8) {
            Ok(png) => println!(
                "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT",
                super::inline::base64(&png)
            ),
            Err(e) => {
                println!("EVCXR_BEGIN_CONTENT text/plain\nplot error: {e}\nEVCXR_END_CONTENT")
            }
        }
    }
}
