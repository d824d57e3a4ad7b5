//! Register-tiled matrix products `C = A·B` on row-major slices, with the elementwise work
//! that follows each product (bias + ReLU, ReLU mask, accumulate) fused into the store.
//!
//! A tile of `MR × NR` outputs is accumulated over the whole reduction `p` in registers, one
//! FMA per product, in increasing `p`; the epilogue then sees each tile row once. The tile
//! depends on the kernel family `ISA` ([`super::dispatch`]): AVX-512 runs `8 × 16` (`f64`) and
//! `8 × 32` (`f32`) tiles of [`super::simd512`] (16 of the 32 registers), with an AVX2 tile for
//! a leftover half; AVX2 + FMA runs `6 × 8` / `6 × 16` tiles of [`super::simd`] (12 of the 16
//! registers). Leftover rows go in tiles of 4, 2 and 1 rows, leftover columns one at a time in
//! plain Rust with `mul_add` (the same bits as the vector tiles). The portable family runs the
//! plain Rust tile everywhere, unfused.

use super::dispatch::{self, Isa, Kernel, AVX2, AVX512};
use super::float::Float;
use super::gemv::{column, gemv};
use super::tile::{madd, Epilogue, Lhs, Rhs};

/// `C[m, n] = A[m, k] · B[k, n]`, each finished row segment handed to `epi`, with the kernels
/// of family `ISA`: call it only from a [`Kernel`] body run by [`dispatch::run`].
///
/// Panics if an operand is too short for the shape (an internal invariant: callers size
/// every buffer from the network's layer widths).
#[inline(always)]
pub(crate) fn gemm<F: Float, const ISA: u8>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    if m == 0 || n == 0 {
        return;
    }
    epi.check(m, n);
    if k > 0 {
        assert!(
            (m - 1) * a.rs + (k - 1) * a.ps < a.data.len(),
            "gemm: lhs too short"
        );
        // The furthest element of column j is at col(j) + (k - 1) ld; the furthest of all is
        // column n - 1's or, in panels, that of the last column of the panel before its own.
        let reach = |j: usize| b.col(j) + (k - 1) * b.ld;
        let mut fits = reach(n - 1) < b.data.len();
        if let Some(q) = (n - 1).checked_div(b.pw) {
            fits &= q == 0 || reach(q * b.pw - 1) < b.data.len();
            assert!(
                b.pw <= b.ld && b.pw.is_multiple_of(panel_width::<F, ISA>()),
                "gemm: rhs panels"
            );
        } else {
            assert!(n <= b.ld, "gemm: rhs leading dimension");
        }
        assert!(fits, "gemm: rhs too short");
    }
    let f32 = F::LANES == 8;
    if n == 1 && a.ps == 1 && b.ld == 1 {
        // A matrix-vector product (a layer with one output): a dot product per row.
        if f32 {
            gemv::<F, ISA, 16>(m, k, a, b, epi);
        } else {
            gemv::<F, ISA, 8>(m, k, a, b, epi);
        }
    } else if n == 1 && a.rs == 1 {
        // One output column from a transposed left operand (`∂J/∂W = Aᵀ g` of a layer with
        // one output): the column is contiguous in `A`'s rows, so vectorise along it.
        column::<F, ISA, 16>(m, k, a, b, epi);
    } else if ISA == AVX512 {
        if f32 {
            rows::<F, ISA, 8, 32, 16>(m, n, k, a, b, epi);
        } else {
            rows::<F, ISA, 8, 16, 8>(m, n, k, a, b, epi);
        }
    } else if f32 {
        rows::<F, ISA, 6, 16, 16>(m, n, k, a, b, epi);
    } else {
        rows::<F, ISA, 6, 8, 8>(m, n, k, a, b, epi);
    }
}

/// Row tiles of `MR` outer (the rows of `A` stay in L1 across the column tiles), column tiles
/// inner; leftover rows in tiles of 4, 2, 1.
#[inline(always)]
fn rows<F: Float, const ISA: u8, const MR: usize, const NR: usize, const NH: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let mut i0 = 0;
    while i0 + MR <= m {
        cols::<F, ISA, MR, NR, NH>(i0, n, k, a, b, epi);
        i0 += MR;
    }
    if m - i0 >= 4 {
        cols::<F, ISA, 4, NR, NH>(i0, n, k, a, b, epi);
        i0 += 4;
    }
    if m - i0 >= 2 {
        cols::<F, ISA, 2, NR, NH>(i0, n, k, a, b, epi);
        i0 += 2;
    }
    if m - i0 >= 1 {
        cols::<F, ISA, 1, NR, NH>(i0, n, k, a, b, epi);
    }
}

