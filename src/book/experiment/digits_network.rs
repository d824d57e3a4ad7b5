//! The digits chapter's network beside the oracle: the eps network trained on the first `n`
//! training images, sampled by ancestral sampling and by DPM-Solver++(2M), each with and
//! without the EMA of its weights, and measured like the exact empirical score: distance of
//! each sample to its nearest training image, against the same distance for test images;
//! and judged by a digit classifier trained on the real images: the class histogram, the mean
//! confidence and the Fréchet distance to the test images in pixels and in the classifier's
//! features, beside the same distance for as many real training images (the floor).
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::digits::{
    near_copy_fraction, nearest_neighbours, pixel_range, train_digits, ClassReport,
    ClassifierConfig, DigitClassifier, Digits, DigitsModel, DigitsTrainConfig, NearCopy, Trained,
};
use crate::error::Result;
use crate::metrics::{frechet_distance_sq, quantile, GaussianFit};
use crate::progress::ProgressBar;
use crate::rng::seeded;
use crate::sampling::sigma::sigma_of_t;
use crate::sampling::{Sampler, Schedule};
use crate::sde::{LinearSde, Vp};

/// How many random sets of real images give the Fréchet floor and its spread.
pub const FLOOR_DRAWS: usize = 20;

/// Training sets, training, sampling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsNetworkConfig {
    pub train_sizes: Vec<usize>,
    pub train: DigitsTrainConfig,
    /// Training-set sizes on which the same network is also trained with the raw `t` as its
    /// time input (no Fourier features).
    pub raw_t_sizes: Vec<usize>,
    pub n_samples: usize,
    /// Ancestral steps (equal steps in `t` down to `t_eps`).
    pub ancestral_steps: usize,
    /// DPM-Solver++(2M) steps (Karras grid down to `sigma(t_eps)`).
    pub ode_steps: usize,
    pub classifier: ClassifierConfig,
    pub seed: u64,
}

impl DigitsNetworkConfig {
    /// The book's run.
    pub fn book() -> Self {
        Self {
            train_sizes: vec![50, 1500],
            train: DigitsTrainConfig::book(),
            raw_t_sizes: vec![1500],
            n_samples: 200,
            ancestral_steps: 200,
            ode_steps: 40,
            classifier: ClassifierConfig::book(),
            seed: 31,
        }
    }
}

/// One (training set, sampler, weights) combination.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetworkRow {
    pub n_train: usize,
    /// `Fourier` or `raw t`.
    pub time_input: String,
    pub sampler: String,
    pub weights: String,
    pub sample_nn_median: f64,
    pub test_nn_median: f64,
    pub copies: f64,
    /// The smallest and largest pixel value of the samples (the data lie in [-1, 1]).
    pub pixel_range: (f64, f64),
    /// What the classifier sees in the samples.
    pub quality: Quality,
}

/// A set of images judged against the test images: the classifier's class histogram and
/// mean confidence, and the squared Fréchet distance to the test images in pixel space and
/// in the classifier's feature space.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Quality {
    pub classes: ClassReport,
    pub fd_pixels: f64,
    pub fd_features: f64,
}

/// The judge: the classifier and the Gaussian fits of the test images.
pub(crate) struct Judge {
    pub(crate) classifier: DigitClassifier,
    test_pixels: GaussianFit,
    test_features: GaussianFit,
}

impl Judge {
    /// Trains the classifier on the training images and fits the test images; returns the
    /// judge and the classifier's test accuracy.
    pub(crate) fn new(digits: &Digits, config: &ClassifierConfig) -> Result<(Self, f64)> {
        let classifier = DigitClassifier::train(digits.train.view(), &digits.train_labels, config)?;
        let accuracy = classifier.accuracy(digits.test.view(), &digits.test_labels)?;
        let judge = Judge {
            test_pixels: GaussianFit::of_rows(digits.test.view())?,
            test_features: GaussianFit::of_rows(classifier.features(digits.test.view())?.view())?,
            classifier,
        };
        Ok((judge, accuracy))
    }

    /// The floor: [`FLOOR_DRAWS`] sets of `n` training images (at most all of them), each
    /// drawn without replacement by the rng seeded with `seed`, judged like samples.
    pub(crate) fn floor(&self, digits: &Digits, n: usize, seed: u64) -> Result<Vec<Quality>> {
        let mut rng = seeded(seed);
        let m = n.min(digits.train.nrows());
        (0..FLOOR_DRAWS)
            .map(|_| {
                let pick = rand::seq::index::sample(&mut rng, digits.train.nrows(), m).into_vec();
                self.quality(digits.train.select(ndarray::Axis(0), &pick).view())
            })
            .collect()
    }

    /// The verdict on the images `x` (rows of 64 pixels).
    pub(crate) fn quality(&self, x: ndarray::ArrayView2<f64>) -> Result<Quality> {
        let features = self.classifier.features(x)?;
        Ok(Quality {
            classes: self.classifier.report(x)?,
            fd_pixels: frechet_distance_sq(&GaussianFit::of_rows(x)?, &self.test_pixels)?,
            fd_features: frechet_distance_sq(
                &GaussianFit::of_rows(features.view())?,
                &self.test_features,
            )?,
        })
    }
}

