//! A network noise predictor `eps_theta(x_k, k)` and its training with the simplified loss
//! of Ho et al. (eq. 14, Algorithm 1).
//!
//! The network is an [`Mlp`] on rows `[x_k, f(k)]` (`d + 1` inputs, `d` outputs), where the
//! step feature `f(k)` is either the raw step `k`, as in the seed note's Julia code, or
//! `k / K` ([`StepFeature`]).
use super::bound::{draw_eps_targets, sample_eps_targets, EpsTargets};
use super::{EpsModel, VarianceSchedule};
use crate::error::all_finite;
use crate::fast::{round_into, Float, ResidualLoss};
use crate::nn::{Activation, Mlp};
use crate::train::{train, train_fused, TrainOptions, Training};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How the step `k` enters the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepFeature {
    /// The raw step `k` in `1..=K` (the seed note: `model_input = [x_k; ks]`).
    Raw,
    /// `k / K`, in `(0, 1]`.
    Scaled,
}

impl StepFeature {
    /// `f(k)` for a chain of `num_steps` steps.
    pub fn value(self, k: usize, num_steps: usize) -> f64 {
        match self {
            StepFeature::Raw => k as f64,
            StepFeature::Scaled => k as f64 / num_steps as f64,
        }
    }
}

/// `eps_theta(x_k, k) = net([x_k, f(k)])` for a chain of `num_steps` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct EpsNet {
    /// The network, `d + 1` inputs and `d` outputs.
    pub net: Mlp,
    /// How `k` is fed to the network.
    pub feature: StepFeature,
    num_steps: usize,
}

impl EpsNet {
    /// Wraps `net`; errors unless it has `d + 1 >= 2` inputs and `d` outputs, or if
    /// `num_steps = 0`.
    pub fn new(net: Mlp, feature: StepFeature, num_steps: usize) -> Result<Self> {
        net.validate()?;
        if num_steps == 0 {
            return Err(Error::param("K", "the chain needs at least one step"));
        }
        let (i, o) = (net.input_dim(), net.output_dim());
        if i < 2 || o + 1 != i {
            return Err(Error::shape(
                "EpsNet widths (inputs, outputs)",
                "(d + 1, d) with d >= 1",
                format!("({i}, {o})"),
            ));
        }
        Ok(Self {
            net,
            feature,
            num_steps,
        })
    }

    /// A freshly initialised `(d + 1)-h_1-...-d` ReLU network (the seed: `d = 1`,
    /// `hidden = [32, 32]`, raw `k`).
    pub fn init<R: Rng + ?Sized>(
        d: usize,
        hidden: &[usize],
        feature: StepFeature,
        num_steps: usize,
        rng: &mut R,
    ) -> Result<Self> {
        let mut sizes = vec![d + 1];
        sizes.extend(hidden);
        sizes.push(d);
        Self::new(Mlp::new(&sizes, Activation::Relu, rng)?, feature, num_steps)
    }

    /// Number of steps `K` of the chain the network is trained for.
    pub fn num_steps(&self) -> usize {
        self.num_steps
    }

    /// The network input `[x, f(k_i)]`, one row per sample; errors on a shape mismatch or
    /// a step outside `1..=K`.
    pub fn input(&self, x: ArrayView2<f64>, ks: &[usize]) -> Result<Array2<f64>> {
        step_input(x, ks, self.feature, self.num_steps, self.net.input_dim())
    }
}

fn step_input(
    x: ArrayView2<f64>,
    ks: &[usize],
    feature: StepFeature,
    num_steps: usize,
    width: usize,
) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    if ks.len() != n {
        return Err(Error::shape("EpsNet input: one step per row", n, ks.len()));
    }
    if d + 1 != width {
        return Err(Error::shape("EpsNet input columns", width - 1, d));
    }
    if let Some(&k) = ks.iter().find(|&&k| !(1..=num_steps).contains(&k)) {
        return Err(Error::param(
            "k",
            format!("step index k = {k} is outside 1..={num_steps} (steps are 1-based)"),
        ));
    }
    all_finite(x.iter(), "EpsNet input")?;
    let mut input = Array2::zeros((n, d + 1));
    input.slice_mut(ndarray::s![.., ..d]).assign(&x);
    for (i, &k) in ks.iter().enumerate() {
        input[[i, d]] = feature.value(k, num_steps);
    }
    Ok(input)
}

