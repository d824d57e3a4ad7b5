//! Figures inline in an evcxr notebook, as one MIME bundle that JupyterLab renders even in a
//! notebook it did not execute itself.
//!
//! JupyterLab treats such a notebook as *untrusted*: it renders only "safe" MIME types and
//! sanitizes `text/html`, which strips an `<svg>` element (its labels are left as loose text).
//! `image/png` is safe, so every figure goes out as a PNG at the figure's
//! [`default_size`](super::Chart::default_size), with the DejaVu Sans text of the book's PNG
//! files. JupyterLab shrinks an image to the width of its output area (some 850 px beside the
//! file browser on a 1280 px screen), so a grid wider than [`INLINE_MAX_WIDTH`] is drawn with
//! fewer columns (three 480 px panels: two columns), which keeps its text readable; the book's
//! figures keep their layout. An `image/svg+xml` copy rides beside it when it is small (at most
//! [`INLINE_SVG_MAX_BYTES`]): a trusted notebook (one you ran yourself) prefers it and shows a
//! sharp picture, an untrusted one falls back to the PNG. Large SVGs (heat maps with one
//! rectangle per cell) are left out to keep the committed notebooks small.
//!
//! evcxr's protocol: the value of a cell prints blocks `EVCXR_BEGIN_CONTENT <mime>` ...
//! `EVCXR_END_CONTENT`; evcxr collects every block of one cell into one map from MIME type to
//! content and sends it as a single `execute_result`, so consecutive blocks form one bundle.
//! Binary content (`image/png`) is base64, here on a single line.
use plotters::drawing::IntoDrawingArea;
use plotters::prelude::BitMapBackend;
use plotters::style::WHITE;

use super::figure::{Chart, Figure, Heatmap};
use super::render::{check_size, svg_string, Render};
use super::style::plot_err;
use crate::error::{Error, Result};

/// Widest inline figure, in pixels: a wider grid is drawn with fewer columns.
pub const INLINE_MAX_WIDTH: u32 = 1000;

/// Largest SVG (in bytes) put beside the PNG in a notebook's MIME bundle.
pub const INLINE_SVG_MAX_BYTES: usize = 200_000;

/// What is drawn inline: the figure itself, or a narrower layout of it.
pub(super) trait Inline: Render {
    /// `Some` when the notebook gets another layout than the book (a grid too wide).
    fn inline_layout(&self) -> Option<Figure> {
        None
    }
}

impl Inline for Chart {}
impl Inline for Heatmap {}

impl Inline for Figure {
    fn inline_layout(&self) -> Option<Figure> {
        let Figure::Grid {
            title,
            cols,
            panels,
        } = self
        else {
            return None;
        };
        if self.size().0 <= INLINE_MAX_WIDTH {
            return None;
        }
        let with_cols = |cols| Figure::Grid {
            title: title.clone(),
            cols,
            panels: panels.clone(),
        };
        let cols = (*cols).clamp(1, panels.len());
        (1..cols)
            .rev()
            .map(with_cols)
            .find(|g| g.size().0 <= INLINE_MAX_WIDTH)
            .or_else(|| Some(with_cols(1)))
    }
}

/// The figure rendered to PNG bytes (8-bit RGB) of `size` pixels, in memory.
pub(super) fn png_bytes<R: Render>(fig: &R, size: (u32, u32)) -> Result<Vec<u8>> {
    check_size(size)?;
    let (w, h) = size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        fig.render(&root)?;
        root.present().map_err(plot_err)?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let png_err = |e: png::EncodingError| Error::Plot(format!("PNG encoding: {e}"));
        let mut writer = enc.write_header().map_err(png_err)?;
        writer.write_image_data(&rgb).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
    }
    Ok(out)
}

/// The evcxr display blocks of the figure (in its [inline layout](Inline::inline_layout)) at its
/// default size: `image/png` (base64), then `image/svg+xml` when the SVG is at most
/// [`INLINE_SVG_MAX_BYTES`].
pub(super) fn evcxr_bundle<R: Inline>(fig: &R) -> Result<String> {
    match fig.inline_layout() {
        Some(narrower) => bundle(&narrower),
        None => bundle(fig),
    }
}

fn bundle<R: Render>(fig: &R) -> Result<String> {
    let size = fig.size();
    let png = png_bytes(fig, size)?;
    let mut out = block("image/png", &base64(&png));
    let svg = svg_string(fig, size)?;
    if svg.len() <= INLINE_SVG_MAX_BYTES {
        out.push('\n');
        out.push_str(&block("image/svg+xml", svg.trim_end()));
    }
    Ok(out)
}

/// The text block shown instead of a figure that failed to render.
pub(super) fn evcxr_error(e: &Error) -> String {
    block("text/plain", &format!("plot error: {e}"))
}

fn block(mime: &str, content: &str) -> String {
    format!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT")
}

/// Standard base64 (RFC 4648, with `=` padding), on one line.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

macro_rules! inline_methods {
    ($t:ty) => {
        impl $t {
            /// The evcxr display blocks of the figure at its default size: `image/png`
            /// (base64), which JupyterLab shows even in an untrusted notebook, and
            /// `image/svg+xml` beside it when the SVG is small (see the [module](self)).
            pub fn evcxr_bundle(&self) -> Result<String> {
                evcxr_bundle(self)
            }

            /// Shows the figure inline when it is the value of an evcxr notebook cell (an
            /// error is shown as text instead).
            pub fn evcxr_display(&self) {
                match evcxr_bundle(self) {
                    Ok(bundle) => println!("{bundle}"),
                    Err(e) => println!("{}", evcxr_error(&e)),
                }
            }
        }
    };
}

