//! Training of a ReLU or SiLU MLP on a full batch: forward pass, the gradient of a
//! weighted residual loss by hand-written backpropagation, and Adam, on preallocated buffers,
//! with the batch optionally split across threads. On several threads a step is one job on the
//! trainer's rayon pool: the workers' passes, the sum of their gradients and Adam (both split
//! into one piece per thread) all run inside it.
//!
//! Backpropagation through `Z_l = A_l W_l + b_l`, `A_{l+1} = φ(Z_l)`
//! (Griewank & Walther 2008, ch. 3): `∂J/∂W_l = A_lᵀ G_l`, `∂J/∂b_l = Σ_rows G_l`,
//! `G_{l-1} = (G_l W_lᵀ) ⊙ φ'(Z_{l-1})`, which is what the tape computes op by op. For ReLU
//! `φ'(Z) = 1[Z > 0] = 1[A > 0]`, read off the stored activations; for SiLU the forward pass
//! stores `φ'(Z)` beside `A`.
use rayon::prelude::*;

use super::batch::{FusedBatch, ResidualLoss};
use super::dispatch::{self, Isa, Kernel};
use super::elementwise::{adam, all_finite, AdamCoefs, Transpose};
use super::float::Float;
use super::gemm::{gemm, panel_width};
use super::mlp::{dense, FusedMlp, Weights, CHUNK};
use super::tile::{Epilogue, Lhs, Rhs};
use crate::error::{Error, Result};
use crate::nn::{Activation, Adam, Mlp};

/// One thread's rows of the batch and everything computed on them.
#[derive(Debug)]
struct Worker<F> {
    r0: usize,
    rows: usize,
    /// Activations `A_{l+1}` of each hidden layer for one chunk, `[CHUNK, h_l]`.
    hidden: Vec<Vec<F>>,
    /// SiLU networks: `φ'(Z_l)` of each hidden layer for one chunk; ReLU: empty.
    slope: Vec<Vec<F>>,
    out: Vec<F>,
    /// Ping-pong buffers for the backpropagated `G_l`.
    dz: [Vec<F>; 2],
    grad: Vec<F>,
    /// `W_lᵀ` (`[out, in]`) of each layer but the first, in the column panels of the kernels'
    /// tile width ([`Rhs::panels`]), so that a tile reads its rows of `B` contiguously. Each
    /// worker transposes the weights into its own copy at the start of its pass: the workers'
    /// transposes run in parallel, and each one's backward products read lines its own core
    /// wrote (workload D, 2 threads: 2.6% (`f32`) and 4.7% (`f64`) more steps/s than one
    /// shared copy transposed before the workers start).
    wt: Vec<Vec<F>>,
    /// `Σ w_i Σ_j r_ij²` over this worker's rows.
    loss: F,
}

/// Adam (Kingma & Ba 2015, Algorithm 1) on the flat parameters, with the exact update of
/// [`Adam::step`].
#[derive(Clone, Debug)]
struct AdamState<F> {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: u64,
    m: Vec<F>,
    v: Vec<F>,
}

/// A ReLU or SiLU MLP with its Adam state and every buffer one training step needs.
#[derive(Debug)]
pub struct FusedTrainer<F> {
    net: FusedMlp<F>,
    workers: Vec<Worker<F>>,
    pool: Option<rayon::ThreadPool>,
    batch: usize,
    adam: AdamState<F>,
    isa: Isa,
}

