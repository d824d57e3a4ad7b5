//! The one-column products of `gemm` (a layer with one output): `C[i, 0] = Σ_p A[i, p] b[p]`,
//! as dot products along contiguous rows of `A` (`gemv`) or vectorised down a contiguous
//! column of a transposed `A` (`column`).

use super::dispatch::{AVX2, AVX512};
use super::float::Float;
use super::tile::{madd, pairwise_sum, Epilogue, Lhs, Rhs};

/// `C[i, 0] = Σ_p A[i, p] b[p]` for contiguous rows of `A` and a contiguous `b`: `NR`
/// partial sums per row (`p mod NR`), added pairwise at the end. Eight rows at a time, then
/// four, then one, so that independent chains of FMAs hide each other's latency (each row's
/// sums are the same whatever the grouping).
#[inline(always)]
pub(super) fn gemv<F: Float, const ISA: u8, const NR: usize>(
    m: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let mut i = 0;
    while i + 8 <= m {
        dot_rows::<F, ISA, NR, 8>(i, k, a, b, epi);
        i += 8;
    }
    if i + 4 <= m {
        dot_rows::<F, ISA, NR, 4>(i, k, a, b, epi);
        i += 4;
    }
    while i < m {
        dot_rows::<F, ISA, NR, 1>(i, k, a, b, epi);
        i += 1;
    }
}

/// `C[i, 0] = Σ_p A[i, p] b[p]` with `A[i, p] = a[i + p·ps]` (unit row stride): `L` rows
/// at a time, each summed over `p` in increasing order with one `madd` per product, as the
/// tiles do (so the same bits as the `MR × 1` tile it replaces).
#[inline(always)]
pub(super) fn column<F: Float, const ISA: u8, const L: usize>(
    m: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let mut i0 = 0;
    while i0 < m {
        let w = (m - i0).min(L);
        let mut acc = [F::ZERO; L];
        for p in 0..k {
            let y = b.data[p * b.ld];
            let x = &a.data[p * a.ps + i0..][..w];
            if w == L {
                for l in 0..L {
                    acc[l] = madd::<F, ISA>(x[l], y, acc[l]);
                }
            } else {
                for l in 0..w {
                    acc[l] = madd::<F, ISA>(x[l], y, acc[l]);
                }
            }
        }
        for (l, &v) in acc[..w].iter().enumerate() {
            epi.row(i0 + l, 0, &[v]);
        }
        i0 += w;
    }
}

/// Rows `i0 .. i0 + R` of [`gemv`].
#[inline(always)]
fn dot_rows<F: Float, const ISA: u8, const NR: usize, const R: usize>(
    i0: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut Epilogue<'_, F>,
) {
    let bv = &b.data[..k];
    let (body, tail) = bv.split_at(k - k % NR);
    let rows: [&[F]; R] = std::array::from_fn(|r| &a.data[(i0 + r) * a.rs..][..k]);
    let mut acc = [[F::ZERO; NR]; R];
    if !dot_lanes::<F, ISA, NR, R>(body.len() / NR, &rows, body, &mut acc) {
        for (c, y) in body.chunks_exact(NR).enumerate() {
            for r in 0..R {
                let x = &rows[r][c * NR..][..NR];
                for l in 0..NR {
                    acc[r][l] = madd::<F, ISA>(x[l], y[l], acc[r][l]);
                }
            }
        }
    }
    for r in 0..R {
        let mut total = pairwise_sum(&mut acc[r]);
        for (&x, &y) in rows[r][body.len()..].iter().zip(tail) {
            total = madd::<F, ISA>(x, y, total);
        }
        epi.row(i0 + r, 0, &[total]);
    }
}

/// The loop of [`dot_rows`] (`acc[r][l] = Σ_c A[i0 + r, c·NR + l] · b[c·NR + l]`, increasing
/// `c`, one FMA each) in vector registers, one lane per `l`, when family `ISA` has a kernel for
/// `NR` lanes of `F` (`simd512::dot_*`, `simd::dot_*`; the same bits as the loop, which LLVM
/// left in 128-bit registers with spills: 6% of workload C in `perf annotate`). False when
/// it has none.
#[inline(always)]
fn dot_lanes<F: Float, const ISA: u8, const NR: usize, const R: usize>(
    chunks: usize,
    rows: &[&[F]; R],
    b: &[F],
    acc: &mut [[F; NR]; R],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::any::TypeId;
        let (f64, f32) = (
            TypeId::of::<F>() == TypeId::of::<f64>(),
            TypeId::of::<F>() == TypeId::of::<f32>(),
        );
        assert!(b.len() >= chunks * NR && rows.iter().all(|r| r.len() >= chunks * NR));
        let (bp, out) = (b.as_ptr(), acc.as_mut_ptr().cast::<F>());
        // SAFETY (all four): as in `tile`, the `ISA = AVX512` (`AVX2`) instantiations run only
        // inside `dispatch::run` after detection of AVX-512F (AVX2 and FMA); the assert above
        // bounds the reads, `acc` holds `R · NR` elements, and each cast is to the type `F` is.
        unsafe {
            if ISA == AVX512 && NR == 8 && f64 {
                super::simd512::dot_f64::<R>(
                    chunks,
                    rows.map(|r| r.as_ptr().cast()),
                    bp.cast(),
                    out.cast(),
                );
                return true;
            }
            if ISA == AVX512 && NR == 16 && f32 {
                super::simd512::dot_f32::<R>(
                    chunks,
                    rows.map(|r| r.as_ptr().cast()),
                    bp.cast(),
                    out.cast(),
                );
                return true;
            }
            if ISA == AVX2 && NR == 8 && f64 {
                super::simd::dot_f64::<R>(
                    chunks,
                    rows.map(|r| r.as_ptr().cast()),
                    bp.cast(),
                    out.cast(),
                );
                return true;
            }
            if ISA == AVX2 && NR == 16 && f32 {
                super::simd::dot_f32::<R>(
                    chunks,
                    rows.map(|r| r.as_ptr().cast()),
                    bp.cast(),
                    out.cast(),
                );
                return true;
            }
        }
    }
    let _ = (chunks, rows, b, acc);
    false
}
