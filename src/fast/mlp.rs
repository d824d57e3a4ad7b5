//! A ReLU or SiLU MLP with its parameters in one flat vector `[W_0, b_0, W_1, b_1, …]` (each `W_l`
//! row-major `[in, out]`, as in [`Mlp`]), and its batched forward pass through the fused
//! kernels of `fast::gemm`.
use ndarray::Array2;

use super::dispatch::PORTABLE;
use super::float::Float;
use super::gemm::gemm;
use super::silu;
use super::tile::{dot_lanes, pairwise_sum, Epilogue, Lhs, Rhs};
use crate::error::{Error, Result};
use crate::nn::{Activation, Dense, Mlp};

/// Where each layer's weights and bias sit in the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    sizes: Vec<usize>,
    /// `(offset of W_l, offset of b_l)`.
    offsets: Vec<(usize, usize)>,
    len: usize,
}

impl Layout {
    /// The layout of a network with widths `sizes = [d_in, h_1, …, d_out]`.
    pub fn new(sizes: &[usize]) -> Result<Layout> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::param(
                "sizes",
                format!("need >= 2 widths, all > 0, got {sizes:?}"),
            ));
        }
        let mut offsets = Vec::with_capacity(sizes.len() - 1);
        let mut len = 0;
        for p in sizes.windows(2) {
            offsets.push((len, len + p[0] * p[1]));
            len += p[0] * p[1] + p[1];
        }
        Ok(Layout {
            sizes: sizes.to_vec(),
            offsets,
            len,
        })
    }

    /// Layer widths `[d_in, h_1, …, d_out]`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Number of layers `L`.
    pub fn layers(&self) -> usize {
        self.offsets.len()
    }

    /// Total number of parameters.
    pub fn num_parameters(&self) -> usize {
        self.len
    }

    /// Widest layer (hidden or output).
    pub fn max_width(&self) -> usize {
        self.sizes[1..].iter().copied().max().unwrap_or(0)
    }

    /// `W_l` inside a flat vector.
    pub fn w<'a, F>(&self, flat: &'a [F], l: usize) -> &'a [F] {
        let (w, b) = self.offsets[l];
        &flat[w..b]
    }

    /// `b_l` inside a flat vector.
    pub fn b<'a, F>(&self, flat: &'a [F], l: usize) -> &'a [F] {
        let b = self.offsets[l].1;
        &flat[b..b + self.sizes[l + 1]]
    }

    /// `(W_l, b_l)` mutably.
    pub fn wb_mut<'a, F>(&self, flat: &'a mut [F], l: usize) -> (&'a mut [F], &'a mut [F]) {
        let (w, b) = self.offsets[l];
        let (wpart, rest) = flat[w..].split_at_mut(b - w);
        (wpart, &mut rest[..self.sizes[l + 1]])
    }
}

/// Read access to the weights of layer `l` (flat vectors and [`Mlp`]s alike).
pub(crate) trait Weights<F> {
    fn w(&self, l: usize) -> &[F];
    fn b(&self, l: usize) -> &[F];
    /// The hidden layers' activation ([`Activation::Relu`] or [`Activation::Silu`]).
    fn activation(&self) -> Activation;
}

/// A ReLU or SiLU MLP with flat parameters, in `f32` or `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedMlp<F> {
    layout: Layout,
    params: Vec<F>,
    activation: Activation,
}

impl<F: Float> Weights<F> for FusedMlp<F> {
    fn w(&self, l: usize) -> &[F] {
        self.layout.w(&self.params, l)
    }
    fn b(&self, l: usize) -> &[F] {
        self.layout.b(&self.params, l)
    }
    fn activation(&self) -> Activation {
        self.activation
    }
}

/// The `f64` weights of a validated, standard-layout [`Mlp`], without copying.
pub(crate) struct MlpWeights<'a>(pub &'a Mlp);

impl Weights<f64> for MlpWeights<'_> {
    fn w(&self, l: usize) -> &[f64] {
        self.0.layers[l]
            .w
            .as_slice()
            .expect("standard layout (checked)")
    }
    fn b(&self, l: usize) -> &[f64] {
        self.0.layers[l]
            .b
            .as_slice()
            .expect("standard layout (checked)")
    }
    fn activation(&self) -> Activation {
        self.0.activation
    }
}

/// Errors unless `net` is a valid network with an activation the fused path has (ReLU, SiLU).
pub(crate) fn check_fused(net: &Mlp) -> Result<()> {
    net.validate()?;
    if !matches!(net.activation, Activation::Relu | Activation::Silu) {
        return Err(Error::param(
            "activation",
            format!(
                "the fused path supports relu and silu, got {}",
                net.activation
            ),
        ));
    }
    Ok(())
}

impl<F: Float> FusedMlp<F> {
    /// Copies (and rounds, for `f32`) the parameters of a ReLU or SiLU [`Mlp`].
    pub fn from_mlp(net: &Mlp) -> Result<Self> {
        check_fused(net)?;
        let layout = Layout::new(&net.sizes())?;
        let mut params = Vec::with_capacity(layout.num_parameters());
        for l in &net.layers {
            params.extend(l.w.iter().map(|&v| F::from_f64(v)));
            params.extend(l.b.iter().map(|&v| F::from_f64(v)));
        }
        Ok(FusedMlp {
            layout,
            params,
            activation: net.activation,
        })
    }

