//! AVX2 + FMA register tiles for the tiled products of `gemm`: the `MR × 8` (`f64`) and `MR × 16` (`f32`)
//! products `C[i0 + r, j0 + c] = Σ_p A[i0 + r, p] · B[p, j0 + c]`, two 256-bit accumulators
//! per row, summed in increasing `p` with one FMA per product as in the portable tile, and
//! the [`Epilogue`] applied to the accumulators in registers.
//!
//! Written with `std::arch` intrinsics because LLVM's vectorisation of the portable tile kept
//! two of the twelve accumulators on the stack (a store and a reload per `p`) and left the
//! epilogues scalar (both seen with `perf annotate`). The vector epilogues give the portable
//! ones' results bit for bit: `max(z, 0)` returns `+0` for `z = ±0` and `0` for NaN, like
//! `if z > 0 { z } else { 0 }`, and the mask keeps `v` exactly where `h > 0`.
//!
//! Only called from `gemm`'s `ISA = AVX2` and `AVX512` instantiations, which run after a check that the CPU
//! has AVX2 and FMA.
#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use super::tile::{Epilogue, Lhs, Rhs};

macro_rules! tile_kernel {
    (
        $name:ident, $t:ty, $lanes:expr, $zero:ident, $load:ident, $bcast:ident, $fmadd:ident,
        $store:ident, $add:ident, $mul:ident, $max:ident, $and:ident, $cmp:ident
    ) => {
        /// The `MR × 2·lanes` tile at `(i0, j0)` of the `· × k` product `a · b`, handed to
        /// `epi` from registers.
        ///
        /// # Safety
        /// The CPU has AVX2 and FMA; `gemm` has checked that `a`, `b` and `epi` hold every
        /// index of the `(i0 + MR) × (j0 + 2·lanes)` corner of the product.
        #[inline(always)]
        pub(crate) unsafe fn $name<const MR: usize>(
            k: usize,
            a: Lhs<'_, $t>,
            b: Rhs<'_, $t>,
            i0: usize,
            j0: usize,
            epi: &mut Epilogue<'_, $t>,
        ) {
            unsafe {
                let mut lo = [$zero(); MR];
                let mut hi = [$zero(); MR];
                let mut ap = a.data.as_ptr().wrapping_add(i0 * a.rs);
                let mut bp = b.data.as_ptr().wrapping_add(b.col(j0));
                for _ in 0..k {
                    let b0 = $load(bp);
                    let b1 = $load(bp.add($lanes));
                    for r in 0..MR {
                        let x = $bcast(&*ap.add(r * a.rs));
                        lo[r] = $fmadd(x, b0, lo[r]);
                        hi[r] = $fmadd(x, b1, hi[r]);
                    }
                    ap = ap.wrapping_add(a.ps);
                    bp = bp.wrapping_add(b.ld);
                }
                let zero = $zero();
                match epi {
                    Epilogue::Store { out, ld } => {
                        let o = out.as_mut_ptr().add(i0 * *ld + j0);
                        for r in 0..MR {
                            $store(o.add(r * *ld), lo[r]);
                            $store(o.add(r * *ld + $lanes), hi[r]);
                        }
                    }
                    Epilogue::Accumulate { out, ld } => {
                        let o = out.as_mut_ptr().add(i0 * *ld + j0);
                        for r in 0..MR {
                            let (p0, p1) = (o.add(r * *ld), o.add(r * *ld + $lanes));
                            $store(p0, $add($load(p0), lo[r]));
                            $store(p1, $add($load(p1), hi[r]));
                        }
                    }
                    Epilogue::BiasAct {
                        out,
                        ld,
                        bias,
                        relu,
                    } => {
                        let o = out.as_mut_ptr().add(i0 * *ld + j0);
                        let b0 = $load(bias.as_ptr().add(j0));
                        let b1 = $load(bias.as_ptr().add(j0 + $lanes));
                        for r in 0..MR {
                            let (mut z0, mut z1) = ($add(lo[r], b0), $add(hi[r], b1));
                            if *relu {
                                z0 = $max(z0, zero);
                                z1 = $max(z1, zero);
                            }
                            $store(o.add(r * *ld), z0);
                            $store(o.add(r * *ld + $lanes), z1);
                        }
                    }
                    Epilogue::ReluMask { out, ld, h } => {
                        let at = i0 * *ld + j0;
                        let (o, hp) = (out.as_mut_ptr().add(at), h.as_ptr().add(at));
                        for r in 0..MR {
                            let (h0, h1) =
                                ($load(hp.add(r * *ld)), $load(hp.add(r * *ld + $lanes)));
                            let m0 = $cmp::<_CMP_GT_OQ>(h0, zero);
                            let m1 = $cmp::<_CMP_GT_OQ>(h1, zero);
                            $store(o.add(r * *ld), $and(m0, lo[r]));
                            $store(o.add(r * *ld + $lanes), $and(m1, hi[r]));
                        }
                    }
                    Epilogue::Scale { out, ld, s } => {
                        let at = i0 * *ld + j0;
                        let (o, sp) = (out.as_mut_ptr().add(at), s.as_ptr().add(at));
                        for r in 0..MR {
                            let (s0, s1) =
                                ($load(sp.add(r * *ld)), $load(sp.add(r * *ld + $lanes)));
                            $store(o.add(r * *ld), $mul(lo[r], s0));
                            $store(o.add(r * *ld + $lanes), $mul(hi[r], s1));
                        }
                    }
                    Epilogue::BiasReluDot { bias, w, lanes } => {
                        // The tile is one chunk of the one-column product's `2·lanes` lanes:
                        // `lo` its first half, `hi` its second.
                        let (b0, b1) = (
                            $load(bias.as_ptr().add(j0)),
                            $load(bias.as_ptr().add(j0 + $lanes)),
                        );
                        let (w0, w1) = (
                            $load(w.as_ptr().add(j0)),
                            $load(w.as_ptr().add(j0 + $lanes)),
                        );
                        let d = lanes.as_mut_ptr().add(i0 * 2 * $lanes);
                        for r in 0..MR {
                            let (d0, d1) = (d.add(r * 2 * $lanes), d.add(r * 2 * $lanes + $lanes));
                            let z0 = $max($add(lo[r], b0), zero);
                            let z1 = $max($add(hi[r], b1), zero);
                            $store(d0, $fmadd(z0, w0, $load(d0)));
                            $store(d1, $fmadd(z1, w1, $load(d1)));
                        }
                    }
                }
            }
        }
    };
}

