//! The digits network: an MLP `eps_θ([x_t, f(t)])` with Gaussian Fourier time features
//! (seed 002's recipe), trained by the eps loss `E |eps_θ(x_t, t) - eps|^2` on the fused,
//! allocation-free path, with an exponential moving average (EMA) of its weights; and its
//! score `s_θ(t, x) = -eps_θ(x, t) / zeta(t)` for every sampler of the crate. Optionally the
//! network sees `c_in(t) x_t` ([`input_scale`], Karras et al. 2022) in place of `x_t`, and
//! trains in `f32`.
use ndarray::{Array2, ArrayView2};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fast::{input_scale, Float, FusedTrainer, SdeEpsBuffers, TimeFeatures};
use crate::nn::{Activation, Adam, Ema, Mlp};
use crate::progress::ProgressBar;
use crate::rng::{seeded, SeededRng};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// How the digits network is trained.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsTrainConfig {
    /// Hidden widths (three layers of 256 is the peers' workload D).
    pub hidden: Vec<usize>,
    /// Fourier frequencies `w_k ~ N(0, scale^2)` of the time features; 0 feeds the raw `t`.
    pub frequencies: usize,
    pub scale: f64,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    /// EMA decay of the weights (with the warm-up `min(d, (1 + k)/(10 + k))`, [`Ema::with_warmup`]).
    pub ema_decay: f64,
    /// Training times `t ~ U(t_eps, T)`.
    pub t_eps: f64,
    pub threads: usize,
    pub seed: u64,
    /// Feed the network `c_in(t) x_t` with `c_in(t) = 1/sqrt(s_d² mu(t)² + zeta(t)²)`
    /// ([`input_scale`]), `s_d²` the training images' mean per-pixel variance; off by default.
    #[serde(default)]
    pub input_scaling: bool,
    /// The fused trainer's floating-point type (the EMA and the returned weights are `f64`).
    #[serde(default)]
    pub precision: Precision,
    /// Train on dequantised images `x + Δ u`, `u ~ U[0, 1)^64`, `Δ` = [`DELTA`](super::bits::DELTA)
    /// (a fresh `u` per drawn row); off: the lattice images.
    #[serde(default)]
    pub dequantise: bool,
    /// The likelihood weighting `λ = g²` by importance sampling of `t`
    /// ([`LikelihoodTimes`](crate::fast::LikelihoodTimes)); off: the eps loss, `t` uniform.
    #[serde(default)]
    pub likelihood_weighting: bool,
    /// The hidden layers' activation: ReLU (the book's network) or SiLU, the two the fused
    /// trainer has.
    #[serde(default = "relu")]
    pub activation: Activation,
}

fn relu() -> Activation {
    Activation::Relu
}

/// The scalar type of training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    #[default]
    F64,
    F32,
}

impl DigitsTrainConfig {
    /// The book's settings.
    pub fn book() -> Self {
        Self {
            hidden: vec![256, 256, 256],
            frequencies: 16,
            scale: 16.0,
            steps: 6000,
            batch: 256,
            lr: 1e-3,
            ema_decay: 0.999,
            t_eps: 1e-3,
            threads: 2,
            seed: 21,
            dequantise: false,
            likelihood_weighting: false,
            input_scaling: false,
            precision: Precision::F64,
            activation: Activation::Relu,
        }
    }
}

/// A trained eps network with its time features; a [`ScoreFn`] through
/// `s = -eps / zeta(t)`.
#[derive(Clone)]
pub struct DigitsModel<'a> {
    pub net: Mlp,
    pub features: TimeFeatures,
    pub sde: &'a dyn LinearSde,
    /// `s_d²` when the network takes `c_in(t) x` ([`input_scale`]); `None`: the raw `x`.
    pub data_var: Option<f64>,
}

impl<'a> DigitsModel<'a> {
    /// The model of a network that takes the raw `x`.
    pub fn new(net: Mlp, features: TimeFeatures, sde: &'a dyn LinearSde) -> Self {
        Self {
            net,
            features,
            sde,
            data_var: None,
        }
    }

