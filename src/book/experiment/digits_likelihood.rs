//! Training the digits network for the likelihood: the book network (VP, the first
//! `n_train` training images) trained three ways — on the lattice images with the eps loss
//! (the chapter's network), on dequantised images `x + Δ u` with the eps loss, and on
//! dequantised images with the likelihood weighting `λ = g²` by importance sampling of `t`
//! (`fast::LikelihoodTimes`) — each scored by the test bits per dimension of its EMA weights
//! exactly as [`digits_bits`](super::digits_bits) scores (the same dequantised test images,
//! probes and solver: the body of [`flow_log_p`](crate::digits::flow_log_p), kept open to
//! see where the worst image's cost comes from; the flow started at each of `t_mins`; with
//! the median over images and the number of images whose bound exceeds the uniform code
//! beside the mean), and its ancestral samples judged like the network section's
//! ([`Judge`](super::digits_network): class histogram, Fréchet distances in pixels and in
//! the classifier's features, beside the real-image floor). A network trained on `x + Δ u`
//! learns a law whose mean is the lattice's plus `Δ/2` in every pixel, so its samples are
//! judged both as drawn and shifted by `−Δ/2`.
use std::time::Instant;

use ndarray::s;
use serde::{Deserialize, Serialize};

use super::digits_bits::{self, BitsConfig, BitsRow};
use super::digits_network::{sample, Judge, Quality};
use crate::digits::{
    bits_per_dim, dequantise, offset_bits, pixel_range, train_digits, ClassifierConfig, Digits,
    DigitsTrainConfig, Precision, DELTA, GREY_LEVELS,
};
use crate::divergence::Probe;
use crate::error::{Error, Result};
use crate::likelihood::{flow_log_likelihood, DivergenceMethod};
use crate::metrics::quantile;
use crate::rng::seeded;
use crate::sampling::{OdeMethod, Sampler, Schedule};
use crate::sde::{LinearSde, Vp};

/// The runs and how they are scored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsLikelihoodConfig {
    /// Training images (the first `n_train`).
    pub n_train: usize,
    /// The training settings shared by the three networks (their options are set per run).
    pub train: DigitsTrainConfig,
    /// Where the flow starts (the first is the training cut-off).
    pub t_mins: Vec<f64>,
    /// How bits per dimension are scored (its `t_min` is replaced by each of `t_mins`).
    pub bits: BitsConfig,
    pub n_samples: usize,
    /// Ancestral steps (equal steps in `t` down to `t_eps`).
    pub ancestral_steps: usize,
    pub classifier: ClassifierConfig,
    /// Seeds the samples and the floor's draws of real images.
    pub seed: u64,
}

impl DigitsLikelihoodConfig {
    /// The book's run: the network section's settings (`DigitsTrainConfig::book()`, 1500
    /// images, 200 ancestral samples of 200 steps, the same classifier and seed) and the
    /// bits section's starting times up to 0.03 (from 0.1 every network there is worse).
    pub fn book() -> Self {
        Self {
            n_train: 1500,
            // In f32, which tracks f64 (the digits chapter's f32 section) at half the cost.
            train: DigitsTrainConfig {
                precision: Precision::F32,
                ..DigitsTrainConfig::book()
            },
            t_mins: vec![1e-3, 1e-2, 3e-2],
            bits: BitsConfig::book(),
            n_samples: 200,
            ancestral_steps: 200,
            classifier: ClassifierConfig::book(),
            seed: 31,
        }
    }
}

/// One trained network: its options, loss, bits per dimension and samples.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LikelihoodRow {
    pub name: String,
    pub dequantise: bool,
    pub likelihood_weighting: bool,
    /// Mean of the last ten recorded training losses (the weighted one under the likelihood
    /// weighting: not comparable across rows).
    pub final_loss: f64,
    /// Per starting time: `(t_min, bpd, se)` of the EMA weights.
    pub bits: Vec<(f64, f64, f64)>,
    /// Per starting time: the median over test images of the per-image bound.
    pub median: Vec<f64>,
    /// Per starting time: how many test images cost more than the uniform code
    /// (`log_2 17` bits per dimension).
    pub above_uniform: Vec<usize>,
    /// Per starting time, for the test image with the largest bound: the share of its
    /// `−log p` that is the prior term `−log π(x(T))` (the rest is the flow's divergence
    /// integral), and `|x(T)|`, where the flow carried it (prior draws have
    /// `|x(T)| ≈ 8`).
    pub worst_prior_share: Vec<f64>,
    pub worst_x_end: Vec<f64>,
    /// The ODE's right-hand-side evaluations per starting time.
    pub nfe: Vec<usize>,
    /// Ancestral EMA samples judged by the classifier, as drawn.
    pub quality: Quality,
    /// The same samples shifted by `−Δ/2` (dequantised training only).
    pub quality_shifted: Option<Quality>,
    pub pixel_range: (f64, f64),
    /// Wall-clock seconds of the training.
    pub train_seconds: f64,
}

