//! Register-tiled matrix products `C = A·B` on row-major slices, with the elementwise work
//! that follows each product (bias + ReLU, ReLU mask, accumulate) fused into the store.
//!
//! A tile of `MR × NR` outputs (6 × 8 for `f64`, 6 × 16 for `f32`: 12 of the 16 AVX2
//! registers) is accumulated over the whole reduction `p` in registers, one FMA per
//! product, in increasing `p`; the epilogue then sees each tile row once. The code is plain
//! Rust on fixed-size arrays, which LLVM turns into vector FMAs inside functions compiled
//! with `avx2,fma` enabled (see [`fma_available`]); elsewhere the same code runs unfused.

use super::float::Float;

/// True when the CPU has AVX2 and FMA (checked once by the standard library, then cached).
#[inline]
pub fn fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Left operand: element `(i, p)` is `data[i * rs + p * ps]` (a transpose is a swap of strides).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lhs<'a, F> {
    pub data: &'a [F],
    pub rs: usize,
    pub ps: usize,
}

/// Right operand, row-major: element `(p, j)` is `data[p * ld + j]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rhs<'a, F> {
    pub data: &'a [F],
    pub ld: usize,
}

/// What happens to a finished row segment `v = C[i, j0 .. j0 + v.len()]`.
pub(crate) trait Epilogue<F> {
    fn row(&mut self, i: usize, j0: usize, v: &[F]);
}

/// `out[i, j] = v`.
pub(crate) struct Store<'a, F> {
    pub out: &'a mut [F],
    pub ld: usize,
}

impl<F: Float> Epilogue<F> for Store<'_, F> {
    #[inline(always)]
    fn row(&mut self, i: usize, j0: usize, v: &[F]) {
        let dst = &mut self.out[i * self.ld + j0..][..v.len()];
        dst.copy_from_slice(v);
    }
}

/// `out[i, j] += v`.
pub(crate) struct Accumulate<'a, F> {
    pub out: &'a mut [F],
    pub ld: usize,
}

impl<F: Float> Epilogue<F> for Accumulate<'_, F> {
    #[inline(always)]
    fn row(&mut self, i: usize, j0: usize, v: &[F]) {
        let dst = &mut self.out[i * self.ld + j0..][..v.len()];
        for (d, &x) in dst.iter_mut().zip(v) {
            *d += x;
        }
    }
}

/// `out[i, j] = φ(v + bias[j])` with `φ` = ReLU when `relu`, else the identity
/// (a dense layer, `y = x W + b`, then its activation).
pub(crate) struct BiasAct<'a, F> {
    pub out: &'a mut [F],
    pub ld: usize,
    pub bias: &'a [F],
    pub relu: bool,
}

impl<F: Float> Epilogue<F> for BiasAct<'_, F> {
    #[inline(always)]
    fn row(&mut self, i: usize, j0: usize, v: &[F]) {
        let dst = &mut self.out[i * self.ld + j0..][..v.len()];
        let b = &self.bias[j0..][..v.len()];
        if self.relu {
            for ((d, &x), &b) in dst.iter_mut().zip(v).zip(b) {
                let z = x + b;
                *d = if z > F::ZERO { z } else { F::ZERO };
            }
        } else {
            for ((d, &x), &b) in dst.iter_mut().zip(v).zip(b) {
                *d = x + b;
            }
        }
    }
}

/// `out[i, j] = v · 1[h[i, j] > 0]`: the gradient through a ReLU whose output was `h`
/// (`relu(z) > 0` exactly when `z > 0`).
pub(crate) struct ReluMask<'a, F> {
    pub out: &'a mut [F],
    pub ld: usize,
    pub h: &'a [F],
}

impl<F: Float> Epilogue<F> for ReluMask<'_, F> {
    #[inline(always)]
    fn row(&mut self, i: usize, j0: usize, v: &[F]) {
        let dst = &mut self.out[i * self.ld + j0..][..v.len()];
        let h = &self.h[i * self.ld + j0..][..v.len()];
        for ((d, &x), &h) in dst.iter_mut().zip(v).zip(h) {
            *d = if h > F::ZERO { x } else { F::ZERO };
        }
    }
}