/// Everything the chapter shows from the network.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsNetworkReport {
    pub config: DigitsNetworkConfig,
    pub rows: Vec<NetworkRow>,
    /// The final training loss (mean of the last 10 recorded) per training set.
    pub final_loss: Vec<(usize, f64)>,
    /// Ancestral EMA samples per training set (the first 16) and their nearest training
    /// images.
    pub grids: Vec<SampleGrid>,
    /// The classifier's accuracy on the test images.
    pub classifier_accuracy: f64,
    /// The floor: [`FLOOR_DRAWS`] sets of `n_samples` training images, each drawn at random
    /// without replacement, judged like the samples (a Fréchet distance has a positive bias
    /// at a finite sample size, so the samples are compared with real images of the same
    /// number; the spread over the draws is the scale of a distance's sampling noise).
    pub real: Vec<Quality>,
    /// The classifier on the test images themselves (their histogram is the true one up to
    /// its few errors).
    pub test_classes: ClassReport,
}

/// A training-set size, samples and their nearest training images (rows of 64 pixels).
pub type SampleGrid = (usize, Vec<Vec<f64>>, Vec<Vec<f64>>);

/// Samples `n` images with `model`, then Tweedie's denoising step at the last time.
pub(crate) fn sample(
    model: &DigitsModel,
    sde: &dyn LinearSde,
    sampler: &Sampler,
    ts: &[f64],
    n: usize,
    seed: u64,
) -> Result<Array2<f64>> {
    let mut rng = seeded(seed);
    let x = sde.sample_prior(n, 64, &mut rng);
    let (x, _) = sampler.run(sde, model, x, ts, &mut rng)?;
    let t = ts[ts.len() - 1];
    let eps = model.eps(t, x.view())?;
    Ok((&x - &(eps * sde.kernel_std(t))) / sde.mean_factor(t))
}

/// Runs the comparison.
pub fn run(
    config: &DigitsNetworkConfig,
    progress: Option<ProgressBar>,
) -> Result<DigitsNetworkReport> {
    Ok(run_keeping_networks(config, progress)?.0)
}

/// [`run`], also returning each training-set size's trained networks.
pub fn run_keeping_networks(
    config: &DigitsNetworkConfig,
    progress: Option<ProgressBar>,
) -> Result<(DigitsNetworkReport, Vec<(usize, Trained)>)> {
    let digits = Digits::book()?;
    let sde = Vp::song();
    let rule = NearCopy::one_grey_level(64);
    let t_eps = config.train.t_eps;
    let ancestral = Schedule::UniformT { t_min: t_eps }.times(&sde, config.ancestral_steps)?;
    let karras = Schedule::Karras {
        rho: 7.0,
        sigma_min: sigma_of_t(&sde, t_eps),
    }
    .times(&sde, config.ode_steps)?;
    let (judge, classifier_accuracy) = Judge::new(&digits, &config.classifier)?;
    let real = judge.floor(&digits, config.n_samples, config.seed)?;
    let test_classes = judge.classifier.report(digits.test.view())?;
    let (mut rows, mut final_loss, mut grids, mut networks) = (vec![], vec![], vec![], vec![]);
    let raw_t = DigitsTrainConfig {
        frequencies: 0,
        ..config.train.clone()
    };
    let runs = config
        .train_sizes
        .iter()
        .map(|&n| (n, &config.train, "Fourier"))
        .chain(config.raw_t_sizes.iter().map(|&n| (n, &raw_t, "raw t")));
    for (n, train_config, time_input) in runs {
        let train = digits.train_subset(n)?;
        let trained = train_digits(train.view(), &sde, train_config, progress.clone())?;
        if time_input == "Fourier" {
            final_loss.push((n, trained.final_loss()));
        }
        let (_, test_nn) = nearest_neighbours(digits.test.view(), train.view())?;
        let test_nn_median = quantile(&test_nn, 0.5)?;
        for (weights, net) in [("raw", &trained.net), ("EMA", &trained.ema)] {
            let model = trained.model(net, &sde);
            for (name, sampler, ts) in [
                (
                    format!("ancestral, {} steps", config.ancestral_steps),
                    Sampler::Ancestral,
                    &ancestral,
                ),
                (
                    format!("DPM-Solver++(2M), {} steps", config.ode_steps),
                    Sampler::DpmSolverPp2m,
                    &karras,
                ),
            ] {
                let x0 = sample(&model, &sde, &sampler, ts, config.n_samples, config.seed)?;
                let (idx, nn) = nearest_neighbours(x0.view(), train.view())?;
                let (lo, hi) = pixel_range(x0.view());
                if weights == "EMA" && sampler == Sampler::Ancestral && time_input == "Fourier" {
                    let k = 16.min(x0.nrows());
                    grids.push((
                        n,
                        (0..k).map(|i| x0.row(i).to_vec()).collect(),
                        (0..k).map(|i| train.row(idx[i]).to_vec()).collect(),
                    ));
                }
                rows.push(NetworkRow {
                    n_train: n,
                    time_input: time_input.into(),
                    sampler: name,
                    weights: weights.into(),
                    sample_nn_median: quantile(&nn, 0.5)?,
                    test_nn_median,
                    copies: near_copy_fraction(&nn, rule)?,
                    pixel_range: (lo, hi),
                    quality: judge.quality(x0.view())?,
                });
            }
        }
        if time_input == "Fourier" {
            networks.push((n, trained));
        }
    }
    let report = DigitsNetworkReport {
        config: config.clone(),
        rows,
        final_loss,
        grids,
        classifier_accuracy,
        real,
        test_classes,
    };
    Ok((report, networks))
}