impl EpsModel for EpsNet {
    fn eps(&self, x: ArrayView2<f64>, k: usize) -> Result<Array2<f64>> {
        self.eps_rows(x, &vec![k; x.nrows()])
    }

    /// One forward pass for the whole batch, whatever the steps.
    fn eps_rows(&self, x: ArrayView2<f64>, ks: &[usize]) -> Result<Array2<f64>> {
        self.net.forward(self.input(x, ks)?.view())
    }
}

// ANCHOR: simple_loss_and_grad
/// The seed's loss on one draw of targets (Ho et al. Algorithm 1, line 5):
/// `mean over rows and coordinates of (eps_theta([x_k, f(k)]) - eps)^2`, i.e.
/// [`simple_loss`](super::simple_loss) divided by `d`; returns it with its gradient with
/// respect to the network's parameters.
pub fn simple_loss_and_grad(
    net: &Mlp,
    feature: StepFeature,
    num_steps: usize,
    targets: &EpsTargets,
) -> Result<(f64, Vec<Array2<f64>>)> {
    let input = step_input(
        targets.x_k.view(),
        &targets.k,
        feature,
        num_steps,
        net.input_dim(),
    )?;
    let c = 1.0 / targets.eps.len() as f64;
    net.loss_and_grad(input.view(), |tape, eps_pred| {
        let eps = tape.constant(targets.eps.clone());
        let r = tape.sub(eps_pred, eps)?;
        let r2 = tape.square(r)?;
        let total = tape.sum(r2)?;
        tape.scale(total, c)
    })
}
// ANCHOR_END: simple_loss_and_grad

// ANCHOR: train_eps
/// Trains `model` on the data `x0` (all rows every step, as the seed does): at each Adam
/// step, fresh `k ~ U{1..K}` and `eps ~ N(0, I)` per row, `x_k` in closed form
/// (Ho et al. eq. 4), then one step on [`simple_loss_and_grad`].
///
/// ReLU networks train on the fused, allocation-free trainer (`fast::FusedTrainer`) on the
/// same draw of targets: the losses, snapshots and weights are those of the tape path up to the
/// order of floating-point sums. Other activations use the tape ([`train`]).
pub fn train_eps_net(
    schedule: &VarianceSchedule,
    model: &EpsNet,
    x0: ArrayView2<f64>,
    opts: &TrainOptions,
    rng: &mut dyn Rng,
) -> Result<Training> {
    if model.num_steps != schedule.num_steps() {
        return Err(Error::param(
            "K",
            format!(
                "the network is for K = {}, the schedule has K = {}",
                model.num_steps,
                schedule.num_steps()
            ),
        ));
    }
    if x0.nrows() == 0 || x0.ncols() + 1 != model.net.input_dim() {
        return Err(Error::shape(
            "train_eps_net data",
            format!("[n >= 1, {}]", model.net.input_dim() - 1),
            format!("{:?}", x0.dim()),
        ));
    }
    let (feature, k_max) = (model.feature, model.num_steps);
    if model.net.activation != Activation::Relu {
        return train(model.net.clone(), opts, rng, |net, rng| {
            let targets = sample_eps_targets(schedule, x0, rng)?;
            simple_loss_and_grad(net, feature, k_max, &targets)
        });
    }
    // The same loss on the fused trainer, on the same draw of targets.
    let mut bufs = EpsBuffers::<f64>::new(x0.nrows(), x0.ncols());
    train_fused(model.net.clone(), opts, rng, x0.nrows(), |trainer, rng| {
        bufs.draw(schedule, x0, feature, rng)?;
        trainer.residual_loss_and_grad(bufs.input(), &bufs.loss())
    })
}
// ANCHOR_END: train_eps

/// Buffers for one draw of targets ([`draw_eps_targets`], the draw of [`sample_eps_targets`])
/// in the fused trainer's form: input rows `[x_k, f(k)]` and the loss of
/// [`simple_loss_and_grad`], `α = 1`, `β = −ε`, `w = 1`, `c = 1/(n d)`.
#[derive(Clone, Debug)]
pub(crate) struct EpsBuffers<F> {
    n: usize,
    d: usize,
    k: Vec<usize>,
    eps: Vec<f64>,
    /// `[x_k, f(k)]` as drawn, `[n, d + 1]` row-major.
    drawn: Vec<f64>,
    /// `drawn` rounded to `F`.
    input: Vec<F>,
    beta: Vec<F>,
    ones: Vec<F>,
}