impl<F: Float> FusedTrainer<F> {
    /// A trainer for `net` (ReLU or SiLU) on batches of `batch` rows, with the learning rate, betas
    /// and `ε` of `adam` (its moments start at zero), the batch split across `threads`
    /// threads (at most `batch`), on the kernels of [`Isa::active`]. Errors on another
    /// activation, `batch == 0`, `threads == 0` or a bad `SCORE_SDE_ISA`.
    pub fn new(net: &Mlp, adam: &Adam, batch: usize, threads: usize) -> Result<Self> {
        let net = FusedMlp::<F>::from_mlp(net)?;
        if batch == 0 {
            return Err(Error::param("batch", "must be >= 1"));
        }
        if threads == 0 {
            return Err(Error::param("threads", "must be >= 1"));
        }
        let threads = threads.min(batch);
        let layout = net.layout().clone();
        let sizes = layout.sizes();
        let nl = layout.layers();
        let per = batch.div_ceil(threads);
        let workers = (0..threads)
            .map(|k| {
                let r0 = (k * per).min(batch);
                let rows = ((k + 1) * per).min(batch) - r0;
                let c = rows.min(CHUNK);
                Worker {
                    r0,
                    rows,
                    hidden: (1..nl).map(|l| vec![F::ZERO; c * sizes[l]]).collect(),
                    slope: (1..nl)
                        .map(|l| match net.activation() {
                            Activation::Silu => vec![F::ZERO; c * sizes[l]],
                            _ => Vec::new(),
                        })
                        .collect(),
                    out: vec![F::ZERO; c * sizes[nl]],
                    dz: [
                        vec![F::ZERO; c * layout.max_width()],
                        vec![F::ZERO; c * layout.max_width()],
                    ],
                    grad: vec![F::ZERO; layout.num_parameters()],
                    // Room for the widest panels of any family.
                    wt: (0..nl)
                        .map(|l| match l {
                            0 => Vec::new(),
                            _ => vec![F::ZERO; sizes[l].next_multiple_of(32) * sizes[l + 1]],
                        })
                        .collect(),
                    loss: F::ZERO,
                }
            })
            .collect();
        let pool = if threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| Error::param("threads", e.to_string()))?;
            // Start every worker now, so that a thread's start-up allocations happen here and
            // not during a training step (rayon starts them lazily).
            pool.broadcast(|_| ());
            Some(pool)
        } else {
            None
        };
        let (beta1, beta2) = adam.betas();
        Ok(FusedTrainer {
            adam: AdamState {
                lr: adam.lr(),
                beta1,
                beta2,
                eps: adam.eps(),
                t: 0,
                m: vec![F::ZERO; layout.num_parameters()],
                v: vec![F::ZERO; layout.num_parameters()],
            },
            net,
            workers,
            pool,
            batch,
            isa: Isa::active()?,
        })
    }

    /// The same trainer on the kernels of `isa` (to compare the families on one machine).
    /// Errors when the CPU lacks `isa`.
    pub fn with_isa(mut self, isa: Isa) -> Result<Self> {
        self.isa = isa.checked()?;
        Ok(self)
    }

    /// The kernel family this trainer runs.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The network being trained.
    pub fn net(&self) -> &FusedMlp<F> {
        &self.net
    }

    /// Batch rows per step.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Threads the batch is split across.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Adam steps taken.
    pub fn steps(&self) -> u64 {
        self.adam.t
    }

    /// The gradient of the last loss evaluation, flat like the parameters.
    pub fn grad(&self) -> &[F] {
        &self.workers[0].grad
    }

    /// The loss of the network on the batch last drawn into `batch` (a [`DsmBuffers`] or
    /// [`SdeEpsBuffers`]) and its gradient (then in [`grad`](Self::grad)). Errors unless
    /// `batch` has [`batch`](Self::batch) rows of the network's widths.
    ///
    /// [`DsmBuffers`]: super::DsmBuffers
    /// [`SdeEpsBuffers`]: super::SdeEpsBuffers
    pub fn loss_and_grad<B: FusedBatch<F> + ?Sized>(&mut self, batch: &B) -> Result<F> {
        self.residual_loss_and_grad(batch.input(), &batch.loss())
    }

    /// One training step on the batch last drawn into `batch`: the loss (returned, before
    /// the update) and gradient, then one Adam update. Errors like
    /// [`loss_and_grad`](Self::loss_and_grad), and like [`Adam::step`] on a non-finite
    /// gradient (nothing modified).
    pub fn step<B: FusedBatch<F> + ?Sized>(&mut self, batch: &B) -> Result<F> {
        let (input, loss) = (batch.input(), batch.loss());
        self.pooled(|tr, parallel| {
            let value = tr.loss_and_grad_on(input, &loss, parallel)?;
            tr.update_on(parallel)?;
            Ok(value)
        })
    }

    /// Runs `f` on the trainer inside its thread pool (one `install`: each one queues a job
    /// on the pool's injector, whose blocks of 63 slots are allocated as it fills), telling it
    /// whether to split work across threads; without a pool, on this thread.
    fn pooled<T: Send>(
        &mut self,
        f: impl FnOnce(&mut Self, bool) -> Result<T> + Send,
    ) -> Result<T> {
        match self.pool.take() {
            Some(pool) => {
                let out = pool.install(|| f(self, true));
                self.pool = Some(pool);
                out
            }
            None => f(self, false),
        }
    }

    /// The loss `loss` of the network on `input` (`[batch, d_in]`, row-major) and its
    /// gradient (then in [`grad`](Self::grad)). Errors on buffers of the wrong length.
    pub(crate) fn residual_loss_and_grad(
        &mut self,
        input: &[F],
        loss: &ResidualLoss<'_, F>,
    ) -> Result<F> {
        self.pooled(|tr, parallel| tr.loss_and_grad_on(input, loss, parallel))
    }

    /// [`residual_loss_and_grad`](Self::residual_loss_and_grad) on this thread, the workers
    /// and the gradient sum split across the current rayon pool when `parallel`.
    fn loss_and_grad_on(
        &mut self,
        input: &[F],
        loss: &ResidualLoss<'_, F>,
        parallel: bool,
    ) -> Result<F> {
        let layout = self.net.layout();
        let sizes = layout.sizes();
        let (n, din, d) = (self.batch, sizes[0], sizes[sizes.len() - 1]);
        for (what, len, want) in [
            ("fused input", input.len(), n * din),
            ("loss alpha", loss.alpha.len(), n),
            ("loss beta", loss.beta.len(), n * d),
            ("loss weight", loss.weight.len(), n),
        ] {
            if len != want {
                return Err(Error::shape(what, want, len));
            }
        }
        let (net, isa) = (&self.net, self.isa);
        let run = |w: &mut Worker<F>| {
            let pass = Pass {
                w,
                net,
                input,
                loss,
            };
            dispatch::run(isa, pass);
        };
        if parallel {
            self.workers.par_iter_mut().for_each(run);
        } else {
            self.workers.iter_mut().for_each(run);
        }
        let threads = self.workers.len();
        let (first, rest) = self.workers.split_at_mut(1);
        let rest: &[Worker<F>] = rest;
        let mut total = first[0].loss;
        for w in rest {
            total += w.loss;
        }
        // Σ of the workers' gradients, each element summed in worker order (so the same bits
        // whether the pieces run on one thread or several).
        let g0 = &mut first[0].grad[..];
        if parallel && splits(g0.len()) {
            let n = piece(g0.len(), threads);
            g0.par_chunks_mut(n)
                .enumerate()
                .for_each(|(c, dst)| add_gradients(dst, rest, c * n));
        } else {
            add_gradients(g0, rest, 0);
        }
        Ok(loss.scale * total)
    }

    /// One Adam update with the gradient of the last loss evaluation.
    /// Errors like [`Adam::step`] on a non-finite gradient (nothing modified).
    pub(crate) fn update(&mut self) -> Result<()> {
        if !splits(self.workers[0].grad.len()) {
            // Nothing to split: no pool job (it would cost a hand-off per step).
            return self.update_on(false);
        }
        self.pooled(|tr, parallel| tr.update_on(parallel))
    }

    /// [`update`](Self::update) on this thread, split across the current rayon pool when
    /// `parallel`.
    fn update_on(&mut self, parallel: bool) -> Result<()> {
        let (g, isa) = (&self.workers[0].grad[..], self.isa);
        let n = piece(g.len(), self.workers.len());
        let split = parallel && splits(g.len());
        let finite = if split {
            g.par_chunks(n).all(|c| all_finite(isa, c))
        } else {
            all_finite(isa, g)
        };
        if !finite {
            return Err(Error::NonFinite {
                what: "fused training gradient".into(),
            });
        }
        let a = &mut self.adam;
        a.t += 1;
        let t = i32::try_from(a.t).unwrap_or(i32::MAX);
        let c = AdamCoefs {
            c1: F::from_f64(1.0 / (1.0 - a.beta1.powi(t))),
            c2: F::from_f64(1.0 / (1.0 - a.beta2.powi(t))),
            b1: F::from_f64(a.beta1),
            b2: F::from_f64(a.beta2),
            ob1: F::from_f64(1.0 - a.beta1),
            ob2: F::from_f64(1.0 - a.beta2),
            lr: F::from_f64(a.lr),
            eps: F::from_f64(a.eps),
        };
        let p = self.net.params_mut();
        if split {
            // Adam is elementwise: the pieces give the bits of one pass.
            p.par_chunks_mut(n)
                .zip(g.par_chunks(n))
                .zip(a.m.par_chunks_mut(n))
                .zip(a.v.par_chunks_mut(n))
                .for_each(|(((p, g), m), v)| adam(isa, p, g, m, v, c));
        } else {
            adam(isa, p, g, &mut a.m, &mut a.v, c);
        }
        Ok(())
    }
}

