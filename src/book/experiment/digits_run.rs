//! One digits run, as `score-sde digits` and the digits notebook do it: train the eps network
//! on the first `n_train` training images (VP SDE), sample it from its EMA weights with one
//! sampler, and judge the samples: nearest training images, near-copies, the classifier's
//! class histogram and the Fréchet distances to the test images beside the real-image floor.
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use super::digits_network::{sample, Judge, Quality};
use crate::digits::{
    near_copy_fraction, nearest_neighbours, train_digits, ClassifierConfig, Digits, DigitsModel,
    DigitsTrainConfig, NearCopy, Trained,
};
use crate::error::{Error, Result};
use crate::metrics::quantile;
use crate::progress::ProgressBar;
use crate::rng::seeded;
use crate::sampling::sigma::sigma_of_t;
use crate::sampling::{Sampler, Schedule};
use crate::sde::Vp;

/// What to train, how to sample.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsRunConfig {
    /// Train on the first `n_train` training images (1 to 1500).
    pub n_train: usize,
    pub train: DigitsTrainConfig,
    pub n_samples: usize,
    /// A sampler name of [`Sampler::parse`].
    pub sampler: String,
    pub sampler_steps: usize,
    /// `karras` (rho = 7, down to `sigma(t_eps)`) or `uniform` (equal steps in `t` down to
    /// `t_eps`).
    pub schedule: String,
    pub classifier: ClassifierConfig,
    pub seed: u64,
}

impl DigitsRunConfig {
    /// The book's network on all training images, 64 ancestral samples in 200 steps.
    pub fn book() -> Self {
        Self {
            n_train: 1500,
            train: DigitsTrainConfig::book(),
            n_samples: 64,
            sampler: "ancestral".into(),
            sampler_steps: 200,
            schedule: "uniform".into(),
            classifier: ClassifierConfig::book(),
            seed: 31,
        }
    }

    /// The sampler and its time grid; errors on an unknown name, zero steps, or more
    /// training images than the training set holds.
    pub fn validate(&self) -> Result<(Sampler, Vec<f64>)> {
        if !(1..=1500).contains(&self.n_train) {
            return Err(Error::param(
                "n_train",
                format!("must be 1 to 1500, got {}", self.n_train),
            ));
        }
        if self.n_samples < 2 {
            return Err(Error::param(
                "n_samples",
                format!(
                    "must be >= 2 (a covariance is fitted), got {}",
                    self.n_samples
                ),
            ));
        }
        let sampler = Sampler::parse(&self.sampler)?;
        let sde = Vp::song();
        let t_eps = self.train.t_eps;
        let schedule = match self.schedule.as_str() {
            "uniform" => Schedule::UniformT { t_min: t_eps },
            "karras" => Schedule::Karras {
                rho: 7.0,
                sigma_min: sigma_of_t(&sde, t_eps),
            },
            other => {
                return Err(Error::param(
                    "schedule",
                    format!("unknown schedule {other:?}; one of uniform, karras"),
                ))
            }
        };
        Ok((sampler, schedule.times(&sde, self.sampler_steps)?))
    }
}

/// The numbers of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsRunReport {
    pub config: DigitsRunConfig,
    /// Mean of the last 10 recorded training losses.
    pub final_loss: f64,
    pub classifier_accuracy: f64,
    /// The samples' verdict, and that of as many real training images (the floor).
    pub samples: Quality,
    pub floor: Quality,
    pub sample_nn_median: f64,
    pub test_nn_median: f64,
    pub near_copies: f64,
    pub pixel_range: (f64, f64),
    pub train_seconds: f64,
    pub sample_seconds: f64,
}

/// A finished run: the report, the trained network, the samples and each one's nearest
/// training image (rows of 64 pixels).
pub struct DigitsRun {
    pub report: DigitsRunReport,
    pub trained: Trained,
    pub samples: Array2<f64>,
    pub nearest: Array2<f64>,
}

/// Runs it; `progress` counts training steps.
pub fn run(config: &DigitsRunConfig, progress: Option<ProgressBar>) -> Result<DigitsRun> {
    let (sampler, ts) = config.validate()?;
    let digits = Digits::book()?;
    let sde = Vp::song();
    let train = digits.train_subset(config.n_train)?;
    let t0 = std::time::Instant::now();
    let trained = train_digits(train.view(), &sde, &config.train, progress)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let tail = &trained.losses[trained.losses.len().saturating_sub(10)..];
    let final_loss = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    let t1 = std::time::Instant::now();
    let model = DigitsModel {
        net: trained.ema.clone(),
        features: trained.features.clone(),
        sde: &sde,
    };
    let x0 = sample(&model, &sde, &sampler, &ts, config.n_samples, config.seed)?;
    let sample_seconds = t1.elapsed().as_secs_f64();
    let (idx, nn) = nearest_neighbours(x0.view(), train.view())?;
    let (_, test_nn) = nearest_neighbours(digits.test.view(), train.view())?;
    let (judge, classifier_accuracy) = Judge::new(&digits, &config.classifier)?;
    let m = config.n_samples.min(digits.train.nrows());
    let pick = rand::seq::index::sample(&mut seeded(config.seed), digits.train.nrows(), m);
    let floor = judge.quality(digits.train.select(Axis(0), &pick.into_vec()).view())?;
    let lo = x0.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = x0.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let report = DigitsRunReport {
        config: config.clone(),
        final_loss,
        classifier_accuracy,
        samples: judge.quality(x0.view())?,
        floor,
        sample_nn_median: quantile(&nn, 0.5)?,
        test_nn_median: quantile(&test_nn, 0.5)?,
        near_copies: near_copy_fraction(&nn, NearCopy::one_grey_level(64))?,
        pixel_range: (lo, hi),
        train_seconds,
        sample_seconds,
    };
    Ok(DigitsRun {
        report,
        nearest: train.select(Axis(0), &idx),
        trained,
        samples: x0,
    })
}