/// Column tiles of `NR`, then one of `NH` (`NR / 2`, AVX-512 only) if that many are left, then
/// single columns.
#[inline(always)]
fn cols<F: Float, const ISA: u8, const MR: usize, const NR: usize, const NH: usize>(
    i0: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let mut j0 = 0;
    while j0 + NR <= n {
        tile::<F, ISA, MR, NR>(i0, j0, k, a, b, epi);
        j0 += NR;
    }
    if NH < NR && j0 + NH <= n {
        tile::<F, ISA, MR, NH>(i0, j0, k, a, b, epi);
        j0 += NH;
    }
    while j0 < n {
        tile::<F, ISA, MR, 1>(i0, j0, k, a, b, epi);
        j0 += 1;
    }
}

/// The column-tile width `NR` of family `ISA` for `F`: a right operand in column panels must
/// have panels a multiple of it wide, so that no tile straddles two panels.
pub(crate) const fn panel_width<F: Float, const ISA: u8>() -> usize {
    match (ISA == AVX512, F::LANES == 8) {
        (true, true) => 32,
        (true, false) => 16,
        (false, true) => 16,
        (false, false) => 8,
    }
}

/// One `MR × NR` tile at `(i0, j0)`, accumulated over `p = 0 .. k` in order.
#[inline(always)]
fn tile<F: Float, const ISA: u8, const MR: usize, const NR: usize>(
    i0: usize,
    j0: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::any::TypeId;
        let (f64, f32) = (
            TypeId::of::<F>() == TypeId::of::<f64>(),
            TypeId::of::<F>() == TypeId::of::<f32>(),
        );
        // SAFETY (all four): instantiations with `ISA = AVX512` (`AVX2`) run only inside
        // `dispatch::run`'s `#[target_feature]` functions, after detection of AVX-512F (AVX2
        // and FMA); `gemm` checked the operand indices (bounded below) and the epilogue's
        // (`Epilogue::check`); each cast is to the type `F` is.
        if ISA == AVX512 {
            if NR == 16 && f64 {
                unsafe {
                    super::simd512::tile_f64::<MR>(k, a.cast(), b.cast(), i0, j0, epi.cast())
                };
                return;
            }
            if NR == 32 && f32 {
                unsafe {
                    super::simd512::tile_f32::<MR>(k, a.cast(), b.cast(), i0, j0, epi.cast())
                };
                return;
            }
        }
        if ISA >= AVX2 {
            if NR == 8 && f64 {
                unsafe { super::simd::tile_f64::<MR>(k, a.cast(), b.cast(), i0, j0, epi.cast()) };
                return;
            }
            if NR == 16 && f32 {
                unsafe { super::simd::tile_f32::<MR>(k, a.cast(), b.cast(), i0, j0, epi.cast()) };
                return;
            }
        }
    }
    let mut acc = [[F::ZERO; NR]; MR];
    let (ap, bp) = (a.data.as_ptr(), b.data.as_ptr());
    for p in 0..k {
        // SAFETY: `gemm` checked that the largest index of each operand is in bounds:
        // (i0 + r) * rs + p * ps <= (m - 1) * rs + (k - 1) * ps < a.len(), and the tile's
        // columns j0 .. j0 + NR lie in one panel (gemm checked the panel width), so
        // col(j0) + c + p * ld = col(j0 + c) + p * ld <= reach(j0 + c) < b.len().
        let brow: [F; NR] =
            unsafe { std::ptr::read_unaligned(bp.add(b.col(j0) + p * b.ld).cast()) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let ar = unsafe { *ap.add((i0 + r) * a.rs + p * a.ps) };
            for c in 0..NR {
                acc_r[c] = madd::<F, ISA>(ar, brow[c], acc_r[c]);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        epi.row(i0 + r, j0, acc_r);
    }
}

/// One [`gemm`] call as a [`Kernel`], for [`dispatch::run`].
pub(crate) struct Gemm<'a, 'e, F> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: Lhs<'a, F>,
    pub b: Rhs<'a, F>,
    pub epi: &'e mut Epilogue<'a, F>,
}

impl<F: Float> Kernel for Gemm<'_, '_, F> {
    type Out = ();
    #[inline(always)]
    fn run<const ISA: u8>(self) {
        gemm::<F, ISA>(self.m, self.n, self.k, self.a, self.b, self.epi);
    }
}

