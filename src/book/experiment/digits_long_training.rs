//! Memorisation under longer training: the digits network trained with one longer schedule
//! (more, smaller Adam steps) on the nested training sets of the oracle's study, each sampled
//! by ancestral sampling as learnt and with the clipped denoiser ([`ClippedDenoiser`]), and
//! measured like the oracle: distance from each sample to its nearest training image against
//! the same distance for test images, and the share of near-copies.
use serde::{Deserialize, Serialize};

use super::digits_clipping::sample_tweedie;
use crate::digits::{
    near_copy_fraction, nearest_neighbours, train_digits, Digits, DigitsTrainConfig, NearCopy,
    Precision,
};
use crate::error::Result;
use crate::metrics::quantile;
use crate::progress::ProgressBar;
use crate::sampling::{ClippedDenoiser, Sampler, Schedule};
use crate::score::ScoreFn;
use crate::sde::Vp;

/// Training sets, the longer schedule, sampling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LongTrainingConfig {
    /// Sizes of the nested training subsets (the first `n` training images).
    pub train_sizes: Vec<usize>,
    pub train: DigitsTrainConfig,
    pub n_samples: usize,
    /// Ancestral steps (equal steps in `t` down to `t_eps`).
    pub ancestral_steps: usize,
    pub seed: u64,
}

impl LongTrainingConfig {
    /// The book's run: four times the network section's Adam steps, on minibatches a quarter
    /// as large (the same number of images seen), in `f32` (it tracks `f64`: section "The VE SDE,
    /// and training in f32"), on the two smaller sets of the oracle's study
    /// (the largest costs as much again, and the section's normal schedule already shows it
    /// further from its training images than the test images are).
    pub fn book() -> Self {
        let train = DigitsTrainConfig::book();
        Self {
            train_sizes: vec![50, 200],
            train: DigitsTrainConfig {
                steps: 4 * train.steps,
                batch: train.batch / 4,
                precision: Precision::F32,
                ..train
            },
            n_samples: 200,
            ancestral_steps: 200,
            seed: 31,
        }
    }
}

/// One training set, as learnt or clipped.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LongTrainingRow {
    pub n_train: usize,
    /// Passes over the training set: `steps * batch / n`.
    pub epochs: f64,
    pub final_loss: f64,
    pub clipped: bool,
    pub sample_nn_median: f64,
    pub test_nn_median: f64,
    /// The share of samples within one grey level RMS of a training image
    /// ([`NearCopy::one_grey_level`]), and within two.
    pub copies: f64,
    pub copies_two_levels: f64,
}

/// Trains and samples every training set.
pub fn run(
    config: &LongTrainingConfig,
    progress: Option<ProgressBar>,
) -> Result<Vec<LongTrainingRow>> {
    let digits = Digits::book()?;
    let sde = Vp::song();
    let one = NearCopy::one_grey_level(64);
    let two = NearCopy {
        threshold: 2.0 * one.threshold,
    };
    let ts = Schedule::UniformT {
        t_min: config.train.t_eps,
    }
    .times(&sde, config.ancestral_steps)?;
    let mut rows = vec![];
    for &n in &config.train_sizes {
        let train = digits.train_subset(n)?;
        let trained = train_digits(train.view(), &sde, &config.train, progress.clone())?;
        let (_, test_nn) = nearest_neighbours(digits.test.view(), train.view())?;
        let test_nn_median = quantile(&test_nn, 0.5)?;
        let model = trained.model(&trained.ema, &sde);
        let clipped = ClippedDenoiser::new(&model, &sde, -1.0, 1.0)?;
        for (is_clipped, score) in [(false, &model as &dyn ScoreFn), (true, &clipped)] {
            let x0 = sample_tweedie(
                score,
                &sde,
                &Sampler::Ancestral,
                &ts,
                config.n_samples,
                config.seed,
            )?;
            let (_, nn) = nearest_neighbours(x0.view(), train.view())?;
            rows.push(LongTrainingRow {
                n_train: n,
                epochs: (config.train.steps * config.train.batch) as f64 / n as f64,
                final_loss: trained.final_loss(),
                clipped: is_clipped,
                sample_nn_median: quantile(&nn, 0.5)?,
                test_nn_median,
                copies: near_copy_fraction(&nn, one)?,
                copies_two_levels: near_copy_fraction(&nn, two)?,
            });
        }
    }
    Ok(rows)
}