    /// `eps_θ(x, t)` for each row of `x`: the network on `[c_in(t) x, f(t)]` with input
    /// scaling, on `[x, f(t)]` without.
    pub fn eps(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        match self.data_var {
            None => eps_rows(&self.net, &self.features, t, x, 0, |_| None),
            Some(v) => {
                crate::error::finite(t, "t")?;
                let c = input_scale(self.sde, t, v)?;
                eps_rows(&self.net, &self.features, t, (&x * c).view(), 0, |_| None)
            }
        }
    }
}

impl ScoreFn for DigitsModel<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        score_of_eps(self.sde, t, self.eps(t, x)?)
    }
}

/// The network output on the rows `[x_i, f(t), e_{y_i}]`: `classes` one-hot label columns
/// after the time features, `label(i)` the class of row `i` (`None`: all zeros).
pub(crate) fn eps_rows(
    net: &Mlp,
    features: &TimeFeatures,
    t: f64,
    x: ArrayView2<f64>,
    classes: usize,
    label: impl Fn(usize) -> Option<usize>,
) -> Result<Array2<f64>> {
    crate::error::finite(t, "t")?;
    let (n, d) = x.dim();
    let k = features.count();
    let mut f = vec![0.0; k];
    features.write(t, &mut f)?;
    let mut input = Array2::zeros((n, d + k + classes));
    for (i, (mut row, xr)) in input.rows_mut().into_iter().zip(x.rows()).enumerate() {
        for (o, &v) in row.iter_mut().zip(xr.iter().chain(f.iter())) {
            *o = v;
        }
        if let Some(y) = label(i) {
            row[d + k + y] = 1.0;
        }
    }
    crate::fast::infer::forward(net, input.view())
}

/// `s = -eps / zeta(t)`; an error where `zeta(t)` is not finite and positive.
pub(crate) fn score_of_eps(sde: &dyn LinearSde, t: f64, eps: Array2<f64>) -> Result<Array2<f64>> {
    let zeta = sde.kernel_std(t);
    if !(zeta > 0.0 && zeta.is_finite()) {
        return Err(Error::param(
            "t",
            format!("zeta(t) = {zeta} at t = {t}: the eps model's score is undefined"),
        ));
    }
    Ok(eps / (-zeta))
}

/// The trained weights, the EMA weights, and the loss every 100 steps.
#[derive(Clone, Debug)]
pub struct Trained {
    pub net: Mlp,
    pub ema: Mlp,
    pub features: TimeFeatures,
    pub losses: Vec<f64>,
    /// `s_d²` of the input scaling, if trained with it ([`DigitsTrainConfig::input_scaling`]).
    pub data_var: Option<f64>,
}

impl Trained {
    /// The model of `net` (these weights or the EMA's) with this training's time features
    /// and input scaling.
    pub fn model<'a>(&self, net: &Mlp, sde: &'a dyn LinearSde) -> DigitsModel<'a> {
        DigitsModel {
            data_var: self.data_var,
            ..DigitsModel::new(net.clone(), self.features.clone(), sde)
        }
    }

    /// The mean of the last ten recorded losses (fewer if fewer were recorded, 0 if none).
    pub fn final_loss(&self) -> f64 {
        let tail = &self.losses[self.losses.len().saturating_sub(10)..];
        tail.iter().sum::<f64>() / tail.len().max(1) as f64
    }
}

/// The smallest and largest pixel value of images (`(+inf, -inf)` for none).
pub fn pixel_range(x: ArrayView2<f64>) -> (f64, f64) {
    x.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &p| {
            (lo.min(p), hi.max(p))
        })
}

/// Trains on the rows of `train` (minibatches drawn with replacement). Errors on an empty
/// or non-finite training set and on bad settings.
pub fn train_digits(
    train: ArrayView2<f64>,
    sde: &dyn LinearSde,
    config: &DigitsTrainConfig,
    progress: Option<ProgressBar>,
) -> Result<Trained> {
    train_eps(train, None, sde, config, progress)
}