/// One worker's forward and backward pass as a [`Kernel`], for [`dispatch::run`].
struct Pass<'a, 'l, F> {
    w: &'a mut Worker<F>,
    net: &'a FusedMlp<F>,
    input: &'a [F],
    loss: &'a ResidualLoss<'l, F>,
}

impl<F: Float> Kernel for Pass<'_, '_, F> {
    type Out = ();
    #[inline(always)]
    fn run<const ISA: u8>(self) {
        forward_backward::<F, ISA>(self.w, self.net, self.input, self.loss);
    }
}

/// The weight transposes into the worker's `wt`, then the forward pass, loss and backward
/// pass on its rows, [`CHUNK`] rows at a time (the whole chain per chunk, so that its
/// activations stay in cache); the chunks' weight and bias gradients are summed in row order.
#[inline(always)]
fn forward_backward<F: Float, const ISA: u8>(
    w: &mut Worker<F>,
    net: &FusedMlp<F>,
    input: &[F],
    loss: &ResidualLoss<'_, F>,
) {
    let layout = net.layout();
    let sizes = layout.sizes();
    let din0 = sizes[0];
    if w.rows == 0 {
        w.grad.fill(F::ZERO);
        w.loss = F::ZERO;
        return;
    }
    // W_lᵀ for the backward products (the first layer's is never needed).
    let mut wt = std::mem::take(&mut w.wt);
    for (l, dst) in wt.iter_mut().enumerate().skip(1) {
        let t = Transpose {
            src: net.w(l),
            dst,
            rows: sizes[l],
            cols: sizes[l + 1],
            width: wt_width::<F, ISA>(sizes[l]),
        };
        t.run::<ISA>();
    }
    w.loss = F::ZERO;
    let mut c0 = 0;
    while c0 < w.rows {
        let rows = (w.rows - c0).min(CHUNK);
        let r0 = w.r0 + c0;
        let x = &input[r0 * din0..(r0 + rows) * din0];
        chunk::<F, ISA>(w, net, &wt, x, r0, rows, c0 == 0, loss);
        c0 += rows;
    }
    w.wt = wt;
}