/// `c = a · b` for row-major `a: [m, k]`, `b: [k, n]`, `c: [m, n]` through the tiled kernel of
/// family `isa` (the best the CPU has when it lacks `isa`). Not part of the book's API: public
/// (and hidden from the docs) only for `benches/matmul.rs`, which times it against other
/// backends. Errors on slices of the wrong length.
pub fn matmul_isa<F: Float>(
    isa: Isa,
    m: usize,
    k: usize,
    n: usize,
    a: &[F],
    b: &[F],
    c: &mut [F],
) -> crate::Result<()> {
    for (what, len, want) in [
        ("a", a.len(), m * k),
        ("b", b.len(), k * n),
        ("c", c.len(), m * n),
    ] {
        if len != want {
            return Err(crate::Error::shape(format!("matmul {what}"), want, len));
        }
    }
    let a = Lhs {
        data: a,
        rs: k,
        ps: 1,
    };
    let b = Rhs::rows(b, n);
    let epi = &mut Epilogue::Store { out: c, ld: n };
    dispatch::run(isa, Gemm { m, n, k, a, b, epi });
    Ok(())
}

/// [`matmul_isa`] with [`Isa::active`]. Errors on slices of the wrong length or a bad
/// `SCORE_SDE_ISA`.
pub fn matmul<F: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[F],
    b: &[F],
    c: &mut [F],
) -> crate::Result<()> {
    matmul_isa(Isa::active()?, m, k, n, a, b, c)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Every kernel family the CPU has (on an AVX-512 machine: AVX-512, AVX2 + FMA and
    //! portable), each against a scalar reference that sums `p` in increasing order (the order
    //! they promise), with one fused multiply-add per product for the vector families and a
    //! multiply then an add for the portable one: equal bit for bit, for every epilogue, both
    //! operand layouts, `f32` and `f64`, and shapes with leftover rows and columns (including a
    //! leftover half tile of AVX-512); the one-column product (`gemv`) against the same
    //! reference in its own order (lanes `p mod NR`, pairwise, then the leftover `p`), with 8,
    //! 4 and 1 rows at a time. Then the families against each other: the vector ones
    //! give the same bits; the portable one differs only by the extra rounding of each product,
    //! so by at most `2 (k + 2) u Σ_p |a_p b_p|` plus the rounding of the epilogue's add (`u`
    //! the unit roundoff); the test allows twice that.
    use super::*;

    fn reference<F: Float>(
        fused: bool,
        m: usize,
        n: usize,
        k: usize,
        a: Lhs<'_, F>,
        b: Rhs<'_, F>,
    ) -> (Vec<F>, Vec<f64>) {
        let mut c = vec![F::ZERO; m * n];
        let mut abs = vec![0.0; m * n];
        let madd = |x: F, y: F, s: F| {
            if fused {
                F::mul_add(x, y, s)
            } else {
                x * y + s
            }
        };
        // A one-column product with contiguous rows runs `gemv`: partial sums over
        // `p mod NR` (`NR` = 8 for `f64`, 16 for `f32`), added pairwise, then the leftover
        // `p` in order.
        let gemv = n == 1 && a.ps == 1 && b.ld == 1;
        // Lane l += lane l + w for w = nr/2, nr/4, …, 1; then lane 0.
        let halves = |lanes: &mut [F]| {
            let mut w = lanes.len();
            while w > 1 {
                w /= 2;
                for l in 0..w {
                    let v = lanes[l + w];
                    lanes[l] += v;
                }
            }
            lanes[0]
        };
        let nr = if F::LANES == 8 { 16 } else { 8 };
        for i in 0..m {
            for j in 0..n {
                let mut s = F::ZERO;
                let mut lanes = vec![F::ZERO; nr];
                let body = if gemv { k - k % nr } else { 0 };
                for p in 0..k {
                    let (x, y) = (a.data[i * a.rs + p * a.ps], b.data[p * b.ld + j]);
                    abs[i * n + j] += (x.to_f64() * y.to_f64()).abs();
                    if p < body {
                        lanes[p % nr] = madd(x, y, lanes[p % nr]);
                        continue;
                    }
                    if p == body && gemv {
                        s = halves(&mut lanes);
                    }
                    s = madd(x, y, s);
                }
                if gemv && body == k && k > 0 {
                    s = halves(&mut lanes);
                }
                c[i * n + j] = s;
            }
        }
        (c, abs)
    }

    /// Small values whose products and sums are exact enough to compare layouts bit for bit.
    pub(crate) fn values<F: Float>(len: usize, seed: usize) -> Vec<F> {
        (0..len)
            .map(|i| F::from_f64((((i * 37 + seed * 11) % 23) as f64 - 11.0) / 7.0))
            .collect()
    }

    pub(crate) const SHAPES: [(usize, usize, usize); 11] = [
        (13, 37, 9),
        (64, 64, 64),
        (7, 16, 1),
        (6, 8, 0),
        (2, 17, 33),
        (9, 24, 5),
        (17, 40, 12),
        (64, 256, 96),
        (3, 1, 70),
        (37, 1, 20),
        (19, 1, 64),
    ];

    /// The outputs of family `isa` for every shape, layout and epilogue, checked bit for bit
    /// against the reference; with the reference's `Σ |a_p b_p|` and the epilogue's operand.
    fn outputs<F: Float>(isa: Isa) -> Vec<(F, f64)> {
        let fused = isa != Isa::Portable;
        let mut all = Vec::new();
        for (m, n, k) in SHAPES {
            let (ad, bd) = (values::<F>(m * k.max(1), 1), values::<F>(k.max(1) * n, 2));
            let (h, bias, prior) = (
                values::<F>(m * n, 3),
                values::<F>(n, 4),
                values::<F>(m * n, 5),
            );
            for transposed in [false, true] {
                let a = if transposed {
                    Lhs {
                        data: &ad[..],
                        rs: 1,
                        ps: m,
                    }
                } else {
                    Lhs {
                        data: &ad[..],
                        rs: k,
                        ps: 1,
                    }
                };
                let b = Rhs::rows(&bd[..], n);
                let (c, abs) = reference(fused, m, n, k, a, b);
                for variant in 0..6 {
                    let mut out = prior.clone();
                    let epi = &mut match variant {
                        0 => Epilogue::Store {
                            out: &mut out,
                            ld: n,
                        },
                        1 => Epilogue::Accumulate {
                            out: &mut out,
                            ld: n,
                        },
                        2 | 3 => Epilogue::BiasAct {
                            out: &mut out,
                            ld: n,
                            bias: &bias,
                            relu: variant == 3,
                        },
                        4 => Epilogue::ReluMask {
                            out: &mut out,
                            ld: n,
                            h: &h,
                        },
                        _ => Epilogue::Scale {
                            out: &mut out,
                            ld: n,
                            s: &h,
                        },
                    };
                    dispatch::run(isa, Gemm { m, n, k, a, b, epi });
                    for (idx, (&got, &v)) in out.iter().zip(&c).enumerate() {
                        let j = idx % n;
                        let (want, other) = match variant {
                            0 => (v, 0.0),
                            1 => (prior[idx] + v, prior[idx].to_f64()),
                            2 => (v + bias[j], bias[j].to_f64()),
                            3 => {
                                let z = v + bias[j];
                                (if z > F::ZERO { z } else { F::ZERO }, bias[j].to_f64())
                            }
                            4 => (if h[idx] > F::ZERO { v } else { F::ZERO }, 0.0),
                            _ => (v * h[idx], 0.0),
                        };
                        // The scaled epilogue multiplies the sum's error by `|s| ≤ 11/7`.
                        let scale = if variant == 5 {
                            h[idx].to_f64().abs()
                        } else {
                            1.0
                        };
                        let bound = scale * 2.0 * (k as f64 + 2.0) * abs[idx] + 2.0 * other.abs();
                        assert!(
                            got.to_f64().to_bits() == want.to_f64().to_bits(),
                            "{} {} m {m} n {n} k {k} transposed {transposed} epilogue \
                             {variant} at {idx}: {got:?} vs {want:?}",
                            isa.name(),
                            F::NAME
                        );
                        all.push((got, bound));
                    }
                }
            }
        }
        all
    }

    fn check<F: Float>(unit_roundoff: f64) {
        let mut fused: Option<Vec<(F, f64)>> = None;
        let mut portable = None;
        for isa in Isa::supported() {
            let out = outputs::<F>(isa);
            if isa == Isa::Portable {
                portable = Some(out);
                continue;
            }
            if let Some(prev) = &fused {
                for (i, (x, y)) in prev.iter().zip(&out).enumerate() {
                    assert_eq!(
                        x.0.to_f64().to_bits(),
                        y.0.to_f64().to_bits(),
                        "{isa:?} at {i}"
                    );
                }
            }
            fused = Some(out);
        }
        if let (Some(f), Some(p)) = (fused, portable) {
            for (i, (x, y)) in f.iter().zip(&p).enumerate() {
                let diff = (x.0.to_f64() - y.0.to_f64()).abs();
                let tol = 2.0 * unit_roundoff * x.1;
                assert!(
                    diff <= tol,
                    "{} portable vs fused at {i}: {diff:e} > {tol:e}",
                    F::NAME
                );
            }
        }
    }

    #[test]
    fn every_family_equals_the_sequential_reference_and_the_others() {
        assert!(Isa::supported().any(|i| i == Isa::Portable));
        check::<f64>(f64::EPSILON / 2.0);
        check::<f32>(f32::EPSILON as f64 / 2.0);
    }

    #[test]
    fn isa_names_round_trip_and_unknown_names_are_errors() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()).unwrap(), isa);
        }
        assert!(Isa::parse("sse9").is_err());
        assert!(Isa::detected().is_supported());
        assert!(Isa::detected().checked().is_ok());
    }
}
