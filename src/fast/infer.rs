//! Batched inference of a ReLU or SiLU [`Mlp`] without a tape: the fused forward kernels on the
//! network's own weight arrays, with per-thread scratch buffers reused across calls.
use std::cell::RefCell;

use ndarray::{Array2, ArrayView2};

use super::dispatch::{self, Isa, Kernel};
use super::mlp::{check_fused, forward as forward_kernel, MlpWeights};
use crate::error::{Error, Result};
use crate::nn::Mlp;

/// Rows that go through all the layers together: 16 keeps a chunk's activations in L1 beside
/// a 64-wide layer's weights (workload C, 256 x 2-64-64-1: 9.2 M path-steps/s against 8.4 M
/// with the trainer's 64 rows, 8.3 M with all 256; 8 ran like 16). Rows are independent, so
/// the chunk does not change a bit of the output.
const CHUNK: usize = 16;

thread_local! {
    /// `[input, hidden ping, hidden pong]`, grown on demand and kept.
    static SCRATCH: RefCell<[Vec<f64>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// `net([x, t])` for every row of `x` (`[n, d]`): the input is `x` with a last column
/// equal to `t`, as in `score::NetScore`. Falls back to [`Mlp::forward`] for activations
/// other than ReLU and SiLU or weights not in standard layout. Errors on a width mismatch.
pub fn forward_with_time(net: &Mlp, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    if net.input_dim() != d + 1 {
        return Err(Error::shape(
            "network input width (d + 1)",
            net.input_dim(),
            d + 1,
        ));
    }
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        let [input, a, b] = s;
        input.clear();
        for row in x.rows() {
            input.extend(row.iter().copied());
            input.push(t);
        }
        forward_flat(net, input, n, [a, b])
    })
}

/// `net(x)` for every row of `x`, like [`Mlp::forward`] but through the fused kernels
/// (ReLU and SiLU networks; others fall back to [`Mlp::forward`]).
pub fn forward(net: &Mlp, x: ArrayView2<f64>) -> Result<Array2<f64>> {
    if x.ncols() != net.input_dim() {
        return net.forward(x);
    }
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        let [input, a, b] = s;
        input.clear();
        input.extend(x.iter().copied());
        forward_flat(net, input, x.nrows(), [a, b])
    })
}

fn forward_flat(
    net: &Mlp,
    input: &[f64],
    n: usize,
    [a, b]: [&mut Vec<f64>; 2],
) -> Result<Array2<f64>> {
    let standard = net
        .layers
        .iter()
        .all(|l| l.w.is_standard_layout() && l.b.is_standard_layout());
    if check_fused(net).is_err() || !standard {
        let x = ArrayView2::from_shape((n, net.input_dim()), input)
            .map_err(|e| Error::param("x", e.to_string()))?;
        return net.forward(x);
    }
    let sizes = net.sizes();
    let hmax = sizes[1..sizes.len() - 1].iter().copied().max().unwrap_or(0);
    let need = n.min(CHUNK) * hmax;
    for buf in [&mut *a, &mut *b] {
        if buf.len() < need {
            buf.resize(need, 0.0);
        }
    }
    let mut out = Array2::zeros((n, net.output_dim()));
    let dst = out.as_slice_mut().expect("fresh array is standard layout");
    let mut scratch = [std::mem::take(a), std::mem::take(b)];
    let w = MlpWeights(net);
    let pass = Forward {
        w: &w,
        sizes: &sizes,
        input,
        n,
        scratch: &mut scratch,
        out: dst,
    };
    dispatch::run(Isa::active()?, pass);
    let [sa, sb] = scratch;
    (*a, *b) = (sa, sb);
    Ok(out)
}

/// One forward pass as a [`Kernel`], for [`dispatch::run`].
struct Forward<'a, 'w> {
    w: &'a MlpWeights<'w>,
    sizes: &'a [usize],
    input: &'a [f64],
    n: usize,
    scratch: &'a mut [Vec<f64>; 2],
    out: &'a mut [f64],
}

impl Kernel for Forward<'_, '_> {
    type Out = ();
    #[inline(always)]
    fn run<const ISA: u8>(self) {
        forward_kernel::<f64, _, ISA>(
            self.w,
            self.sizes,
            self.input,
            self.n,
            CHUNK,
            self.scratch,
            self.out,
        );
    }
}