impl<F: Float> EpsBuffers<F> {
    /// Buffers for `n` points in `d` dimensions.
    pub(crate) fn new(n: usize, d: usize) -> Self {
        Self {
            n,
            d,
            k: vec![0; n],
            eps: vec![0.0; n * d],
            drawn: vec![0.0; n * (d + 1)],
            input: vec![F::ZERO; n * (d + 1)],
            beta: vec![F::ZERO; n * d],
            ones: vec![F::ONE; n],
        }
    }

    /// Draws targets for the data `x0` (`[n, d]`) from `rng`, allocating nothing. Errors like
    /// [`sample_eps_targets`], and on data that is not `[n, d]`.
    pub(crate) fn draw<R: Rng + ?Sized>(
        &mut self,
        schedule: &VarianceSchedule,
        x0: ArrayView2<f64>,
        feature: StepFeature,
        rng: &mut R,
    ) -> Result<()> {
        let (n, d) = (self.n, self.d);
        if x0.dim() != (n, d) {
            return Err(Error::shape(
                "EpsBuffers::draw data",
                format!("[{n}, {d}]"),
                format!("{:?}", x0.dim()),
            ));
        }
        let (k, drawn) = (&mut self.k, &mut self.drawn);
        draw_eps_targets(schedule, x0, rng, k, &mut self.eps, drawn, d + 1)?;
        let k_max = schedule.num_steps();
        for (row, &k) in drawn.chunks_exact_mut(d + 1).zip(k.iter()) {
            row[d] = feature.value(k, k_max);
        }
        round_into(&mut self.input, drawn);
        for (b, &e) in self.beta.iter_mut().zip(&self.eps) {
            *b = F::from_f64(-e);
        }
        Ok(())
    }

    /// The network input `[x_k, f(k)]` of the last draw, `[n, d + 1]` row-major.
    pub(crate) fn input(&self) -> &[F] {
        &self.input
    }

    /// The loss of the last draw.
    pub(crate) fn loss(&self) -> ResidualLoss<'_, F> {
        ResidualLoss {
            alpha: &self.ones,
            beta: &self.beta,
            weight: &self.ones,
            scale: F::from_f64(1.0 / (self.n * self.d) as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use rand::RngExt;

    /// The fused buffers hold the tape path's draw: input `[x_k, f(k)]`, `β = −ε`, `c = 1/(n d)`.
    #[test]
    fn eps_buffers_hold_the_tape_draw() {
        let s = VarianceSchedule::linear(0.02, 0.4, 10).unwrap();
        let x0 = Array2::from_shape_fn((7, 2), |(i, j)| 0.3 * i as f64 - j as f64);
        for feature in [StepFeature::Raw, StepFeature::Scaled] {
            let (mut r1, mut r2, mut r3) = (seeded(9), seeded(9), seeded(9));
            let t = sample_eps_targets(&s, x0.view(), &mut r1).unwrap();
            let input = step_input(t.x_k.view(), &t.k, feature, 10, 3).unwrap();
            let mut b64 = EpsBuffers::<f64>::new(7, 2);
            b64.draw(&s, x0.view(), feature, &mut r2).unwrap();
            assert!(b64.input().iter().eq(input.iter()), "{feature:?}");
            let loss = b64.loss();
            assert!(loss.beta.iter().zip(&t.eps).all(|(b, e)| *b == -e));
            assert!(loss.alpha.iter().chain(loss.weight).all(|&v| v == 1.0));
            assert_eq!(loss.scale, 1.0 / 14.0);
            let mut b32 = EpsBuffers::<f32>::new(7, 2);
            b32.draw(&s, x0.view(), feature, &mut r3).unwrap();
            assert!(b32
                .input()
                .iter()
                .zip(input.iter())
                .all(|(a, b)| *a == *b as f32));
            assert_eq!(r1.random::<u64>(), r2.random::<u64>());
        }
        let mut b = EpsBuffers::<f64>::new(7, 2);
        let wrong = Array2::<f64>::zeros((7, 1));
        let r = b.draw(&s, wrong.view(), StepFeature::Raw, &mut seeded(1));
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
        let mut nan = x0.clone();
        nan[[3, 1]] = f64::NAN;
        let r = b.draw(&s, nan.view(), StepFeature::Raw, &mut seeded(1));
        assert!(matches!(r, Err(Error::NonFinite { .. })));
    }
}
