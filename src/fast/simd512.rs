//! AVX-512F register tiles for the tiled products of `gemm`: the `MR × 16` (`f64`) and
//! `MR × 32` (`f32`) products `C[i0 + r, j0 + c] = Σ_p A[i0 + r, p] · B[p, j0 + c]`, two
//! 512-bit accumulators per row, summed in increasing `p` with one FMA per product (the same
//! order and roundings as the AVX2 tiles of `simd` and the portable tile with `mul_add`, so the
//! same bits), and the [`Epilogue`] applied to the accumulators in registers.
//!
//! With 32 vector registers, `gemm` runs them with `MR = 8` (16 accumulators, two rows of `B`
//! and a broadcast): half the loads per FMA of the AVX2 `6 × 2` tile. The epilogues give the
//! AVX2 ones' bits: `max(z, 0)` is `+0` for `z = ±0` and NaN, and the mask keeps `v` exactly
//! where `h > 0` (`maskz_mov` writes `+0` elsewhere, as `and` with a compare mask does).
//!
//! Only called from `gemm`'s `ISA = AVX512` instantiations, which `dispatch::run` compiles
//! with `avx512f` enabled and runs only after detecting it.
#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use super::tile::{Epilogue, Lhs, Rhs};

macro_rules! tile512 {
    (
        $name:ident, $t:ty, $lanes:expr, $zero:ident, $load:ident, $set1:ident, $fmadd:ident,
        $store:ident, $add:ident, $mul:ident, $max:ident, $cmp:ident, $maskz:ident
    ) => {
        /// The `MR × 2·lanes` tile at `(i0, j0)` of the `· × k` product `a · b`, handed to
        /// `epi` from registers.
        ///
        /// # Safety
        /// The CPU has AVX-512F; `gemm` has checked that `a`, `b` and `epi` hold every index
        /// of the `(i0 + MR) × (j0 + 2·lanes)` corner of the product.
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
                        let x = $set1(*ap.add(r * a.rs));
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
                            $store(o.add(r * *ld), $maskz(m0, lo[r]));
                            $store(o.add(r * *ld + $lanes), $maskz(m1, hi[r]));
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
                        // One register of lanes per row: `lo` holds columns `j0 + l`, `hi`
                        // columns `j0 + lanes + l`, both lane `l` of the one-column product.
                        let (b0, b1) = (
                            $load(bias.as_ptr().add(j0)),
                            $load(bias.as_ptr().add(j0 + $lanes)),
                        );
                        let (w0, w1) = (
                            $load(w.as_ptr().add(j0)),
                            $load(w.as_ptr().add(j0 + $lanes)),
                        );
                        let d = lanes.as_mut_ptr().add(i0 * $lanes);
                        for r in 0..MR {
                            let z0 = $max($add(lo[r], b0), zero);
                            let z1 = $max($add(hi[r], b1), zero);
                            let acc = $fmadd(z0, w0, $load(d.add(r * $lanes)));
                            $store(d.add(r * $lanes), $fmadd(z1, w1, acc));
                        }
                    }
                }
            }
        }
    };
}

tile512!(
    tile_f64,
    f64,
    8,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_storeu_pd,
    _mm512_add_pd,
    _mm512_mul_pd,
    _mm512_max_pd,
    _mm512_cmp_pd_mask,
    _mm512_maskz_mov_pd
);
tile512!(
    tile_f32,
    f32,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps,
    _mm512_add_ps,
    _mm512_mul_ps,
    _mm512_max_ps,
    _mm512_cmp_ps_mask,
    _mm512_maskz_mov_ps
);

macro_rules! dot512 {
    ($name:ident, $t:ty, $lanes:expr, $zero:ident, $load:ident, $fmadd:ident, $store:ident) => {
        /// The lane sums of `R` dot products with one vector `b`: `acc[r·lanes + l] =
        /// Σ_c a_r[c·lanes + l] · b[c·lanes + l]` over `c = 0 .. chunks`, in increasing `c`
        /// with one FMA per product (the body of `gemv`, one register per row).
        ///
        /// # Safety
        /// The CPU has AVX-512F; each `rows[r]` and `b` hold `chunks · lanes` elements and
        /// `acc` holds `R · lanes`.
        #[inline(always)]
        pub(crate) unsafe fn $name<const R: usize>(
            chunks: usize,
            rows: [*const $t; R],
            b: *const $t,
            acc: *mut $t,
        ) {
            unsafe {
                let mut s = [$zero(); R];
                for c in 0..chunks {
                    let y = $load(b.add(c * $lanes));
                    for r in 0..R {
                        s[r] = $fmadd($load(rows[r].add(c * $lanes)), y, s[r]);
                    }
                }
                for r in 0..R {
                    $store(acc.add(r * $lanes), s[r]);
                }
            }
        }
    };
}

dot512!(
    dot_f64,
    f64,
    8,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_fmadd_pd,
    _mm512_storeu_pd
);
dot512!(
    dot_f32,
    f32,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);
