//! A Gaussian mixture whose components carry class labels: the exact oracle of conditional
//! generation. With `p_0(x, y) = Σ_{i: c_i = y} w_i N(x; m_i, s_i^2)` the diffused joint is the
//! same mixture diffused component by component, so for every `t`
//!
//! - `p_t(y | x) = Σ_{i: c_i = y} r_i(x)`, the responsibilities of `p_t` summed over the class;
//! - `∇ log p_t(x | y)` is the score of the sub-mixture of class `y` (weights renormalised);
//! - `∇ log p_t(y | x) = ∇ log p_t(x | y) - ∇ log p_t(x)` (Bayes, `p_t(y)` constant in `x`).
use ndarray::{Array2, ArrayView2};

use super::GaussianMixture;
use crate::error::{Error, Result};
use crate::sde::LinearSde;

/// A mixture with a class label `c_i ∈ {0, …, C-1}` per component; every class has a component.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledMixture {
    mix: GaussianMixture,
    labels: Vec<usize>,
    n_classes: usize,
}

impl LabelledMixture {
    /// Labels `labels[i]` for component `i`; the classes are `0..=max(labels)` and each must
    /// own at least one component.
    pub fn new(mix: GaussianMixture, labels: Vec<usize>) -> Result<Self> {
        if labels.len() != mix.n_components() {
            return Err(Error::shape(
                "class labels",
                format!("one per component ({})", mix.n_components()),
                labels.len(),
            ));
        }
        let n_classes = labels.iter().max().map_or(0, |m| m + 1);
        if let Some(y) = (0..n_classes).find(|y| !labels.contains(y)) {
            return Err(Error::param(
                "class labels",
                format!("class {y} has no component (classes must be 0..C without gaps)"),
            ));
        }
        Ok(Self {
            mix,
            labels,
            n_classes,
        })
    }

    /// The joint's marginal `p(x)`.
    pub fn mixture(&self) -> &GaussianMixture {
        &self.mix
    }

    /// The label of each component.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The number of classes `C`.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    fn check_class(&self, y: usize) -> Result<()> {
        if y >= self.n_classes {
            return Err(Error::param(
                "class",
                format!("must be below {}, got {y}", self.n_classes),
            ));
        }
        Ok(())
    }

    /// `p(y) = Σ_{i: c_i = y} w_i` for each class.
    pub fn class_prior(&self) -> Vec<f64> {
        let mut p = vec![0.0; self.n_classes];
        for (w, &c) in self.mix.weights().iter().zip(&self.labels) {
            p[c] += w;
        }
        p
    }

    /// `p(x | y)`: the components of class `y` with their weights divided by `p(y)`.
    pub fn conditional(&self, y: usize) -> Result<GaussianMixture> {
        self.check_class(y)?;
        let idx: Vec<usize> = (0..self.labels.len())
            .filter(|&i| self.labels[i] == y)
            .collect();
        let py = self.class_prior()[y];
        let w = idx.iter().map(|&i| self.mix.weights()[i] / py).collect();
        let m = self.mix.means().select(ndarray::Axis(0), &idx);
        let s = self.mix.stds().select(ndarray::Axis(0), &idx);
        GaussianMixture::new(w, m, s)
    }

    /// The joint diffused by `sde` to time `t` (labels unchanged).
    pub fn diffused(&self, sde: &dyn LinearSde, t: f64) -> Result<Self> {
        Ok(Self {
            mix: self.mix.diffused(sde, t)?,
            labels: self.labels.clone(),
            n_classes: self.n_classes,
        })
    }

    /// `n` independent draws of `(x, y)` from the joint: a component by its weight, then `x`
    /// from it; `y` is the component's label.
    pub fn sample_labelled(&self, n: usize, rng: &mut dyn rand::Rng) -> (Array2<f64>, Vec<usize>) {
        let (x, components) = self.mix.sample_with_components(n, rng);
        (x, components.iter().map(|&i| self.labels[i]).collect())
    }

    /// `p(y | x)` for each row of `x` and class `y`, `[n, C]`: responsibilities summed per class.
    pub fn class_posterior(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let r = self.mix.responsibilities(x)?;
        let mut out = Array2::zeros((x.nrows(), self.n_classes));
        for (i, &c) in self.labels.iter().enumerate() {
            let mut col = out.column_mut(c);
            col += &r.column(i);
        }
        Ok(out)
    }

    /// `∇_x log p(y | x) = ∇ log p(x | y) - ∇ log p(x)` for each row of `x`.
    pub fn log_class_posterior_grad(&self, x: ArrayView2<f64>, y: usize) -> Result<Array2<f64>> {
        Ok(self.conditional(y)?.score(x)? - self.mix.score(x)?)
    }
}
