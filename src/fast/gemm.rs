//! Register-tiled matrix products `C = A·B` on row-major slices, with the elementwise work
//! that follows each product (bias + ReLU, ReLU mask, accumulate) fused into the store.
//!
//! A tile of `MR × NR` outputs (6 × 8 for `f64`, 6 × 16 for `f32`: 12 of the 16 AVX2
//! registers) is accumulated over the whole reduction `p` in registers, one FMA per
//! product, in increasing `p`; the epilogue then sees each tile row once. Inside functions
//! compiled with `avx2,fma` (see [`fma_available`]) the full tiles run the intrinsics of
//! [`super::simd`], the leftover ones plain Rust with `mul_add` (the same bits); elsewhere the
//! plain Rust runs unfused.

use super::float::Float;
use super::tile::{Epilogue, Lhs, Rhs};

/// True when the CPU has AVX2 and FMA (checked once by the standard library, then cached).
#[inline]
pub(crate) fn fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `C[m, n] = A[m, k] · B[k, n]`, each finished row segment handed to `epi`.
///
/// Panics if an operand is too short for the shape (an internal invariant: callers size
/// every buffer from the network's layer widths).
#[inline(always)]
pub(crate) fn gemm<F: Float, const FMA: bool>(
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
        assert!((k - 1) * b.ld + n <= b.data.len(), "gemm: rhs too short");
        assert!(n <= b.ld, "gemm: rhs leading dimension");
    }
    if n == 1 && a.ps == 1 && b.ld == 1 {
        // A matrix-vector product (a layer with one output): a dot product per row.
        if F::LANES == 8 {
            gemv::<F, FMA, 16>(m, k, a, b, epi);
        } else {
            gemv::<F, FMA, 8>(m, k, a, b, epi);
        }
    } else if F::LANES == 8 {
        rows::<F, FMA, 16>(m, n, k, a, b, epi);
    } else {
        rows::<F, FMA, 8>(m, n, k, a, b, epi);
    }
}

/// `C[i, 0] = Σ_p A[i, p] b[p]` for contiguous rows of `A` and a contiguous `b`: `NR`
/// partial sums per row (`p mod NR`), added pairwise at the end.
#[inline(always)]
fn gemv<F: Float, const FMA: bool, const NR: usize>(
    m: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let bv = &b.data[..k];
    let (body, tail) = bv.split_at(k - k % NR);
    for i in 0..m {
        let row = &a.data[i * a.rs..i * a.rs + k];
        let (rbody, rtail) = row.split_at(body.len());
        let mut acc = [F::ZERO; NR];
        for (x, y) in rbody.chunks_exact(NR).zip(body.chunks_exact(NR)) {
            for l in 0..NR {
                acc[l] = F::madd::<FMA>(x[l], y[l], acc[l]);
            }
        }
        let mut w = NR;
        while w > 1 {
            w /= 2;
            for l in 0..w {
                let v = acc[l + w];
                acc[l] += v;
            }
        }
        let mut total = acc[0];
        for (&x, &y) in rtail.iter().zip(tail) {
            total = F::madd::<FMA>(x, y, total);
        }
        epi.row(i, 0, &[total]);
    }
}

/// Row tiles outer (the `MR` rows of `A` stay in L1 across the column tiles), column tiles
/// inner; leftover rows in tiles of 4, 2, 1 and leftover columns one at a time.
#[inline(always)]
fn rows<F: Float, const FMA: bool, const NR: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let mut i0 = 0;
    while i0 + 6 <= m {
        cols::<F, FMA, 6, NR>(i0, n, k, a, b, epi);
        i0 += 6;
    }
    if m - i0 >= 4 {
        cols::<F, FMA, 4, NR>(i0, n, k, a, b, epi);
        i0 += 4;
    }
    if m - i0 >= 2 {
        cols::<F, FMA, 2, NR>(i0, n, k, a, b, epi);
        i0 += 2;
    }
    if m - i0 >= 1 {
        cols::<F, FMA, 1, NR>(i0, n, k, a, b, epi);
    }
}

#[inline(always)]
fn cols<F: Float, const FMA: bool, const MR: usize, const NR: usize>(
    i0: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let mut j0 = 0;
    while j0 + NR <= n {
        tile::<F, FMA, MR, NR>(i0, j0, k, a, b, epi);
        j0 += NR;
    }
    while j0 < n {
        tile::<F, FMA, MR, 1>(i0, j0, k, a, b, epi);
        j0 += 1;
    }
}

