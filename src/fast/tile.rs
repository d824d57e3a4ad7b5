//! The operands and epilogues of the tiled products in `gemm`, `simd` and `simd512`: row-major
//! slices with strides, the elementwise work fused into each product's store, and the
//! arithmetic they share (`madd`, the one-column product's lanes and their `pairwise_sum`).
use super::dispatch::PORTABLE;
use super::float::Float;

/// Left operand: element `(i, p)` is `data[i * rs + p * ps]` (a transpose is a swap of strides).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lhs<'a, F> {
    pub data: &'a [F],
    pub rs: usize,
    pub ps: usize,
}

impl<'a, F: 'static> Lhs<'a, F> {
    /// The same operand as a `G`, which must be the type `F` is.
    ///
    /// # Safety
    /// `F` and `G` are the same type.
    pub(crate) unsafe fn cast<G>(self) -> Lhs<'a, G> {
        Lhs {
            // SAFETY: same type, so same layout and validity.
            data: unsafe { std::slice::from_raw_parts(self.data.as_ptr().cast(), self.data.len()) },
            rs: self.rs,
            ps: self.ps,
        }
    }
}

/// Right operand: element `(p, j)` is `data[col(j) + p * ld]`. Row-major (`pw == 0`):
/// `col(j) = j`. In column panels of width `pw` (as BLAS packs `B`, so that a tile's rows are
/// contiguous): `col(j) = (j / pw) · ps + j mod pw`, panel after panel `ps` apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rhs<'a, F> {
    pub data: &'a [F],
    pub ld: usize,
    /// Panel width, 0 for row-major.
    pub pw: usize,
    /// Panel stride (elements from one panel's start to the next).
    pub ps: usize,
}

impl<'a, F> Rhs<'a, F> {
    /// Row-major `[k, ·]` with leading dimension `ld`.
    pub(crate) fn rows(data: &'a [F], ld: usize) -> Self {
        Rhs {
            data,
            ld,
            pw: 0,
            ps: 0,
        }
    }

    /// `k` rows in column panels of width `pw` (each `[k, pw]` row-major, the last one padded).
    pub(crate) fn panels(data: &'a [F], k: usize, pw: usize) -> Self {
        Rhs {
            data,
            ld: pw,
            pw,
            ps: k * pw,
        }
    }

    /// Where column `j` of row 0 is.
    #[inline(always)]
    pub(crate) fn col(&self, j: usize) -> usize {
        match (j.checked_div(self.pw), j.checked_rem(self.pw)) {
            (Some(q), Some(r)) => q * self.ps + r,
            _ => j,
        }
    }
}

impl<'a, F: 'static> Rhs<'a, F> {
    /// The same operand as a `G`, which must be the type `F` is.
    ///
    /// # Safety
    /// `F` and `G` are the same type.
    pub(crate) unsafe fn cast<G>(self) -> Rhs<'a, G> {
        Rhs {
            // SAFETY: same type, so same layout and validity.
            data: unsafe { std::slice::from_raw_parts(self.data.as_ptr().cast(), self.data.len()) },
            ld: self.ld,
            pw: self.pw,
            ps: self.ps,
        }
    }
}