/// The class of each training image, `0..classes`, and the probability that a drawn row's
/// label is replaced by the null label.
pub(crate) struct LabelDropout<'a> {
    pub labels: &'a [u8],
    pub classes: usize,
    pub p: f64,
}

/// The training loop of [`train_digits`]; with `labelled`, each drawn row also draws
/// `u ~ U(0, 1)` and keeps its label if `u >= p` (else the null label).
pub(crate) fn train_eps(
    train: ArrayView2<f64>,
    labelled: Option<LabelDropout>,
    sde: &dyn LinearSde,
    config: &DigitsTrainConfig,
    progress: Option<ProgressBar>,
) -> Result<Trained> {
    let (run, net, mut rng) = Run::new(train, labelled.as_ref(), sde, config, progress)?;
    let (net, ema, losses) = match config.precision {
        Precision::F64 => run.steps::<f64>(&net, &mut rng)?,
        Precision::F32 => run.steps::<f32>(&net, &mut rng)?,
    };
    Ok(Trained {
        net,
        ema,
        features: run.features,
        losses,
        data_var: run.data_var,
    })
}

/// `s_d²`: the variance of each pixel over the images (rows), averaged over the pixels.
pub fn mean_pixel_variance(x: ArrayView2<f64>) -> f64 {
    let n = x.nrows() as f64;
    x.columns()
        .into_iter()
        .map(|c| {
            let m = c.sum() / n;
            c.iter().map(|&p| (p - m) * (p - m)).sum::<f64>() / n
        })
        .sum::<f64>()
        / x.ncols().max(1) as f64
}

/// One training run's settings, checked, for the loop in either precision.
pub(super) struct Run<'a> {
    train: ArrayView2<'a, f64>,
    labelled: Option<&'a LabelDropout<'a>>,
    sde: &'a dyn LinearSde,
    pub(super) config: &'a DigitsTrainConfig,
    features: TimeFeatures,
    data_var: Option<f64>,
    progress: Option<ProgressBar>,
}

/// The fused trainer of a [`Run`] in `F`, with its buffers and the minibatch they are drawn
/// from (no allocation per step).
pub(super) struct Stepper<F: Float> {
    pub(super) trainer: FusedTrainer<F>,
    pub(super) bufs: SdeEpsBuffers<F>,
    x0: Array2<f64>,
    y: Vec<Option<usize>>,
}

impl<'a> Run<'a> {
    /// Checks the settings and draws, from `config.seed`, what comes before the first step:
    /// the time features, then the initial weights. Returns the run, those weights and the
    /// generator that goes on to draw the minibatches.
    pub(super) fn new(
        train: ArrayView2<'a, f64>,
        labelled: Option<&'a LabelDropout<'a>>,
        sde: &'a dyn LinearSde,
        config: &'a DigitsTrainConfig,
        progress: Option<ProgressBar>,
    ) -> Result<(Self, Mlp, SeededRng)> {
        let (n, d) = train.dim();
        if n == 0 || d == 0 {
            return Err(Error::param("training set", "needs at least one image"));
        }
        crate::error::all_finite(train.iter(), "training set")?;
        if config.steps == 0 || config.batch == 0 {
            return Err(Error::param("steps, batch", "must be >= 1"));
        }
        let classes = labelled.map_or(0, |l| l.classes);
        if let Some(l) = labelled {
            crate::error::check_len("training labels", n, l.labels.len())?;
            if let Some(y) = l.labels.iter().find(|&&y| y as usize >= l.classes) {
                return Err(Error::param(
                    "training labels",
                    format!("must be < {}, got {y}", l.classes),
                ));
            }
            if !(0.0..=1.0).contains(&l.p) {
                return Err(Error::param(
                    "label dropout",
                    format!("must lie in [0, 1], got {}", l.p),
                ));
            }
        }
        if labelled.is_some() && config.input_scaling {
            return Err(Error::param(
                "input_scaling",
                "is implemented for the unconditional model only",
            ));
        }
        let data_var = if config.input_scaling {
            let v = mean_pixel_variance(train);
            crate::error::positive(v, "training images' mean per-pixel variance s_d^2")?;
            Some(v)
        } else {
            None
        };
        let mut rng = seeded(config.seed);
        let features = if config.frequencies == 0 {
            TimeFeatures::Raw
        } else {
            TimeFeatures::gaussian_fourier(config.frequencies, config.scale, &mut rng)?
        };
        let mut sizes = vec![d + features.count() + classes];
        sizes.extend(&config.hidden);
        sizes.push(d);
        let net = Mlp::new(&sizes, config.activation, &mut rng)?;
        let run = Run {
            train,
            labelled,
            sde,
            config,
            features,
            data_var,
            progress,
        };
        Ok((run, net, rng))
    }

