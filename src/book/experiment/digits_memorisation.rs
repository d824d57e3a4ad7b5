//! The digits chapter's oracle: sampling with the exact score of the diffused *empirical*
//! distribution of the training images ([`EmpiricalScore`]) reproduces training images. For
//! training sets of several sizes, the samples' distances to their nearest training image
//! are set beside the same distances for held-out test images: memorisation is a sample much
//! closer to the training set than real new digits are.
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::digits::{near_copy_fraction, nearest_neighbours, Digits, NearCopy};
use crate::error::Result;
use crate::metrics::quantile;
use crate::rng::seeded;
use crate::sampling::{Sampler, Schedule};
use crate::score::EmpiricalScore;
use crate::sde::{LinearSde, Vp};

/// Which training sets, how many samples, which sampler.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemorisationConfig {
    /// Sizes of the nested training subsets (the first `n` training images).
    pub train_sizes: Vec<usize>,
    pub n_samples: usize,
    /// DPM-Solver++(2M) steps on the Karras grid down to `sigma = 0` (VP, `T = 1`).
    pub steps: usize,
    pub seed: u64,
}

impl MemorisationConfig {
    /// The book's run.
    pub fn book() -> Self {
        Self {
            train_sizes: vec![50, 200, 1500],
            n_samples: 200,
            steps: 40,
            seed: 13,
        }
    }
}

/// One training-set size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemorisationRow {
    pub n_train: usize,
    /// Distances from each sample to its nearest training image.
    pub sample_nn: Vec<f64>,
    /// Distances from each test image to its nearest training image.
    pub test_nn: Vec<f64>,
    /// Fractions below the near-copy threshold.
    pub sample_copies: f64,
    pub test_copies: f64,
    /// Medians of the two distance lists.
    pub sample_nn_median: f64,
    pub test_nn_median: f64,
    /// Distinct training images hit (nearest neighbours of the near-copies), and the
    /// expected number for `m` independent uniform draws from `n` images,
    /// `n (1 - (1 - 1/n)^m)`.
    pub distinct_copied: usize,
    pub distinct_expected: f64,
}

/// Everything the chapter shows from this experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemorisationReport {
    pub config: MemorisationConfig,
    pub threshold: f64,
    pub rows: Vec<MemorisationRow>,
    /// The samples of the largest training set and their nearest training images, row-major
    /// `[n, 64]` (the first 16 of each), for the figure.
    pub samples: Vec<Vec<f64>>,
    pub nearest_train: Vec<Vec<f64>>,
}

/// Runs the oracle on the book's split.
pub fn run(config: &MemorisationConfig) -> Result<MemorisationReport> {
    let digits = Digits::book()?;
    let sde = Vp::song();
    let d = digits.train.ncols();
    let rule = NearCopy::one_grey_level(d);
    let ts = Schedule::Karras {
        rho: 7.0,
        sigma_min: 0.0,
    }
    .times(&sde, config.steps)?;
    let mut rows = vec![];
    let (mut samples, mut nearest_train) = (vec![], vec![]);
    for &n in &config.train_sizes {
        let train = digits.train_subset(n)?;
        let score = EmpiricalScore::new(train.view(), &sde)?;
        let mut rng = seeded(config.seed);
        let x_t = sde.sample_prior(config.n_samples, d, &mut rng);
        let (x0, _) = Sampler::DpmSolverPp2m.run(&sde, &score, x_t, &ts, &mut rng)?;
        let (idx, sample_nn) = nearest_neighbours(x0.view(), train.view())?;
        let (_, test_nn) = nearest_neighbours(digits.test.view(), train.view())?;
        let mut copied: Vec<usize> = idx
            .iter()
            .zip(&sample_nn)
            .filter(|(_, &dist)| dist < rule.threshold)
            .map(|(&i, _)| i)
            .collect();
        copied.sort_unstable();
        copied.dedup();
        if n == *config.train_sizes.iter().max().unwrap_or(&n) {
            let k = 16.min(x0.nrows());
            samples = (0..k).map(|i| x0.row(i).to_vec()).collect();
            nearest_train = (0..k).map(|i| train.row(idx[i]).to_vec()).collect();
        }
        rows.push(MemorisationRow {
            n_train: n,
            sample_copies: near_copy_fraction(&sample_nn, rule)?,
            test_copies: near_copy_fraction(&test_nn, rule)?,
            sample_nn_median: quantile(&sample_nn, 0.5)?,
            test_nn_median: quantile(&test_nn, 0.5)?,
            distinct_copied: copied.len(),
            distinct_expected: n as f64
                * (1.0 - (1.0 - 1.0 / n as f64).powi(config.n_samples as i32)),
            sample_nn,
            test_nn,
        });
    }
    Ok(MemorisationReport {
        config: config.clone(),
        threshold: rule.threshold,
        rows,
        samples,
        nearest_train,
    })
}

/// Rows of images as one array `[n, 64]` (for the grids).
pub fn stack(images: &[Vec<f64>]) -> Array2<f64> {
    let d = images.first().map_or(0, Vec::len);
    Array2::from_shape_fn((images.len(), d), |(i, j)| images[i][j])
}