/// What happens to each finished output `v = C[i, j]`: the elementwise work after a product.
pub(crate) enum Epilogue<'a, F> {
    /// `out[i, j] = v`.
    Store { out: &'a mut [F], ld: usize },
    /// `out[i, j] += v`.
    Accumulate { out: &'a mut [F], ld: usize },
    /// `out[i, j] = φ(v + bias[j])` with `φ` = ReLU when `relu`, else the identity (a dense
    /// layer, `y = x W + b`, then its activation).
    BiasAct {
        out: &'a mut [F],
        ld: usize,
        bias: &'a [F],
        relu: bool,
    },
    /// `out[i, j] = v · 1[h[i, j] > 0]`: the gradient through a ReLU whose output was `h`
    /// (`relu(z) > 0` exactly when `z > 0`); `h` has the layout of `out`.
    ReluMask {
        out: &'a mut [F],
        ld: usize,
        h: &'a [F],
    },
    /// `out[i, j] = v · s[i, j]`: the gradient through an elementwise activation whose
    /// derivative at the layer's pre-activation is `s` (SiLU); `s` has the layout of `out`.
    Scale {
        out: &'a mut [F],
        ld: usize,
        s: &'a [F],
    },
    /// `lanes[i·L + j mod L] = fma(relu(v + bias[j]), w[j], lanes[i·L + j mod L])`: a ReLU
    /// hidden layer followed by a layer with one output `Σ_j relu(·)_j w[j]`, whose products
    /// are summed into the `L` lanes of [`gemm`](super::gemm::gemm)'s one-column product
    /// (`L` = 8 for `f64`, 16 for `f32`) without storing the hidden activations. Column tiles
    /// come in increasing `j`, so each lane gets its products in the one-column product's
    /// order. Inference only, on the vector families, with a hidden width that is a multiple
    /// of `2L` (whole tiles, no leftover columns).
    BiasReluDot {
        bias: &'a [F],
        w: &'a [F],
        lanes: &'a mut [F],
    },
}

/// The sum of the one-column product's lanes `acc` (a power of two of them): halves added
/// pairwise (`acc[l] += acc[l + w]` for `w` = half, a quarter, …, 1), then lane 0.
#[inline(always)]
pub(crate) fn pairwise_sum<F: Float>(acc: &mut [F]) -> F {
    let mut w = acc.len();
    while w > 1 {
        w /= 2;
        for l in 0..w {
            let v = acc[l + w];
            acc[l] += v;
        }
    }
    acc[0]
}

/// The lanes of the one-column product (`gemm`'s `gemv`) and of [`Epilogue::BiasReluDot`]:
/// 8 for `f64`, 16 for `f32`.
pub(crate) const fn dot_lanes<F: Float>() -> usize {
    if F::LANES == 8 {
        16
    } else {
        8
    }
}

impl<'a, F: Float> Epilogue<'a, F> {
    /// The same epilogue over a `G`, which must be the type `F` is.
    ///
    /// # Safety
    /// `F` and `G` are the same type.
    pub(crate) unsafe fn cast<G>(&mut self) -> &mut Epilogue<'a, G> {
        // SAFETY: same type, so same layout.
        unsafe { &mut *(self as *mut Self).cast() }
    }

    /// Panics unless every index an `m × n` product writes or reads is in bounds (an internal
    /// invariant, checked once so that the vector kernels can use raw pointers).
    pub(super) fn check(&self, m: usize, n: usize) {
        let (out_len, ld) = match self {
            Epilogue::Store { out, ld } | Epilogue::Accumulate { out, ld } => (out.len(), *ld),
            Epilogue::BiasAct { out, ld, bias, .. } => {
                assert!(n <= bias.len(), "gemm: bias too short");
                (out.len(), *ld)
            }
            Epilogue::BiasReluDot { bias, w, lanes } => {
                assert!(
                    n <= bias.len() && n <= w.len(),
                    "gemm: bias or weights too short"
                );
                assert!(m * dot_lanes::<F>() <= lanes.len(), "gemm: lanes too short");
                return;
            }
            Epilogue::ReluMask { out, ld, h: s } | Epilogue::Scale { out, ld, s } => {
                assert!(
                    (m - 1) * *ld + n <= s.len(),
                    "gemm: mask or scale too short"
                );
                (out.len(), *ld)
            }
        };
        assert!(n <= ld, "gemm: output leading dimension");
        assert!((m - 1) * ld + n <= out_len, "gemm: output too short");
    }

    /// Applies the epilogue to the segment `v = C[i, j0 .. j0 + N]`.
    #[inline(always)]
    pub(super) fn row<const N: usize>(&mut self, i: usize, j0: usize, v: &[F; N]) {
        match self {
            Epilogue::Store { out, ld } => out[i * *ld + j0..][..N].copy_from_slice(v),
            Epilogue::Accumulate { out, ld } => {
                for (d, &x) in out[i * *ld + j0..][..N].iter_mut().zip(v) {
                    *d += x;
                }
            }
            Epilogue::BiasAct {
                out,
                ld,
                bias,
                relu,
            } => {
                let dst = &mut out[i * *ld + j0..][..N];
                for ((d, &x), &b) in dst.iter_mut().zip(v).zip(&bias[j0..][..N]) {
                    let z = x + b;
                    *d = if !*relu || z > F::ZERO { z } else { F::ZERO };
                }
            }
            Epilogue::ReluMask { out, ld, h } => {
                let at = i * *ld + j0;
                for ((d, &x), &h) in out[at..][..N].iter_mut().zip(v).zip(&h[at..][..N]) {
                    *d = if h > F::ZERO { x } else { F::ZERO };
                }
            }
            Epilogue::Scale { out, ld, s } => {
                let at = i * *ld + j0;
                for ((d, &x), &s) in out[at..][..N].iter_mut().zip(v).zip(&s[at..][..N]) {
                    *d = x * s;
                }
            }
            Epilogue::BiasReluDot { bias, w, lanes } => {
                let l = dot_lanes::<F>();
                for (c, &x) in v.iter().enumerate() {
                    let (j, z) = (j0 + c, x + bias[j0 + c]);
                    let h = if z > F::ZERO { z } else { F::ZERO };
                    let d = &mut lanes[i * l + j % l];
                    *d = F::mul_add(h, w[j], *d);
                }
            }
        }
    }
}