/// Everything the subsection shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsLikelihoodReport {
    pub config: DigitsLikelihoodConfig,
    /// Uniform, one Gaussian, one Gaussian per class ([`digits_bits`]'s first three rows).
    pub baselines: Vec<BitsRow>,
    /// Lattice + eps loss, dequantised + eps loss, dequantised + likelihood weighting.
    pub rows: Vec<LikelihoodRow>,
    /// The floor: [`FLOOR_DRAWS`](super::digits_network::FLOOR_DRAWS) sets of `n_samples` real
    /// training images, judged alike ([`Judge::floor`]).
    pub real: Vec<Quality>,
}

/// The three trainings: name, dequantise, likelihood weighting.
pub const RUNS: [(&str, bool, bool); 3] = [
    ("lattice images, eps loss", false, false),
    ("dequantised images, eps loss", true, false),
    ("dequantised images, likelihood weighting", true, true),
];

/// Trains and scores the three networks.
pub fn run(config: &DigitsLikelihoodConfig) -> Result<DigitsLikelihoodReport> {
    if config.t_mins.is_empty() {
        return Err(Error::param("t_mins", "needs at least one starting time"));
    }
    let digits = Digits::book()?;
    let sde = Vp::song();
    let train = digits.train_subset(config.n_train)?;
    let t_eps = config.train.t_eps;
    let ancestral = Schedule::UniformT { t_min: t_eps }.times(&sde, config.ancestral_steps)?;
    let (judge, _) = Judge::new(&digits, &config.classifier)?;
    let real = judge.floor(&digits, config.n_samples, config.seed)?;
    let baselines = digits_bits::run(&[], &sde, &digits, &config.bits)?.rows;
    // The test images of `digits_bits::run`: the same seed, training images first.
    let n_test = config.bits.n_test;
    let mut deq = seeded(config.bits.dequant_seed);
    dequantise(digits.train.view(), &mut deq)?;
    let test = dequantise(digits.test.slice(s![..n_test, ..]), &mut deq)?;
    let method = OdeMethod::Dopri5 {
        rtol: config.bits.rtol,
        atol: config.bits.rtol,
    };
    let uniform = (GREY_LEVELS as f64).log2();
    let per_dim = test.ncols() as f64 * std::f64::consts::LN_2;
    let mut rows = vec![];
    for (name, dequantise, likelihood_weighting) in RUNS {
        let c = DigitsTrainConfig {
            dequantise,
            likelihood_weighting,
            ..config.train.clone()
        };
        let start = Instant::now();
        let trained = train_digits(train.view(), &sde, &c, None)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let model = trained.model(&trained.ema, &sde);
        let (mut bits, mut median, mut above_uniform, mut nfe) = (vec![], vec![], vec![], vec![]);
        let (mut worst_prior_share, mut worst_x_end) = (vec![], vec![]);
        for &t_min in &config.t_mins {
            let flow = flow_log_likelihood(
                &sde,
                &model,
                test.view(),
                t_min,
                &method,
                DivergenceMethod::Hutchinson(Probe::Rademacher),
                &mut seeded(config.bits.probe_seed),
            )?;
            let prior = sde.prior_log_density(flow.x_end.view());
            let log_p = flow.log_p(&prior)?;
            let (bpd, se) = bits_per_dim(&log_p.to_vec(), test.ncols())?;
            let each: Vec<f64> = log_p
                .iter()
                .map(|lp| -lp / per_dim + offset_bits())
                .collect();
            let worst = (0..each.len())
                .max_by(|&a, &b| each[a].total_cmp(&each[b]))
                .unwrap_or(0);
            worst_prior_share.push(prior[worst] / log_p[worst]);
            worst_x_end.push(flow.x_end.row(worst).dot(&flow.x_end.row(worst)).sqrt());
            bits.push((t_min, bpd, se));
            median.push(quantile(&each, 0.5)?);
            above_uniform.push(each.iter().filter(|&&b| b > uniform).count());
            nfe.push(flow.n_evals);
        }
        let x0 = sample(
            &model,
            &sde,
            &Sampler::Ancestral,
            &ancestral,
            config.n_samples,
            config.seed,
        )?;
        let quality_shifted = if dequantise {
            Some(judge.quality((&x0 - 0.5 * DELTA).view())?)
        } else {
            None
        };
        rows.push(LikelihoodRow {
            name: name.into(),
            dequantise,
            likelihood_weighting,
            final_loss: trained.final_loss(),
            bits,
            median,
            above_uniform,
            worst_prior_share,
            worst_x_end,
            nfe,
            quality: judge.quality(x0.view())?,
            quality_shifted,
            pixel_range: pixel_range(x0.view()),
            train_seconds,
        });
    }
    Ok(DigitsLikelihoodReport {
        config: config.clone(),
        baselines,
        rows,
        real,
    })
}
