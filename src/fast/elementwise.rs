//! The trainer's elementwise passes over the flat parameters (Adam, the finiteness check of
//! the gradient, the transposed weights), run through [`dispatch::run`] so that they are
//! compiled with the CPU's vector width (AVX-512: 8 `f64` or 16 `f32` per instruction). Each
//! element is computed by the same operations in the same order on every family (no FMA
//! contraction), so the results do not depend on it.
use super::dispatch::{self, Isa, Kernel};
use super::float::Float;

/// Adam's coefficients for one step: `β₁`, `β₂`, `1 − β₁`, `1 − β₂`, the bias corrections
/// `1/(1 − β₁ᵗ)`, `1/(1 − β₂ᵗ)`, the learning rate and `ε`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamCoefs<F> {
    pub b1: F,
    pub b2: F,
    pub ob1: F,
    pub ob2: F,
    pub c1: F,
    pub c2: F,
    pub lr: F,
    pub eps: F,
}

struct Adam<'a, F> {
    p: &'a mut [F],
    g: &'a [F],
    m: &'a mut [F],
    v: &'a mut [F],
    c: AdamCoefs<F>,
}

impl<F: Float> Kernel for Adam<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run<const ISA: u8>(self) {
        let c = self.c;
        for (((p, &g), m), v) in self.p.iter_mut().zip(self.g).zip(self.m).zip(self.v) {
            *m = (c.b1 * *m + c.ob1 * g).flush_subnormal();
            *v = (c.b2 * *v + c.ob2 * g * g).flush_subnormal();
            *p = *p - c.lr * (*m * c.c1) / ((*v * c.c2).sqrt() + c.eps);
        }
    }
}

/// One Adam update of `p` with gradient `g` and moments `m`, `v` (Kingma & Ba 2015, Algorithm
/// 1, in the operation order of `nn::Adam::step`, subnormal moments flushed to zero as there).
pub(crate) fn adam<F: Float>(
    isa: Isa,
    p: &mut [F],
    g: &[F],
    m: &mut [F],
    v: &mut [F],
    c: AdamCoefs<F>,
) {
    dispatch::run(isa, Adam { p, g, m, v, c });
}

struct AllFinite<'a, F>(&'a [F]);

impl<F: Float> Kernel for AllFinite<'_, F> {
    type Out = bool;
    #[inline(always)]
    fn run<const ISA: u8>(self) -> bool {
        // `0·x` is ±0 for finite `x` and NaN otherwise; a sum of them is 0 exactly when all
        // are finite (no short circuit, so it vectorises).
        let mut acc = [F::ZERO; 16];
        let mut chunks = self.0.chunks_exact(16);
        for c in &mut chunks {
            for l in 0..16 {
                acc[l] += c[l] * F::ZERO;
            }
        }
        acc.iter().all(|&a| a == F::ZERO) && chunks.remainder().iter().all(|x| x.is_finite())
    }
}

/// True when every value of `xs` is finite.
pub(crate) fn all_finite<F: Float>(isa: Isa, xs: &[F]) -> bool {
    dispatch::run(isa, AllFinite(xs))
}

/// `dst = srcᵀ` for `src` row-major `[rows, cols]`, in column panels of `width` (`>= 1`)
/// columns of `srcᵀ`: element `(c, r)` of `srcᵀ` at `(r / width) · cols · width + c · width +
/// r mod width` (the layout of `Rhs::panels`; `width = rows` is the plain `[cols, rows]`).
/// The last panel's padding is not written. As a [`Kernel`] so that the trainer can run it
/// inside its own dispatched pass. Panics unless `src` holds `rows · cols` values and `dst`
/// whole panels (`⌈rows / width⌉ · cols · width`), and on `cols` or `width` 0 (internal: the
/// trainer sizes them from the layer widths).
pub(crate) struct Transpose<'a, F> {
    pub src: &'a [F],
    pub dst: &'a mut [F],
    pub rows: usize,
    pub cols: usize,
    pub width: usize,
}