/// `a·b + c`: one rounding (an FMA) in the vector families, two in the portable one.
#[inline(always)]
pub(crate) fn madd<F: Float, const ISA: u8>(a: F, b: F, c: F) -> F {
    if ISA != PORTABLE {
        F::mul_add(a, b, c)
    } else {
        a * b + c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::dispatch::{self, Isa, Kernel};
    use crate::fast::gemm::tests::{values, SHAPES};
    use crate::fast::gemm::{panel_width, Gemm};

    /// The scalar arm of [`Epilogue::BiasReluDot`] (leftover columns, which `mlp::forward`
    /// never hands it): column `j` goes to lane `j mod L` as `fma(relu(v + bias), w, lane)`,
    /// columns in the order given; and [`pairwise_sum`] adds halves, then quarters.
    #[test]
    fn bias_relu_dot_row_and_pairwise_sum() {
        let l = dot_lanes::<f64>();
        assert_eq!((l, dot_lanes::<f32>()), (8, 16));
        let n = 2 * l + 3;
        let bias: Vec<f64> = (0..n).map(|j| 0.25 * j as f64 - 2.0).collect();
        let w: Vec<f64> = (0..n).map(|j| 1.0 / (1.0 + j as f64)).collect();
        let v: Vec<f64> = (0..n).map(|j| (j as f64 * 0.7).sin()).collect();
        let mut lanes = vec![0.5; 2 * l];
        let mut epi = Epilogue::BiasReluDot {
            bias: &bias,
            w: &w,
            lanes: &mut lanes,
        };
        let (head, tail) = v.split_at(2 * l);
        epi.row::<16>(1, 0, head.try_into().unwrap());
        epi.row::<3>(1, 2 * l, tail.try_into().unwrap());
        let mut want = vec![0.5; l];
        for j in 0..n {
            let h = (v[j] + bias[j]).max(0.0);
            want[j % l] = h.mul_add(w[j], want[j % l]);
        }
        assert_eq!(&lanes[l..], &want[..]);
        assert_eq!(&lanes[..l], &[0.5; 8][..], "row 0 untouched");
        // Halves: (1 + -1) + (1e-16 + 1e-16) = 2e-16. In sequence the first 1e-16 is lost to
        // the 1 (1e-16); adjacent pairs give 2⁻⁵³.
        let mut x = [1.0, 1e-16, -1.0, 1e-16];
        assert_eq!(pairwise_sum(&mut x), 2e-16);
    }

    /// The tile width of a family, as a kernel (it is a const of the family's instantiation).
    struct Width<F>(std::marker::PhantomData<F>);

    impl<F: Float> Kernel for Width<F> {
        type Out = usize;
        fn run<const ISA: u8>(self) -> usize {
            panel_width::<F, ISA>()
        }
    }

    /// `B` in column panels gives the bits of `B` row-major, on every family and shape with
    /// more than one column (one column row-major is the one-column product, in lanes), with
    /// panels one and two tiles wide, from a buffer that ends at the last element read; one
    /// element shorter, or panels that a tile would straddle, are refused.
    fn panels_match_rows<F: Float>() {
        for isa in Isa::supported() {
            let nr = dispatch::run(isa, Width::<F>(std::marker::PhantomData));
            for (m, n, k) in SHAPES.into_iter().filter(|s| s.1 > 1 && s.2 > 0) {
                let (ad, bd) = (values::<F>(m * k, 1), values::<F>(k * n, 2));
                let a = Lhs {
                    data: &ad[..],
                    rs: k,
                    ps: 1,
                };
                let mut want = vec![F::ZERO; m * n];
                let epi = &mut Epilogue::Store {
                    out: &mut want,
                    ld: n,
                };
                dispatch::run(
                    isa,
                    Gemm {
                        m,
                        n,
                        k,
                        a,
                        b: Rhs::rows(&bd, n),
                        epi,
                    },
                );
                for pw in [nr, 2 * nr] {
                    // Padding NaN: a read of it would show in the output.
                    let mut packed = vec![F::from_f64(f64::NAN); n.next_multiple_of(pw) * k];
                    for p in 0..k {
                        for j in 0..n {
                            packed[(j / pw) * k * pw + p * pw + j % pw] = bd[p * n + j];
                        }
                    }
                    let mut got = vec![F::ZERO; m * n];
                    let epi = &mut Epilogue::Store {
                        out: &mut got,
                        ld: n,
                    };
                    // Up to the last column's last row, no further: enough, and one less is
                    // refused.
                    let need = (n - 1) / pw * k * pw + (k - 1) * pw + (n - 1) % pw + 1;
                    let b = Rhs::panels(&packed[..need], k, pw);
                    dispatch::run(isa, Gemm { m, n, k, a, b, epi });
                    let short = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let mut out = vec![F::ZERO; m * n];
                        let epi = &mut Epilogue::Store {
                            out: &mut out,
                            ld: n,
                        };
                        let b = Rhs::panels(&packed[..need - 1], k, pw);
                        dispatch::run(isa, Gemm { m, n, k, a, b, epi });
                    }));
                    assert!(short.is_err(), "{isa:?} {m} {n} {k} pw {pw}: short rhs ran");
                    let bits = |v: &[F]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{isa:?} {} {m} {n} {k} pw {pw}",
                        F::NAME
                    );
                }
                if n > nr / 2 {
                    let packed = vec![F::ZERO; n.next_multiple_of(nr) * k];
                    let straddles = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let mut out = vec![F::ZERO; m * n];
                        let epi = &mut Epilogue::Store {
                            out: &mut out,
                            ld: n,
                        };
                        let b = Rhs::panels(&packed, k, nr / 2);
                        dispatch::run(isa, Gemm { m, n, k, a, b, epi });
                    }));
                    assert!(
                        straddles.is_err(),
                        "{isa:?} {m} {n} {k}: half-tile panels ran"
                    );
                }
            }
        }
    }

    #[test]
    fn rhs_in_column_panels_gives_the_row_major_bits() {
        panels_match_rows::<f64>();
        panels_match_rows::<f32>();
    }
}