    /// The same network as an [`Mlp`] (widened to `f64`).
    pub fn to_mlp(&self) -> Mlp {
        let s = self.layout.sizes();
        let layers = (0..self.layout.layers())
            .map(|l| Dense {
                w: Array2::from_shape_fn((s[l], s[l + 1]), |(i, j)| {
                    self.w(l)[i * s[l + 1] + j].to_f64()
                }),
                b: Array2::from_shape_fn((1, s[l + 1]), |(_, j)| self.b(l)[j].to_f64()),
            })
            .collect();
        Mlp {
            layers,
            activation: self.activation,
        }
    }

    /// Writes the parameters into `net`, which must have the same widths and activation
    /// (allocates nothing).
    pub(crate) fn write_to(&self, net: &mut Mlp) -> Result<()> {
        if net.sizes() != self.layout.sizes() || net.activation != self.activation {
            return Err(Error::shape(
                "FusedMlp::write_to widths and activation",
                format!("{:?} {}", self.layout.sizes(), self.activation),
                format!("{:?} {}", net.sizes(), net.activation),
            ));
        }
        for (l, d) in net.layers.iter_mut().enumerate() {
            for (dst, &v) in d.w.iter_mut().zip(self.w(l)) {
                *dst = v.to_f64();
            }
            for (dst, &v) in d.b.iter_mut().zip(self.b(l)) {
                *dst = v.to_f64();
            }
        }
        Ok(())
    }

    /// The parameter layout.
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The flat parameters `[W_0, b_0, W_1, b_1, …]`, mutably.
    pub(crate) fn params_mut(&mut self) -> &mut [F] {
        &mut self.params
    }
}

/// Rows of a batch that go through all the layers together, in [`forward`] and in the
/// trainer's forward and backward pass: their activations and gradients stay in L1/L2 cache
/// (on workload A, 16 to 128 rows ran alike and the whole batch at once ~20% slower).
pub(crate) const CHUNK: usize = 64;

/// Layer `l` on `rows` rows: `dst = φ(a W_l + b_l)` (`a`: `[rows, in]`, `dst`: `[rows, out]`),
/// `φ` = the network's activation on hidden layers and the identity on the last. ReLU is
/// fused into the product's store; SiLU is a pass over `dst` after it, which also writes
/// `φ'(a W_l + b_l)` into `slope` when given (the backward pass's factor).
#[inline(always)]
pub(crate) fn dense<F: Float, W: Weights<F>, const ISA: u8>(
    net: &W,
    sizes: &[usize],
    l: usize,
    rows: usize,
    a: &[F],
    dst: &mut [F],
    slope: Option<&mut [F]>,
) {
    let (din, dout) = (sizes[l], sizes[l + 1]);
    let lhs = Lhs {
        data: a,
        rs: din,
        ps: 1,
    };
    let rhs = Rhs::rows(net.w(l), dout);
    let hidden = l + 2 < sizes.len();
    let silu = hidden && net.activation() == Activation::Silu;
    let mut epi = Epilogue::BiasAct {
        out: &mut *dst,
        ld: dout,
        bias: net.b(l),
        relu: hidden && !silu,
    };
    gemm::<F, ISA>(rows, dout, din, lhs, rhs, &mut epi);
    if silu {
        let z = &mut dst[..rows * dout];
        match slope {
            Some(d) => silu::silu_with_slope(z, &mut d[..rows * dout]),
            None => silu::silu(z),
        }
    }
}

/// Forward pass of `rows` rows of `x` (`[rows, d_in]`, row-major) into `out` (`[rows, d_out]`),
/// `chunk` rows at a time through all layers (their activations stay in cache), with two
/// scratch buffers of at least `min(rows, chunk) × max hidden width` (ping-pong). On the vector
/// families, a ReLU network with one output whose last hidden width is a multiple of `2L`
/// runs its last two layers as one product ([`dense_dot`], the same bits).
#[inline(always)]
pub(crate) fn forward<F: Float, W: Weights<F>, const ISA: u8>(
    net: &W,
    sizes: &[usize],
    x: &[F],
    rows: usize,
    chunk: usize,
    scratch: &mut [Vec<F>; 2],
    out: &mut [F],
) {
    let nl = sizes.len() - 1;
    let (din0, dout) = (sizes[0], sizes[nl]);
    // A ReLU network with one output: its last hidden layer and the output layer in one pass.
    let fuse = ISA != PORTABLE
        && nl >= 2
        && dout == 1
        && net.activation() == Activation::Relu
        && sizes[nl - 1].is_multiple_of(2 * dot_lanes::<F>());
    let [s0, s1] = scratch;
    let mut c0 = 0;
    while c0 < rows {
        let c = (rows - c0).min(chunk);
        let (mut prev, mut next): (&mut Vec<F>, &mut Vec<F>) = (&mut *s0, &mut *s1);
        for l in 0..nl {
            let a = if l == 0 {
                &x[c0 * din0..(c0 + c) * din0]
            } else {
                &prev[..]
            };
            if fuse && l + 2 == nl {
                let dst = &mut out[c0..c0 + c];
                dense_dot::<F, W, ISA>(net, sizes, l, c, a, next, dst);
                break;
            }
            let dst: &mut [F] = if l + 1 == nl {
                &mut out[c0 * dout..(c0 + c) * dout]
            } else {
                &mut next[..]
            };
            dense::<F, W, ISA>(net, sizes, l, c, a, dst, None);
            std::mem::swap(&mut prev, &mut next);
        }
        c0 += c;
    }
}

