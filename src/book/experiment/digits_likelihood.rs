//! Training the digits network for the likelihood: the book network (VP, the first
//! `n_train` training images) trained three ways — on the lattice images with the eps loss
//! (the chapter's network), on dequantised images `x + Δ u` with the eps loss, and on
//! dequantised images with the likelihood weighting `λ = g²` by importance sampling of `t`
//! (`fast::LikelihoodTimes`) — each scored by the test bits per dimension of its EMA weights
//! exactly as [`digits_bits`](super::digits_bits) scores (the flow started at each of
//! `t_mins`), and its ancestral samples judged like the network section's
//! ([`Judge`](super::digits_network): class histogram, Fréchet distances in pixels and in
//! the classifier's features, beside the real-image floor).
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::digits_bits::{self, BitsConfig, BitsRow};
use super::digits_network::{sample, Judge, Quality, FLOOR_DRAWS};
use crate::digits::{
    pixel_range, train_digits, ClassifierConfig, Digits, DigitsModel, DigitsTrainConfig,
};
use crate::error::{Error, Result};
use crate::rng::seeded;
use crate::sampling::{Sampler, Schedule};
use crate::sde::Vp;

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
    /// bits section's starting times.
    pub fn book() -> Self {
        Self {
            n_train: 1500,
            train: DigitsTrainConfig::book(),
            t_mins: vec![1e-3, 1e-2, 3e-2, 1e-1],
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
    /// The ODE's right-hand-side evaluations per starting time.
    pub nfe: Vec<usize>,
    /// Ancestral EMA samples judged by the classifier.
    pub quality: Quality,
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
    /// The floor: [`FLOOR_DRAWS`] sets of `n_samples` real training images, judged alike.
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
    let mut rng = seeded(config.seed);
    let m = config.n_samples.min(digits.train.nrows());
    let real = (0..FLOOR_DRAWS)
        .map(|_| {
            let pick = rand::seq::index::sample(&mut rng, digits.train.nrows(), m).into_vec();
            judge.quality(digits.train.select(ndarray::Axis(0), &pick).view())
        })
        .collect::<Result<Vec<_>>>()?;
    let (mut rows, mut baselines) = (vec![], vec![]);
    for (name, dequantise, likelihood_weighting) in RUNS {
        let c = DigitsTrainConfig {
            dequantise,
            likelihood_weighting,
            ..config.train.clone()
        };
        let start = Instant::now();
        let trained = train_digits(train.view(), &sde, &c, None)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let model = DigitsModel {
            net: trained.ema.clone(),
            features: trained.features.clone(),
            sde: &sde,
        };
        let (mut bits, mut nfe) = (vec![], vec![]);
        for &t_min in &config.t_mins {
            let b = BitsConfig {
                t_min,
                ..config.bits.clone()
            };
            let r = digits_bits::run(&[(name, &model)], &sde, &digits, &b)?;
            if baselines.is_empty() {
                baselines = r.rows[..3].to_vec();
            }
            bits.push((t_min, r.rows[3].bpd, r.rows[3].se));
            nfe.push(r.network_nfe[0]);
        }
        let x0 = sample(
            &model,
            &sde,
            &Sampler::Ancestral,
            &ancestral,
            config.n_samples,
            config.seed,
        )?;
        rows.push(LikelihoodRow {
            name: name.into(),
            dequantise,
            likelihood_weighting,
            final_loss: trained.final_loss(),
            bits,
            nfe,
            quality: judge.quality(x0.view())?,
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