/// The forward pass, loss and backward pass of rows `r0 .. r0 + rows` of the batch (input
/// `x`), their gradient stored into `w.grad` when `first`, else added to it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chunk<F: Float, const ISA: u8>(
    w: &mut Worker<F>,
    net: &FusedMlp<F>,
    wt: &[Vec<F>],
    x: &[F],
    r0: usize,
    rows: usize,
    first: bool,
    loss: &ResidualLoss<'_, F>,
) {
    let layout = net.layout();
    let sizes = layout.sizes();
    let nl = layout.layers();
    let d = sizes[nl];
    let silu = net.activation() == Activation::Silu;
    for l in 0..nl {
        let (done, todo) = w.hidden.split_at_mut(l);
        let a: &[F] = if l == 0 { x } else { &done[l - 1] };
        let (dst, slope): (&mut [F], _) = if l + 1 == nl {
            (&mut w.out, None)
        } else {
            (&mut todo[0], silu.then(|| &mut w.slope[l][..]))
        };
        dense::<F, _, ISA>(net, sizes, l, rows, a, dst, slope);
    }
    // Loss rows and G_{L-1} = ∂J/∂y, in the tape's operation order:
    // r = y α + β, J += w r², G = ((c w) (2 r)) α.
    let c = loss.scale;
    let two = F::ONE + F::ONE;
    let mut part = w.loss;
    {
        let g = &mut w.dz[0][..rows * d];
        for i in 0..rows {
            let gi = r0 + i;
            let (al, wi) = (loss.alpha[gi], loss.weight[gi]);
            let cw = c * wi;
            let y = &w.out[i * d..(i + 1) * d];
            let b = &loss.beta[gi * d..(gi + 1) * d];
            let gr = &mut g[i * d..(i + 1) * d];
            for j in 0..d {
                let r = y[j] * al + b[j];
                part += r * r * wi;
                gr[j] = (cw * (two * r)) * al;
            }
        }
    }
    w.loss = part;
    let [d0, d1] = &mut w.dz;
    let (mut cur, mut nxt) = (d0, d1);
    for l in (0..nl).rev() {
        let (din, dout) = (sizes[l], sizes[l + 1]);
        let a: &[F] = if l == 0 { x } else { &w.hidden[l - 1] };
        let (gw, gb) = layout.wb_mut(&mut w.grad, l);
        // ∂J/∂W_l = A_lᵀ G_l.
        let lhs = Lhs {
            data: a,
            rs: 1,
            ps: din,
        };
        let rhs = Rhs::rows(&cur[..], dout);
        let mut epi = if first {
            Epilogue::Store { out: gw, ld: dout }
        } else {
            Epilogue::Accumulate { out: gw, ld: dout }
        };
        gemm::<F, ISA>(din, dout, rows, lhs, rhs, &mut epi);
        // ∂J/∂b_l = column sums of G_l.
        if first {
            gb.fill(F::ZERO);
        }
        add_column_sums(gb, &cur[..rows * dout]);
        if l > 0 {
            // G_{l-1} = (G_l W_lᵀ) ⊙ φ'(Z_{l-1}).
            let lhs = Lhs {
                data: &cur[..],
                rs: dout,
                ps: 1,
            };
            let rhs = match wt_width::<F, ISA>(din) {
                w if w == din => Rhs::rows(&wt[l], din),
                w => Rhs::panels(&wt[l], dout, w),
            };
            let mut epi = if silu {
                Epilogue::Scale {
                    out: &mut nxt[..],
                    ld: din,
                    s: &w.slope[l - 1],
                }
            } else {
                Epilogue::ReluMask {
                    out: &mut nxt[..],
                    ld: din,
                    h: &w.hidden[l - 1],
                }
            };
            gemm::<F, ISA>(rows, din, dout, lhs, rhs, &mut epi);
            std::mem::swap(&mut cur, &mut nxt);
        }
    }
}

