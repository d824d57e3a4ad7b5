//! The class-conditional digits network for classifier-free guidance (Ho and Salimans 2022):
//! one eps network on `[x_t, f(t), e_y]`, the class `y` as a one-hot `e_y` of ten columns
//! (the null label, "no class", is all zeros), trained with label dropout: each drawn row's
//! label is replaced by the null label with probability `p`. The same weights then give the
//! conditional score `s(t, x | y)` and the unconditional `s(t, x)` (at the null label), the
//! two parts of [`ClassifierFree`](crate::sampling::ClassifierFree).
use ndarray::{Array2, ArrayView2};

use super::classifier::CLASSES;
use super::model::{eps_rows, score_of_eps, train_eps, DigitsTrainConfig, LabelDropout, Trained};
use crate::error::{Error, Result};
use crate::fast::TimeFeatures;
use crate::nn::Mlp;
use crate::progress::ProgressBar;
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// The book's label dropout: Ho and Salimans use 0.1 or 0.2; the upper end gives the null
/// label a fifth of the training rows.
pub const LABEL_DROPOUT: f64 = 0.2;

/// The labels the conditional network is evaluated at.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    /// The null label on every row: the unconditional model.
    Null,
    /// One class for every row.
    Class(usize),
    /// A class per row (the rows of `x` must match).
    Rows(Vec<usize>),
}

impl Labels {
    fn check(&self) -> Result<()> {
        let bad = match self {
            Labels::Null => None,
            Labels::Class(y) => Some(*y).filter(|&y| y >= CLASSES),
            Labels::Rows(ys) => ys.iter().copied().find(|&y| y >= CLASSES),
        };
        match bad {
            Some(y) => Err(Error::param("label", format!("must be < 10, got {y}"))),
            None => Ok(()),
        }
    }

    fn of_row(&self, i: usize) -> Option<usize> {
        match self {
            Labels::Null => None,
            Labels::Class(y) => Some(*y),
            Labels::Rows(ys) => Some(ys[i]),
        }
    }
}

/// A trained conditional eps network with its time features.
#[derive(Clone)]
pub struct ConditionalDigitsModel<'a> {
    pub net: Mlp,
    pub features: TimeFeatures,
    pub sde: &'a dyn LinearSde,
}

impl ConditionalDigitsModel<'_> {
    /// `eps_θ(x, t, y)` for each row of `x` at `labels`. Errors on a class `>= 10` and on a
    /// per-row list whose length is not the number of rows.
    pub fn eps(&self, t: f64, x: ArrayView2<f64>, labels: &Labels) -> Result<Array2<f64>> {
        labels.check()?;
        if let Labels::Rows(ys) = labels {
            crate::error::check_len("per-row labels", x.nrows(), ys.len())?;
        }
        eps_rows(&self.net, &self.features, t, x, CLASSES, |i| {
            labels.of_row(i)
        })
    }

    /// The model at `labels` as a [`ScoreFn`].
    pub fn at(&self, labels: Labels) -> LabelledScore<'_, '_> {
        LabelledScore {
            model: self,
            labels,
        }
    }
}

/// `s(t, x | y) = -eps_θ(x, t, y) / zeta(t)`; at [`Labels::Null`], the unconditional score.
pub struct LabelledScore<'m, 'a> {
    pub model: &'m ConditionalDigitsModel<'a>,
    pub labels: Labels,
}

impl ScoreFn for LabelledScore<'_, '_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let eps = self.model.eps(t, x, &self.labels)?;
        score_of_eps(self.model.sde, t, eps)
    }
}

/// Trains the conditional network on the rows of `train` with their `labels` (`0..=9`),
/// dropping each drawn row's label with probability `label_dropout`, otherwise as
/// [`train_digits`](super::train_digits) (fused path, EMA). Errors on a label `>= 10`, a
/// count mismatch, a dropout outside `[0, 1]` and as `train_digits`.
pub fn train_conditional_digits(
    train: ArrayView2<f64>,
    labels: &[u8],
    sde: &dyn LinearSde,
    config: &DigitsTrainConfig,
    label_dropout: f64,
    progress: Option<ProgressBar>,
) -> Result<Trained> {
    let labelled = LabelDropout {
        labels,
        classes: CLASSES,
        p: label_dropout,
    };
    train_eps(train, Some(labelled), sde, config, progress)
}
