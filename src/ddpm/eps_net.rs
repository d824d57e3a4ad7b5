//! A network noise predictor `eps_theta(x_k, k)` and its training with the simplified loss
//! of Ho et al. (eq. 14, Algorithm 1).
//!
//! The network is an [`Mlp`] on rows `[x_k, f(k)]` (`d + 1` inputs, `d` outputs), where the
//! step feature `f(k)` is either the raw step `k`, as in the seed note's Julia code, or
//! `k / K` ([`StepFeature`]).
use super::bound::{sample_eps_targets, EpsTargets};
use super::{EpsModel, VarianceSchedule};
use crate::error::all_finite;
use crate::fast::ResidualLoss;
use crate::nn::{Activation, Mlp};
use crate::train::{train, train_fused, TrainOptions, Training};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
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
        let r2 = tape.square(r);
        let total = tape.sum(r2);
        Ok(tape.scale(total, c))
    })
}
// ANCHOR_END: simple_loss_and_grad

// ANCHOR: train_eps
/// Trains `model` on the data `x0` (all rows every step, as the seed does): at each Adam
/// step, fresh `k ~ U{1..K}` and `eps ~ N(0, I)` per row, `x_k` in closed form
/// (Ho et al. eq. 4), then one step on [`simple_loss_and_grad`].
///
/// ReLU networks train on the fused, allocation-free trainer ([`train_fused`]) with the same
/// random numbers: the losses, snapshots and weights are those of the tape path up to the
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
    // The same loss on the fused trainer: `alpha = 1`, `beta = -eps`, `w = 1`, `c = 1/(n d)`,
    // on the targets of `sample_eps_targets` (same random numbers in the same order: all
    // `k`, then `eps` row by row; same `x_k` arithmetic) drawn into preallocated buffers.
    all_finite(x0.iter(), "sample_eps_targets: x_0")?;
    let (n, d) = x0.dim();
    let coef = (1..=k_max)
        .map(|k| {
            let ab = schedule.alpha_bar(k)?;
            Ok((ab.sqrt(), schedule.one_minus_alpha_bar(k)?.sqrt()))
        })
        .collect::<Result<Vec<(f64, f64)>>>()?;
    let mut ks = vec![0usize; n];
    let mut input = vec![0.0; n * (d + 1)];
    let mut beta = vec![0.0; n * d];
    let ones = vec![1.0; n];
    let scale = 1.0 / (n * d) as f64;
    train_fused(model.net.clone(), opts, rng, n, |trainer, rng| {
        for k in &mut ks {
            *k = rng.random_range(1..=k_max);
        }
        for (i, x) in x0.rows().into_iter().enumerate() {
            let (sab, somab) = coef[ks[i] - 1];
            let row = &mut input[i * (d + 1)..(i + 1) * (d + 1)];
            for j in 0..d {
                let eps: f64 = rng.sample(StandardNormal);
                row[j] = x[j] * sab + eps * somab;
                beta[i * d + j] = -eps;
            }
            row[d] = feature.value(ks[i], k_max);
        }
        let loss = ResidualLoss {
            alpha: &ones,
            beta: &beta,
            weight: &ones,
            scale,
        };
        trainer.loss_and_grad(&input, &loss)
    })
}
// ANCHOR_END: train_eps