/// Hidden ReLU layer `l` and the one-output layer `l + 1` on `rows` rows, in one product:
/// `dst[i] = Σ_j relu(a W_l + b_l)[i, j] · W_{l+1}[j] + b_{l+1}`, the sum in the one-column
/// product's order (lanes `j mod L`, then pairwise; [`Epilogue::BiasReluDot`]), so the bits of
/// [`dense`] on both layers, without storing the hidden activations. `lanes` is scratch of at
/// least `rows × L` (`L` = 8 for `f64`, 16 for `f32`).
#[inline(always)]
fn dense_dot<F: Float, W: Weights<F>, const ISA: u8>(
    net: &W,
    sizes: &[usize],
    l: usize,
    rows: usize,
    a: &[F],
    lanes: &mut [F],
    dst: &mut [F],
) {
    let (din, h) = (sizes[l], sizes[l + 1]);
    let width = dot_lanes::<F>();
    let lanes = &mut lanes[..rows * width];
    lanes.fill(F::ZERO);
    let lhs = Lhs {
        data: a,
        rs: din,
        ps: 1,
    };
    let rhs = Rhs::rows(net.w(l), h);
    let mut epi = Epilogue::BiasReluDot {
        bias: net.b(l),
        w: net.w(l + 1),
        lanes: &mut *lanes,
    };
    gemm::<F, ISA>(rows, h, din, lhs, rhs, &mut epi);
    let b = net.b(l + 1)[0];
    for (d, acc) in dst.iter_mut().zip(lanes.chunks_exact_mut(width)) {
        *d = pairwise_sum(acc) + b;
    }
}

#[cfg(test)]
mod tests {
    //! The fused last two layers of a one-output ReLU network ([`dense_dot`]) against the
    //! layers one at a time ([`dense`], the one-column product for the output): the same bits
    //! on every family, for widths that take the fused pass and widths that do not.
    use super::*;
    use crate::fast::dispatch::{self, Isa, Kernel};
    use crate::rng::seeded;

    struct Both<'a, F> {
        net: &'a FusedMlp<F>,
        x: &'a [F],
        rows: usize,
    }

    impl<F: Float> Kernel for Both<'_, F> {
        type Out = (Vec<F>, Vec<F>);
        fn run<const ISA: u8>(self) -> (Vec<F>, Vec<F>) {
            let sizes = self.net.layout().sizes().to_vec();
            let hmax = *sizes.iter().max().unwrap();
            let mut scratch = [vec![F::ZERO; 16 * hmax], vec![F::ZERO; 16 * hmax]];
            let mut fused = vec![F::ZERO; self.rows * sizes[sizes.len() - 1]];
            forward::<F, _, ISA>(
                self.net,
                &sizes,
                self.x,
                self.rows,
                16,
                &mut scratch,
                &mut fused,
            );
            let mut a = self.x.to_vec();
            for l in 0..sizes.len() - 1 {
                let mut next = vec![F::ZERO; self.rows * sizes[l + 1]];
                dense::<F, _, ISA>(self.net, &sizes, l, self.rows, &a, &mut next, None);
                a = next;
            }
            (fused, a)
        }
    }

    fn check<F: Float>() {
        let mut rng = seeded(7);
        for sizes in [
            [2, 64, 64, 1],
            [3, 32, 32, 1],
            [4, 48, 24, 1],
            [2, 64, 64, 2],
        ] {
            let net = Mlp::new(&sizes, Activation::Relu, &mut rng).unwrap();
            let net = FusedMlp::<F>::from_mlp(&net).unwrap();
            let rows = 37;
            let x: Vec<F> = (0..rows * sizes[0])
                .map(|i| F::from_f64(((i * 13) % 17) as f64 / 4.0 - 2.0))
                .collect();
            for isa in Isa::supported() {
                let (fused, layered) = dispatch::run(
                    isa,
                    Both {
                        net: &net,
                        x: &x,
                        rows,
                    },
                );
                assert_eq!(fused, layered, "{isa:?} {sizes:?} {}", F::NAME);
                assert!(fused.iter().any(|&v| v != F::ZERO));
            }
        }
    }

    #[test]
    fn fused_output_layer_gives_the_bits_of_the_layers_one_at_a_time() {
        check::<f64>();
        check::<f32>();
    }
}