/// The panel width of `W_lᵀ` for a layer of `din` inputs: the kernels' tile width when `din`
/// is a multiple of it, else `din` (one panel: `W_lᵀ` row-major, as a width-1 layer's
/// one-column product needs).
fn wt_width<F: Float, const ISA: u8>(din: usize) -> usize {
    let nr = panel_width::<F, ISA>();
    if din.is_multiple_of(nr) {
        nr
    } else {
        din
    }
}

/// Parameters below which the gradient sum and Adam stay on one thread, and `update` queues
/// no pool job: on workload B (1185 parameters, 2 threads, `update` called apart from the
/// loss) a second pool job per step cost about 10% of the step rate; on A (4353) the split
/// gained 18% (`scripts/bench-vs-jax.sh`, one machine, runs an hour apart).
const SPLIT_MIN: usize = 4096;

/// Whether the elementwise passes over `len` parameters are split across the threads.
fn splits(len: usize) -> bool {
    len >= SPLIT_MIN
}

/// The length of each of the `threads` pieces that the elementwise passes over the `len`
/// parameters are split into: a multiple of 16 (whole vectors of `f32` on AVX-512).
fn piece(len: usize, threads: usize) -> usize {
    len.div_ceil(threads.max(1)).div_ceil(16).max(1) * 16
}

/// `dst += Σ_k rest[k].grad[at ..]` over `dst`'s elements, adding the workers in order.
fn add_gradients<F: Float>(dst: &mut [F], rest: &[Worker<F>], at: usize) {
    for w in rest {
        for (g, &h) in dst.iter_mut().zip(&w.grad[at..]) {
            *g += h;
        }
    }
}

/// `sums[j] += Σ_i g[i, j]` for `g` row-major with `sums.len()` columns, adding the rows in
/// order. Blocks of 32 columns are summed in registers (one store per block, not one per row).
#[inline(always)]
fn add_column_sums<F: Float>(sums: &mut [F], g: &[F]) {
    const B: usize = 32;
    let n = sums.len();
    let mut j0 = 0;
    while j0 + B <= n {
        let mut acc: [F; B] = sums[j0..j0 + B].try_into().expect("B values");
        for row in g.chunks_exact(n) {
            let r: &[F; B] = row[j0..j0 + B].try_into().expect("B values");
            for c in 0..B {
                acc[c] += r[c];
            }
        }
        sums[j0..j0 + B].copy_from_slice(&acc);
        j0 += B;
    }
    for row in g.chunks_exact(n) {
        for (b, &v) in sums[j0..].iter_mut().zip(&row[j0..]) {
            *b += v;
        }
    }
}