inline_methods!(Chart);
inline_methods!(Heatmap);
inline_methods!(Figure);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::plot::{Chart, Figure, Heatmap};
    use ndarray::Array2;

    /// Decodes standard padded base64 (test helper; panics on bad input).
    fn decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        };
        assert_eq!(s.len() % 4, 0);
        let mut out = Vec::new();
        for q in s.as_bytes().chunks(4) {
            let pad = q.iter().filter(|&&c| c == b'=').count();
            let n = q
                .iter()
                .map(|&c| if c == b'=' { 0 } else { u32::from(val(c)) })
                .fold(0u32, |acc, v| (acc << 6) | v);
            out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
        }
        out
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        // Every byte value, and the two last alphabet characters.
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..all.len() {
            assert_eq!(decode(&base64(&all[..len])), &all[..len]);
        }
    }

    fn blocks(bundle: &str) -> Vec<(&str, &str)> {
        let mut found = Vec::new();
        let mut rest = bundle;
        while let Some(start) = rest.find("EVCXR_BEGIN_CONTENT ") {
            let after = &rest[start + "EVCXR_BEGIN_CONTENT ".len()..];
            let (mime, body) = after.split_once('\n').expect("a MIME type line");
            let end = body.find("\nEVCXR_END_CONTENT").expect("an end marker");
            found.push((mime, &body[..end]));
            rest = &body[end + "\nEVCXR_END_CONTENT".len()..];
        }
        found
    }

    #[test]
    fn bundle_has_a_valid_png_and_a_small_svg() {
        let chart = Chart::new("nb").line("l", vec![0.0, 1.0], vec![1.0, 0.0]);
        let bundle = evcxr_bundle(&chart).unwrap();
        assert!(bundle.starts_with("EVCXR_BEGIN_CONTENT image/png\n"));
        assert!(bundle.ends_with("</svg>\nEVCXR_END_CONTENT"));
        let found = blocks(&bundle);
        let mimes: Vec<&str> = found.iter().map(|b| b.0).collect();
        assert_eq!(mimes, ["image/png", "image/svg+xml"]);
        // The PNG is one base64 line that decodes to a PNG of the default size.
        let b64 = found[0].1;
        assert!(!b64.contains('\n'));
        let png = decode(b64);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((w, h), chart.default_size());
        assert!(found[1].1.starts_with("<svg"));
        // It decodes, and not to a blank page: the line and text left dark pixels.
        let decoder = png::Decoder::new(png.as_slice());
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (w, h));
        let dark = pixels[..info.buffer_size()]
            .chunks(3)
            .filter(|p| p.iter().all(|&c| c < 100))
            .count();
        assert!(dark > 500, "{dark} dark pixels");
    }

    #[test]
    fn large_svg_is_left_out_of_the_bundle() {
        // A 300 x 300 heat map draws one SVG rectangle per cell: far over the limit.
        let n = 300;
        let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let z = Array2::from_shape_fn((n, n), |(i, j)| (i * j) as f64);
        let fig = Figure::from(Heatmap::new("big", xs.clone(), xs, z));
        assert!(svg_string(&fig, fig.size()).unwrap().len() > INLINE_SVG_MAX_BYTES);
        let bundle = evcxr_bundle(&fig).unwrap();
        let mimes: Vec<&str> = blocks(&bundle).into_iter().map(|b| b.0).collect();
        assert_eq!(mimes, ["image/png"]);
    }

    fn png_size(bundle: &str) -> (u32, u32) {
        let png = decode(blocks(bundle)[0].1);
        let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
        (be(16), be(20))
    }

    #[test]
    fn wide_grids_get_fewer_columns_inline() {
        let chart = |t: &str| Chart::new(t).line("l", vec![0.0, 1.0], vec![1.0, 0.0]);
        let three = Figure::grid(3, [chart("a"), chart("b"), chart("c")]).with_title("three");
        assert!(three.default_size().0 > INLINE_MAX_WIDTH);
        let inline = three.inline_layout().expect("a narrower layout");
        assert!(matches!(inline, Figure::Grid { cols: 2, .. }));
        assert_eq!(inline.size(), (960, 2 * 340 + 50));
        assert_eq!(png_size(&evcxr_bundle(&three).unwrap()), (960, 730));
        // Already narrow enough: unchanged, as are single charts and one-column grids.
        let two = Figure::grid(2, [chart("a"), chart("b")]);
        assert!(two.inline_layout().is_none());
        assert_eq!(png_size(&evcxr_bundle(&two).unwrap()), two.default_size());
        assert!(chart("a").inline_layout().is_none());
        // Any number of columns: the most that fit.
        let many = Figure::grid(9, (0..9).map(|i| chart(&i.to_string())));
        let inline = many.inline_layout().expect("a narrower layout");
        assert!(matches!(inline, Figure::Grid { cols: 2, .. }));
        assert!(inline.size().0 <= INLINE_MAX_WIDTH);
    }

    #[test]
    fn error_block_is_plain_text() {
        let e = Error::Plot("boom".into());
        assert_eq!(
            evcxr_error(&e),
            "EVCXR_BEGIN_CONTENT text/plain\nplot error: plotting failed: boom\nEVCXR_END_CONTENT"
        );
    }
}