tile_kernel!(
    tile_f64,
    f64,
    4,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_broadcast_sd,
    _mm256_fmadd_pd,
    _mm256_storeu_pd,
    _mm256_add_pd,
    _mm256_mul_pd,
    _mm256_max_pd,
    _mm256_and_pd,
    _mm256_cmp_pd
);
tile_kernel!(
    tile_f32,
    f32,
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_broadcast_ss,
    _mm256_fmadd_ps,
    _mm256_storeu_ps,
    _mm256_add_ps,
    _mm256_mul_ps,
    _mm256_max_ps,
    _mm256_and_ps,
    _mm256_cmp_ps
);

macro_rules! dot_kernel {
    ($name:ident, $t:ty, $lanes:expr, $zero:ident, $load:ident, $fmadd:ident, $store:ident) => {
        /// The lane sums of `R` dot products with one vector `b`: `acc[r·2·lanes + l] =
        /// Σ_c a_r[c·2·lanes + l] · b[c·2·lanes + l]` over `c = 0 .. chunks`, in increasing
        /// `c` with one FMA per product (the body of `gemv`, two registers per row).
        ///
        /// # Safety
        /// The CPU has AVX2 and FMA; each `rows[r]` and `b` hold `chunks · 2·lanes` elements
        /// and `acc` holds `R · 2·lanes`.
        #[inline(always)]
        pub(crate) unsafe fn $name<const R: usize>(
            chunks: usize,
            rows: [*const $t; R],
            b: *const $t,
            acc: *mut $t,
        ) {
            unsafe {
                let mut lo = [$zero(); R];
                let mut hi = [$zero(); R];
                for c in 0..chunks {
                    let at = c * 2 * $lanes;
                    let (y0, y1) = ($load(b.add(at)), $load(b.add(at + $lanes)));
                    for r in 0..R {
                        lo[r] = $fmadd($load(rows[r].add(at)), y0, lo[r]);
                        hi[r] = $fmadd($load(rows[r].add(at + $lanes)), y1, hi[r]);
                    }
                }
                for r in 0..R {
                    $store(acc.add(r * 2 * $lanes), lo[r]);
                    $store(acc.add(r * 2 * $lanes + $lanes), hi[r]);
                }
            }
        }
    };
}

dot_kernel!(
    dot_f64,
    f64,
    4,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_fmadd_pd,
    _mm256_storeu_pd
);
dot_kernel!(
    dot_f32,
    f32,
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);