    /// A fused trainer in `F` from the weights `net`, with this run's buffers.
    pub(super) fn stepper<F: Float>(&self, net: &Mlp) -> Result<Stepper<F>> {
        let config = self.config;
        let d = self.train.ncols();
        let classes = self.labelled.map_or(0, |l| l.classes);
        let trainer =
            FusedTrainer::<F>::new(net, &Adam::new(config.lr)?, config.batch, config.threads)?;
        let mut bufs =
            SdeEpsBuffers::<F>::labelled(config.batch, d, self.features.clone(), classes);
        if let Some(v) = self.data_var {
            bufs = bufs.with_input_scaling(v)?;
        }
        if config.dequantise {
            bufs = bufs.with_dequantisation(super::bits::DELTA)?;
        }
        if config.likelihood_weighting {
            bufs = bufs.with_likelihood_weighting(self.sde, config.t_eps)?;
        }
        Ok(Stepper {
            trainer,
            bufs,
            x0: Array2::zeros((config.batch, d)),
            y: vec![None; config.batch],
        })
    }

    /// Draws the next minibatch into `s`'s buffers: the rows (with replacement), with
    /// `labelled` their kept or dropped labels, then the times and the noise.
    pub(super) fn draw<F: Float>(
        &self,
        s: &mut Stepper<F>,
        rng: &mut impl rand::Rng,
    ) -> Result<()> {
        let n = self.train.nrows();
        for (b, mut row) in s.x0.rows_mut().into_iter().enumerate() {
            let i = rng.random_range(0..n);
            row.assign(&self.train.row(i));
            if let Some(l) = self.labelled {
                s.y[b] = (rng.random::<f64>() >= l.p).then_some(l.labels[i] as usize);
            }
        }
        let t_eps = self.config.t_eps;
        if self.labelled.is_some() {
            s.bufs
                .draw_labelled(self.sde, s.x0.view(), &s.y, t_eps, rng)
        } else {
            s.bufs.draw(self.sde, s.x0.view(), t_eps, rng)
        }
    }

    /// The loop on the fused trainer in `F` from the weights `net`: the last weights, the
    /// EMA weights (updated from the `f64` widening of each step's weights) and the losses.
    fn steps<F: Float>(&self, net: &Mlp, rng: &mut impl rand::Rng) -> Result<(Mlp, Mlp, Vec<f64>)> {
        let mut s = self.stepper::<F>(net)?;
        let mut ema = Ema::new(net, self.config.ema_decay)?.with_warmup();
        // The f64 widening of each step's weights, written in place (no allocation per step).
        let mut current = net.clone();
        let mut losses = vec![];
        for step in 0..self.config.steps {
            self.draw(&mut s, rng)?;
            let loss = s.trainer.step(&s.bufs)?.to_f64();
            if !loss.is_finite() {
                return Err(Error::param(
                    "training",
                    format!("non-finite loss at step {step}: lower the learning rate"),
                ));
            }
            s.trainer.net().write_to(&mut current)?;
            ema.update(&current)?;
            if step % 100 == 0 {
                losses.push(loss);
            }
            if let Some(p) = &self.progress {
                p.inc(1);
            }
        }
        Ok((s.trainer.net().to_mlp(), ema.into_model(), losses))
    }
}