impl<F: Float> Kernel for Transpose<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run<const ISA: u8>(self) {
        let (rows, cols, w) = (self.rows, self.cols, self.width);
        assert!(self.src.len() >= rows * cols && self.dst.len() >= rows.div_ceil(w) * cols * w);
        // Per panel (`w` rows of `src`, `cols · w` elements of `dst`, in L1 for the kernels'
        // widths), each row of `src` read once, in order, into column `i` of the panel.
        for (q, panel) in self
            .dst
            .chunks_mut(cols * w)
            .enumerate()
            .take(rows.div_ceil(w))
        {
            let r0 = q * w;
            for (i, row) in self.src[r0 * cols..]
                .chunks_exact(cols)
                .take(w.min(rows - r0))
                .enumerate()
            {
                for (d, &x) in panel.chunks_exact_mut(w).zip(row) {
                    d[i] = x;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finiteness_and_transposes_agree_on_every_family() {
        for isa in Isa::supported() {
            for len in [0, 5, 16, 37] {
                let mut xs: Vec<f64> = (0..len).map(|i| i as f64 - 3.5).collect();
                assert!(all_finite(isa, &xs));
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    for at in (0..len).step_by(7) {
                        let keep = xs[at];
                        xs[at] = bad;
                        assert!(!all_finite(isa, &xs), "{isa:?} len {len} at {at}");
                        xs[at] = keep;
                    }
                }
            }
            // Plain (width = rows) and in panels, one of them partly filled.
            let src: Vec<f32> = (0..13 * 9).map(|i| i as f32).collect();
            for width in [13, 8, 4, 1] {
                let mut dst = vec![-1.0; 13usize.next_multiple_of(width) * 9];
                let (rows, cols) = (13, 9);
                let t = Transpose {
                    src: &src,
                    dst: &mut dst,
                    rows,
                    cols,
                    width,
                };
                dispatch::run(isa, t);
                for r in 0..rows {
                    for c in 0..cols {
                        let at = (r / width) * cols * width + c * width + r % width;
                        assert_eq!(dst[at], src[r * cols + c], "{isa:?} width {width}");
                    }
                }
                let written = dst.iter().filter(|&&x| x != -1.0).count();
                assert_eq!(
                    written,
                    rows * cols,
                    "{isa:?} width {width}: padding written"
                );
            }
        }
    }

    /// A moment that would be subnormal is stored as zero, on every family and at any
    /// position in a vector (lane or tail), and a normal one is left as it is: `g` just above
    /// the smallest normal makes `(1 − β₁) g` subnormal; `g = 0` decays a tiny `m` into the
    /// subnormals; `g = 1` stays normal.
    #[test]
    fn adam_flushes_subnormal_moments_on_every_family() {
        let c = AdamCoefs {
            b1: 0.9f32,
            b2: 0.999,
            ob1: 0.1,
            ob2: 0.001,
            c1: 10.0,
            c2: 1000.0,
            lr: 1e-3,
            eps: 1e-8,
        };
        for isa in Isa::supported() {
            for len in [1, 16, 37] {
                for at in [0, len / 2, len - 1] {
                    let mut g = vec![1.0f32; len];
                    let (mut m, mut v) = (vec![0.0f32; len], vec![0.0f32; len]);
                    g[at] = 1.5 * f32::MIN_POSITIVE;
                    let mut p = vec![0.0f32; len];
                    adam(isa, &mut p, &g, &mut m, &mut v, c);
                    assert!(0.1 * g[at] > 0.0 && 0.1 * g[at] < f32::MIN_POSITIVE);
                    assert_eq!((m[at], v[at], p[at]), (0.0, 0.0, 0.0), "{isa:?} {len} {at}");
                    let other = (at + 1) % len;
                    if other != at {
                        assert_eq!((m[other], v[other]), (0.1, 0.001), "{isa:?}");
                    }
                    // Decay: m = 1.1 · MIN_POSITIVE, g = 0 gives 0.99 · MIN_POSITIVE.
                    m[at] = 1.1 * f32::MIN_POSITIVE;
                    g[at] = 0.0;
                    adam(isa, &mut p, &g, &mut m, &mut v, c);
                    assert_eq!(m[at], 0.0, "{isa:?} {len} {at}");
                }
            }
        }
    }
}