/// One `MR × NR` tile at `(i0, j0)`, accumulated over `p = 0 .. k` in order.
#[inline(always)]
fn tile<F: Float, const FMA: bool, const MR: usize, const NR: usize>(
    i0: usize,
    j0: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let mut acc = [[F::ZERO; NR]; MR];
    let (ap, bp) = (a.data.as_ptr(), b.data.as_ptr());
    #[cfg(target_arch = "x86_64")]
    if FMA {
        use std::any::TypeId;
        // SAFETY: `FMA` instantiations run only where the CPU has AVX2 and FMA; `gemm`
        // checked the operand indices (bounded below) and the epilogue's
        // (`Epilogue::check`); each cast is to the type `F` is.
        if NR == 8 && TypeId::of::<F>() == TypeId::of::<f64>() {
            unsafe { super::simd::tile_f64::<MR>(k, a.cast(), b.cast(), i0, j0, epi.cast()) };
            return;
        }
        if NR == 16 && TypeId::of::<F>() == TypeId::of::<f32>() {
            unsafe { super::simd::tile_f32::<MR>(k, a.cast(), b.cast(), i0, j0, epi.cast()) };
            return;
        }
    }
    for p in 0..k {
        // SAFETY: `gemm` checked that the largest index of each operand is in bounds:
        // (i0 + r) * rs + p * ps <= (m - 1) * rs + (k - 1) * ps < a.len() and
        // p * ld + j0 + NR <= (k - 1) * ld + n <= b.len().
        let brow: [F; NR] = unsafe { std::ptr::read_unaligned(bp.add(p * b.ld + j0).cast()) };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let ar = unsafe { *ap.add((i0 + r) * a.rs + p * a.ps) };
            for c in 0..NR {
                acc_r[c] = F::madd::<FMA>(ar, brow[c], acc_r[c]);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        epi.row(i0 + r, j0, acc_r);
    }
}

/// `c = a · b` for row-major `a: [m, k]`, `b: [k, n]`, `c: [m, n]` through the tiled kernel.
/// Not part of the book's API: public (and hidden from the docs) only for `benches/matmul.rs`,
/// which times it against other backends. Errors on slices of the wrong length.
pub fn matmul<F: Float>(
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
    let lhs = Lhs {
        data: a,
        rs: k,
        ps: 1,
    };
    let rhs = Rhs { data: b, ld: n };
    let mut epi = Epilogue::Store { out: c, ld: n };
    #[cfg(target_arch = "x86_64")]
    if fma_available() {
        // SAFETY: the CPU has AVX2 and FMA.
        unsafe { gemm_fma(m, n, k, lhs, rhs, &mut epi) };
        return Ok(());
    }
    gemm::<F, false>(m, n, k, lhs, rhs, &mut epi);
    Ok(())
}

/// [`gemm`] compiled with AVX2 and FMA enabled, so that the full tiles run [`super::simd`].
///
/// # Safety
/// The CPU has AVX2 and FMA ([`fma_available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn gemm_fma<F: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    gemm::<F, true>(m, n, k, a, b, epi);
}

#[cfg(test)]
mod tests {
    //! The kernels against a scalar reference that sums `p` in increasing order (the order they
    //! promise), with one fused multiply-add per product where the CPU has FMA (the vector
    //! tiles) and a multiply then an add elsewhere (the portable tile): equal bit for bit, for
    //! every epilogue, both operand layouts, `f32` and `f64`, and shapes with leftover rows and
    //! columns.
    use super::*;

    fn reference<F: Float>(
        fused: bool,
        m: usize,
        n: usize,
        k: usize,
        a: Lhs<'_, F>,
        b: Rhs<'_, F>,
    ) -> Vec<F> {
        let mut c = vec![F::ZERO; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = F::ZERO;
                for p in 0..k {
                    let (x, y) = (a.data[i * a.rs + p * a.ps], b.data[p * b.ld + j]);
                    s = if fused {
                        F::mul_add(x, y, s)
                    } else {
                        x * y + s
                    };
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    fn values<F: Float>(len: usize, seed: usize) -> Vec<F> {
        (0..len)
            .map(|i| F::from_f64((((i * 37 + seed * 11) % 23) as f64 - 11.0) / 7.0))
            .collect()
    }

    fn check<F: Float>() {
        let fused = fma_available();
        for (m, n, k) in [
            (13, 37, 9),
            (64, 64, 64),
            (7, 16, 1),
            (6, 8, 0),
            (2, 17, 33),
        ] {
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
                let b = Rhs {
                    data: &bd[..],
                    ld: n,
                };
                let c = reference(fused, m, n, k, a, b);
                for variant in 0..5 {
                    let mut out = prior.clone();
                    let mut epi = match variant {
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
                        _ => Epilogue::ReluMask {
                            out: &mut out,
                            ld: n,
                            h: &h,
                        },
                    };
                    if fused {
                        // SAFETY: `fma_available()` above.
                        #[cfg(target_arch = "x86_64")]
                        unsafe {
                            gemm_fma(m, n, k, a, b, &mut epi)
                        };
                    } else {
                        gemm::<F, false>(m, n, k, a, b, &mut epi);
                    }
                    for (idx, (&got, &v)) in out.iter().zip(&c).enumerate() {
                        let j = idx % n;
                        let want = match variant {
                            0 => v,
                            1 => prior[idx] + v,
                            2 => v + bias[j],
                            3 => {
                                let z = v + bias[j];
                                if z > F::ZERO {
                                    z
                                } else {
                                    F::ZERO
                                }
                            }
                            _ => {
                                if h[idx] > F::ZERO {
                                    v
                                } else {
                                    F::ZERO
                                }
                            }
                        };
                        assert!(
                            got.to_f64().to_bits() == want.to_f64().to_bits(),
                            "{} m {m} n {n} k {k} transposed {transposed} epilogue {variant} \
                             at {idx}: {got:?} vs {want:?}",
                            F::NAME
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn vector_tiles_equal_the_sequential_fma_reference() {
        check::<f64>();
        check::<f32>();
    }
}
