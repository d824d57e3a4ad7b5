//! The training loop shared by every experiment: Adam on a loss closure, optional EMA of
//! the weights, loss history, snapshots for "evolution of the fit" figures, a progress bar.
use ndarray::{Array2, ArrayView2};
use rand::Rng;

use crate::error::{Error, Result};
use crate::fast::{DsmBuffers, FusedTrainer};
use crate::loss::{dsm_batch, dsm_loss_and_grad, Weighting};
use crate::nn::{Activation, Adam, Ema, Mlp};
use crate::progress::ProgressBar;
use crate::sde::LinearSde;

/// Settings of [`train`].
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Number of Adam steps.
    pub steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Decay of an exponential moving average of the weights, if any (e.g. 0.999), with the
    /// warm-up of [`Ema::with_warmup`].
    pub ema_decay: Option<f64>,
    /// Keep a copy of the network every this many steps (and at step 0).
    pub snapshot_every: Option<usize>,
    /// An optional progress bar, advanced once per step.
    pub progress: Option<ProgressBar>,
}

impl TrainOptions {
    /// `steps` Adam steps at learning rate `lr`, nothing else.
    pub fn new(steps: usize, lr: f64) -> Self {
        Self {
            steps,
            lr,
            ema_decay: None,
            snapshot_every: None,
            progress: None,
        }
    }
}

/// What [`train`] returns.
#[derive(Clone, Debug)]
pub struct Training {
    /// The trained network.
    pub net: Mlp,
    /// The EMA network, when `ema_decay` was set.
    pub ema: Option<Mlp>,
    /// The loss at every step, evaluated before that step's update.
    pub losses: Vec<f64>,
    /// `(step, network)` snapshots.
    pub snapshots: Vec<(usize, Mlp)>,
}

/// Minimises `loss_and_grad(net, rng)` with Adam for `opts.steps` steps.
///
/// Errors if the loss becomes non-finite (with the step number), or on invalid options.
pub fn train<F>(
    mut net: Mlp,
    opts: &TrainOptions,
    rng: &mut dyn Rng,
    mut loss_and_grad: F,
) -> Result<Training>
where
    F: FnMut(&Mlp, &mut dyn Rng) -> Result<(f64, Vec<Array2<f64>>)>,
{
    let mut adam = Adam::new(opts.lr)?;
    let mut ema = opts
        .ema_decay
        .map(|d| Ema::new(&net, d).map(Ema::with_warmup))
        .transpose()?;
    if opts.snapshot_every == Some(0) {
        return Err(Error::param("snapshot_every", "must be >= 1"));
    }
    let mut losses = Vec::with_capacity(opts.steps);
    let mut snapshots = Vec::new();
    // ANCHOR: train_loop
    for step in 0..opts.steps {
        if let Some(k) = opts.snapshot_every {
            if step % k == 0 {
                snapshots.push((step, net.clone()));
            }
        }
        let (loss, grads) = loss_and_grad(&net, rng)?;
        if !loss.is_finite() {
            return Err(Error::NonFinite {
                what: format!("training loss at step {step}"),
            });
        }
        losses.push(loss);
        adam.step(net.parameters_mut(), &grads)?;
        if let Some(e) = ema.as_mut() {
            e.update(&net)?;
        }
        if let Some(pb) = &opts.progress {
            pb.inc(1);
            if step % 50 == 0 {
                pb.set_prefix(format!("loss {loss:.4}"));
            }
        }
    }
    // ANCHOR_END: train_loop
    if opts.snapshot_every.is_some() {
        snapshots.push((opts.steps, net.clone()));
    }
    Ok(Training {
        net,
        ema: ema.map(|e| e.model().clone()),
        losses,
        snapshots,
    })
}

/// [`train`] on the continuous DSM loss of `data` (a fresh `loss::dsm_batch` per step, then
/// `loss::dsm_loss_and_grad`). ReLU networks run on the fused, allocation-free trainer
/// ([`FusedTrainer`], one thread): the same random numbers, losses and weights as the tape
/// up to the order of floating-point sums (`tests/fused.rs`); other networks use the tape.
#[allow(clippy::too_many_arguments)]
pub fn train_dsm(
    net: Mlp,
    opts: &TrainOptions,
    rng: &mut dyn Rng,
    sde: &dyn LinearSde,
    data: ArrayView2<f64>,
    t_eps: f64,
    weighting: Weighting,
) -> Result<Training> {
    let (n, d) = data.dim();
    let fused = net.activation == Activation::Relu
        && net.validate().is_ok()
        && net.input_dim() == d + 1
        && net.output_dim() == d
        && n > 0;
    if !fused {
        return train(net, opts, rng, |net, rng| {
            let batch = dsm_batch(sde, data, t_eps, rng)?;
            dsm_loss_and_grad(net, sde, weighting, &batch)
        });
    }
    let mut bufs = DsmBuffers::<f64>::new(n, d);
    train_fused(net, opts, rng, n, |trainer, rng| {
        bufs.draw(sde, data, t_eps, weighting, rng)?;
        trainer.loss_and_grad(&bufs)
    })
}

/// The loop of [`train`] on the fused trainer ([`FusedTrainer`], one thread, batches of
/// `batch` rows) for a ReLU `net`: at every step `loss_and_grad` draws a batch from `rng` and
/// returns `trainer.loss_and_grad(..)` on it; then one Adam update, the EMA, snapshots and
/// progress exactly as in [`train`]. Errors on a non-ReLU network, `batch == 0`, invalid
/// options, or a non-finite loss (with the step number).
pub(crate) fn train_fused<L>(
    net: Mlp,
    opts: &TrainOptions,
    rng: &mut dyn Rng,
    batch: usize,
    mut loss_and_grad: L,
) -> Result<Training>
where
    L: FnMut(&mut FusedTrainer<f64>, &mut dyn Rng) -> Result<f64>,
{
    let adam = Adam::new(opts.lr)?;
    let mut ema = opts
        .ema_decay
        .map(|d| Ema::new(&net, d).map(Ema::with_warmup))
        .transpose()?;
    if opts.snapshot_every == Some(0) {
        return Err(Error::param("snapshot_every", "must be >= 1"));
    }
    let mut trainer = FusedTrainer::<f64>::new(&net, &adam, batch, 1)?;
    let mut current = net;
    let mut losses = Vec::with_capacity(opts.steps);
    let mut snapshots = Vec::new();
    for step in 0..opts.steps {
        if let Some(k) = opts.snapshot_every {
            if step % k == 0 {
                trainer.net().write_to(&mut current)?;
                snapshots.push((step, current.clone()));
            }
        }
        let loss = loss_and_grad(&mut trainer, rng)?;
        if !loss.is_finite() {
            return Err(Error::NonFinite {
                what: format!("training loss at step {step}"),
            });
        }
        losses.push(loss);
        trainer.update()?;
        if let Some(e) = ema.as_mut() {
            trainer.net().write_to(&mut current)?;
            e.update(&current)?;
        }
        if let Some(pb) = &opts.progress {
            pb.inc(1);
            if step % 50 == 0 {
                pb.set_prefix(format!("loss {loss:.4}"));
            }
        }
    }
    trainer.net().write_to(&mut current)?;
    if opts.snapshot_every.is_some() {
        snapshots.push((opts.steps, current.clone()));
    }
    Ok(Training {
        net: current,
        ema: ema.map(|e| e.model().clone()),
        losses,
        snapshots,
    })
}
