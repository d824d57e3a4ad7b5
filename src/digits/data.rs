//! The digits, loaded from the `smartcore` crate (the data ship inside it: no download),
//! scaled from the grey levels `0..=16` to `[-1, 1]` by `x / 8 - 1`, and split once, by a
//! seeded permutation, into a training and a test set.
use ndarray::{Array2, ArrayView1};
use rand::seq::SliceRandom;

use crate::error::{Error, Result};

/// Image side: the images are `SIDE x SIDE`, stored as rows of `SIDE^2` pixels, row-major.
pub const SIDE: usize = 8;
/// Grey levels `0..=16` per pixel.
pub const GREY_LEVELS: usize = 17;

/// How the images were made, from the data set's own description (UCI, Alpaydin and Kaynak
/// 1998).
pub const DIGITS_DESCRIPTION: &str = "Handwritten digits from 43 people (30 for the original \
training set, 13 for its test set), written on preprinted forms and scanned as 32x32 bitmaps, \
normalised in size and centred. Each bitmap was divided into non-overlapping 4x4 blocks and the \
on pixels counted in each block, giving an 8x8 image with integer grey levels 0..16. This \
version (the one scikit-learn and smartcore ship) has 1797 images, about 180 per class.";

/// The digits, scaled to `[-1, 1]`, with labels `0..=9`.
#[derive(Clone, Debug)]
pub struct Digits {
    pub train: Array2<f64>,
    pub train_labels: Vec<u8>,
    pub test: Array2<f64>,
    pub test_labels: Vec<u8>,
}

impl Digits {
    /// All 1797 images, split by a permutation drawn from `seed`: the first `n_train` form
    /// the training set, the rest the test set. Errors unless `1 <= n_train < 1797`.
    pub fn load(n_train: usize, seed: u64) -> Result<Self> {
        let ds = smartcore::dataset::digits::load_dataset();
        let (n, d) = (ds.num_samples, ds.num_features);
        if d != SIDE * SIDE || ds.data.len() != n * d || ds.target.len() != n {
            return Err(Error::shape(
                "digits data set",
                format!("{n} x {}", SIDE * SIDE),
                format!(
                    "{} values, {} features, {} labels",
                    ds.data.len(),
                    d,
                    ds.target.len()
                ),
            ));
        }
        if !(1..n).contains(&n_train) {
            return Err(Error::param(
                "n_train",
                format!("must lie in 1..{n}, got {n_train}"),
            ));
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut crate::rng::seeded(seed));
        let pick = |idx: &[usize]| {
            let x = Array2::from_shape_fn((idx.len(), d), |(i, j)| {
                f64::from(ds.data[idx[i] * d + j]) / 8.0 - 1.0
            });
            let y = idx.iter().map(|&i| ds.target[i] as u8).collect();
            (x, y)
        };
        let (train, train_labels) = pick(&order[..n_train]);
        let (test, test_labels) = pick(&order[n_train..]);
        Ok(Self {
            train,
            train_labels,
            test,
            test_labels,
        })
    }

    /// The book's split: 1500 training images, 297 test images, seed 13.
    pub fn book() -> Result<Self> {
        Self::load(1500, 13)
    }

    /// The first `n` training images (a nested family of smaller training sets).
    pub fn train_subset(&self, n: usize) -> Result<Array2<f64>> {
        if n == 0 || n > self.train.nrows() {
            return Err(Error::param(
                "training subset",
                format!("must lie in 1..={}, got {n}", self.train.nrows()),
            ));
        }
        Ok(self.train.slice(ndarray::s![..n, ..]).to_owned())
    }

    /// An image's grey levels `0..=16` (rounded back from `[-1, 1]`, clamped).
    pub fn grey_levels(image: ArrayView1<f64>) -> Vec<u8> {
        image
            .iter()
            .map(|&v| ((v + 1.0) * 8.0).round().clamp(0.0, 16.0) as u8)
            .collect()
    }
}