/// `C[m, n] = A[m, k] · B[k, n]`, each finished row segment handed to `epi`.
///
/// Panics if an operand is too short for the shape (an internal invariant: callers size
/// every buffer from the network's layer widths).
#[inline(always)]
pub(crate) fn gemm<F: Float, E: Epilogue<F>, const FMA: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut E,
) {
    if m == 0 || n == 0 {
        return;
    }
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
            gemv::<F, E, FMA, 16>(m, k, a, b, epi);
        } else {
            gemv::<F, E, FMA, 8>(m, k, a, b, epi);
        }
    } else if F::LANES == 8 {
        rows::<F, E, FMA, 16>(m, n, k, a, b, epi);
    } else {
        rows::<F, E, FMA, 8>(m, n, k, a, b, epi);
    }
}

/// `C[i, 0] = Σ_p A[i, p] b[p]` for contiguous rows of `A` and a contiguous `b`: `NR`
/// partial sums per row (`p mod NR`), added pairwise at the end.
#[inline(always)]
fn gemv<F: Float, E: Epilogue<F>, const FMA: bool, const NR: usize>(
    m: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut E,
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
fn rows<F: Float, E: Epilogue<F>, const FMA: bool, const NR: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut E,
) {
    let mut i0 = 0;
    while i0 + 6 <= m {
        cols::<F, E, FMA, 6, NR>(i0, n, k, a, b, epi);
        i0 += 6;
    }
    if m - i0 >= 4 {
        cols::<F, E, FMA, 4, NR>(i0, n, k, a, b, epi);
        i0 += 4;
    }
    if m - i0 >= 2 {
        cols::<F, E, FMA, 2, NR>(i0, n, k, a, b, epi);
        i0 += 2;
    }
    if m - i0 >= 1 {
        cols::<F, E, FMA, 1, NR>(i0, n, k, a, b, epi);
    }
}

#[inline(always)]
fn cols<F: Float, E: Epilogue<F>, const FMA: bool, const MR: usize, const NR: usize>(
    i0: usize,
    n: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut E,
) {
    let mut j0 = 0;
    while j0 + NR <= n {
        tile::<F, E, FMA, MR, NR>(i0, j0, k, a, b, epi);
        j0 += NR;
    }
    while j0 < n {
        tile::<F, E, FMA, MR, 1>(i0, j0, k, a, b, epi);
        j0 += 1;
    }
}

/// One `MR × NR` tile at `(i0, j0)`, accumulated over `p = 0 .. k` in order.
#[inline(always)]
fn tile<F: Float, E: Epilogue<F>, const FMA: bool, const MR: usize, const NR: usize>(
    i0: usize,
    j0: usize,
    k: usize,
    a: Lhs<'_, F>,
    b: Rhs<'_, F>,
    epi: &mut E,
) {
    let mut acc = [[F::ZERO; NR]; MR];
    let (ap, bp) = (a.data.as_ptr(), b.data.as_ptr());
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

/// `c = a · b` for row-major `a: [m, k]`, `b: [k, n]`, `c: [m, n]` through the tiled kernel
/// (for benchmarks against other backends). Errors on slices of the wrong length.
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
    let mut epi = Store { out: c, ld: n };
    #[cfg(target_arch = "x86_64")]
    if fma_available() {
        // SAFETY: the CPU has AVX2 and FMA.
        unsafe { matmul_fma(m, k, n, lhs, rhs, &mut epi) };
        return Ok(());
    }
    gemm::<F, _, false>(m, n, k, lhs, rhs, &mut epi);
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matmul_fma<F: Float>(
    m: usize,
    k: usize,
    n: usize,
    lhs: Lhs<'_, F>,
    rhs: Rhs<'_, F>,
    epi: &mut Store<'_, F>,
) {
    gemm::<F, _, true>(m, n, k, lhs, rhs, epi);
}
