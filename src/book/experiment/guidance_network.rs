//! A trained conditional network with classifier-free guidance (the guidance chapter): one MLP
//! on `[x, t, e_y]`, trained by DSM with label dropout on the labelled mixture of
//! [`super::guidance::example`], then the exact law (`pc_law_1d`) of Euler-Maruyama driven by
//! `(1 + w) s_θ(t, x, y) - w s_θ(t, x, ∅)` against the same sampler with exact scores and the
//! tilted law.
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::guidance::{example, GuidanceReport};
use crate::error::{Error, Result};
use crate::loss::{dsm_loss_and_grad, labelled_dsm_batch, Weighting};
use crate::mixture::LabelledMixture;
use crate::nn::{Activation, Mlp};
use crate::rng::seeded;
use crate::sampling::{pc_law_1d, ClassifierFree, GridLaw, Law1d, PcConfig, Predictor};
use crate::score::{LabelledNetScore, ScoreFn};
use crate::sde::{LinearSde, Vp};
use crate::train::{train, TrainOptions};

/// The network and its training.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetworkConfig {
    pub seed: u64,
    /// Hidden widths (input `1 + 1 + C`, output 1).
    pub hidden: Vec<usize>,
    pub steps: usize,
    pub lr: f64,
    pub ema_decay: f64,
    /// Fresh draws of `(x, y)` from the labelled mixture at every step.
    pub batch: usize,
    /// Probability that a row's label is replaced by the null label.
    pub p_drop: f64,
    /// Training times `t ~ U(t_eps, 1)`.
    pub t_eps: f64,
}

impl NetworkConfig {
    /// The chapter's settings.
    pub fn book() -> Self {
        Self {
            seed: 14,
            hidden: vec![64, 64],
            steps: 6000,
            lr: 2e-3,
            ema_decay: 0.999,
            batch: 512,
            p_drop: 0.2,
            t_eps: 1e-3,
        }
    }
}

/// One guidance strength.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkRow {
    pub w: f64,
    /// `W1` of the network-guided law to the exact-guided law and to the tilted law.
    pub w1_exact_guided: f64,
    pub w1_tilted: f64,
    /// The exact-guided law's `W1` to the tilted law, for comparison.
    pub w1_tilted_exact: f64,
    pub mean: f64,
    pub upper: f64,
    #[serde(skip)]
    pub law: Law1d,
}

/// The study.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkReport {
    pub config: NetworkConfig,
    /// Wall-clock seconds of the training (the one number that changes between rebuilds).
    pub train_seconds: f64,
    /// Mean loss over the last 500 steps.
    pub final_loss: f64,
    /// `W1` to `p_0(x | y)` of the network's conditional sampler (`w = 0`), and the same for
    /// the exact conditional score: the network's share is the difference.
    pub w1_conditional: f64,
    pub w1_conditional_exact: f64,
    /// `W1` to `p_0(x)` of the network at the null label, from the exact `p_T(x)`.
    pub w1_unconditional: f64,
    pub rows: Vec<NetworkRow>,
    #[serde(skip)]
    pub net: Mlp,
}

/// Trains the conditional network on fresh draws from `p0`, with label dropout; returns the
/// EMA network and the mean loss of the last 500 steps.
pub fn train_network(p0: &LabelledMixture, c: &NetworkConfig) -> Result<(Mlp, f64)> {
    let sde = Vp::song();
    let mut rng = seeded(c.seed);
    let mut sizes = vec![2 + p0.n_classes()];
    sizes.extend(&c.hidden);
    sizes.push(1);
    let net = Mlp::new(&sizes, Activation::Silu, &mut rng)?;
    let mut opts = TrainOptions::new(c.steps, c.lr);
    opts.ema_decay = Some(c.ema_decay);
    let n_classes = p0.n_classes();
    let t = train(net, &opts, &mut rng, |net, rng| {
        let (x, y) = p0.sample_labelled(c.batch, rng);
        let batch = labelled_dsm_batch(&sde, x.view(), &y, n_classes, c.p_drop, c.t_eps, rng)?;
        dsm_loss_and_grad(net, &sde, Weighting::KernelVariance, &batch)
    })?;
    let tail = &t.losses[t.losses.len().saturating_sub(500)..];
    let loss = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    Ok((t.ema.unwrap_or(t.net), loss))
}

/// Trains the network and computes its guided laws at the strengths of `exact` (the exact-score
/// study, whose sampler, grid and class it shares).
pub fn run(config: &NetworkConfig, exact: &GuidanceReport) -> Result<NetworkReport> {
    let (p0, sde) = (example()?, Vp::song());
    let g = &exact.config;
    let clock = Instant::now();
    let (net, loss) = train_network(&p0, config)?;
    let train_seconds = clock.elapsed().as_secs_f64();
    let cond = LabelledNetScore::new(&net, p0.n_classes(), Some(g.class))?;
    let uncond = LabelledNetScore::new(&net, p0.n_classes(), None)?;
    let target = p0.conditional(g.class)?;
    let grid = |start: &crate::mixture::GaussianMixture| {
        GridLaw::from_mixture(&start.diffused(&sde, sde.t_max())?, g.lo, g.hi, g.h)
    };
    let mut pc = PcConfig::predictor_only(Predictor::EulerMaruyama, g.steps + 1);
    pc.t_min = g.t_min;
    let law = |score: &dyn ScoreFn, start: &GridLaw| pc_law_1d(&sde, score, start, &pc);
    let start = grid(&target)?;
    let mut rows = vec![];
    for row in &exact.rows {
        let guided = ClassifierFree {
            conditional: &cond,
            unconditional: &uncond,
            guidance: row.w,
        };
        let l = law(&guided, &start)?;
        rows.push(NetworkRow {
            w: row.w,
            w1_exact_guided: l.w1_to(|x| row.guided.cdf(x), g.lo, g.hi)?,
            w1_tilted: l.w1_to(|x| row.tilted.cdf(x), g.lo, g.hi)?,
            w1_tilted_exact: row.w1_tilted,
            mean: l.mean(),
            upper: 1.0 - l.cdf(-0.75),
            law: l,
        });
    }
    let at_w0 = |w1: Option<Result<f64>>| {
        w1.unwrap_or_else(|| Err(Error::param("strengths", "the study needs w = 0")))
    };
    let w1_conditional = at_w0(
        rows.iter()
            .find(|r| r.w == 0.0)
            .map(|r| r.law.w1_to_mixture(&target)),
    )?;
    let w1_conditional_exact = at_w0(
        exact
            .rows
            .iter()
            .find(|r| r.w == 0.0)
            .map(|r| r.guided.w1_to_mixture(&target)),
    )?;
    Ok(NetworkReport {
        config: config.clone(),
        train_seconds,
        final_loss: loss,
        w1_conditional,
        w1_conditional_exact,
        w1_unconditional: law(&uncond, &grid(p0.mixture())?)?.w1_to_mixture(p0.mixture())?,
        rows,
        net,
    })
}
