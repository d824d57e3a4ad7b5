//! A minimal 1-D Gaussian mixture (pdf, score, sampling), private to `ddpm`.
//!
//! TEMPORARY: to be replaced by the crate's general `crate::mixture::GaussianMixture`
//! (being written on `main`) once it can be merged; only [`super::oracle`] uses it.
use crate::{Error, Result};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// `sum_i w_i N(m_i, s_i^2)` on the real line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mixture1d {
    weights: Vec<f64>,
    means: Vec<f64>,
    sds: Vec<f64>,
    /// `ln w_i - ln s_i - ln(2 pi)/2`, precomputed: the density is evaluated millions of times.
    log_norm: Vec<f64>,
}

impl Mixture1d {
    /// Validates: equal non-zero lengths, weights >= 0 summing to 1 (within 1e-9),
    /// finite means, standard deviations > 0.
    pub(crate) fn new(weights: &[f64], means: &[f64], sds: &[f64]) -> Result<Self> {
        if weights.is_empty() {
            return Err(Error::InvalidWeights {
                reason: "a mixture needs at least one component".into(),
            });
        }
        if means.len() != weights.len() {
            return Err(Error::shape("mixture means", weights.len(), means.len()));
        }
        if sds.len() != weights.len() {
            return Err(Error::shape(
                "mixture standard deviations",
                weights.len(),
                sds.len(),
            ));
        }
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::InvalidWeights {
                reason: format!("weights must be finite and >= 0, got {weights:?}"),
            });
        }
        let total: f64 = weights.iter().sum();
        if (total - 1.0).abs() > 1e-9 {
            return Err(Error::InvalidWeights {
                reason: format!("weights must sum to 1, they sum to {total}"),
            });
        }
        for &m in means {
            crate::error::finite(m, "mixture mean")?;
        }
        for &s in sds {
            crate::error::positive(s, "mixture standard deviation")?;
        }
        Ok(Self::from_parts(
            weights.to_vec(),
            means.to_vec(),
            sds.to_vec(),
        ))
    }

    fn from_parts(weights: Vec<f64>, means: Vec<f64>, sds: Vec<f64>) -> Self {
        let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let log_norm = weights
            .iter()
            .zip(&sds)
            .map(|(w, s)| w.ln() - s.ln() - half_ln_2pi)
            .collect();
        Self {
            weights,
            means,
            sds,
            log_norm,
        }
    }

    /// The law of `a X + sqrt(v) Z`, `Z ~ N(0, 1)` independent: means `a m_i`,
    /// variances `a^2 s_i^2 + v`.
    pub(crate) fn scaled_plus_noise(&self, a: f64, v: f64) -> Self {
        Self::from_parts(
            self.weights.clone(),
            self.means.iter().map(|m| a * m).collect(),
            self.sds
                .iter()
                .map(|s| (a * a * s * s + v).sqrt())
                .collect(),
        )
    }

    /// `(ln p(x), d/dx ln p(x))`, both by log-sum-exp over the components.
    pub(crate) fn log_pdf_and_score(&self, x: f64) -> (f64, f64) {
        let log_term = |i: usize| {
            let z = (x - self.means[i]) / self.sds[i];
            self.log_norm[i] - 0.5 * z * z
        };
        // two passes (max, then sum) instead of a buffer: this runs once per sample and step
        let max = (0..self.weights.len())
            .map(log_term)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        let mut score = 0.0;
        for i in 0..self.weights.len() {
            let r = (log_term(i) - max).exp();
            sum += r;
            score += r * (self.means[i] - x) / (self.sds[i] * self.sds[i]);
        }
        (max + sum.ln(), score / sum)
    }

    /// `P(X <= x)`.
    pub(crate) fn cdf(&self, x: f64) -> f64 {
        (0..self.weights.len())
            .map(|i| {
                let z = (x - self.means[i]) / self.sds[i];
                self.weights[i] * 0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
            })
            .sum()
    }

    /// `E[X] = sum_i w_i m_i`.
    pub(crate) fn mean(&self) -> f64 {
        self.weights
            .iter()
            .zip(&self.means)
            .map(|(w, m)| w * m)
            .sum()
    }

    /// `Var[X] = sum_i w_i (s_i^2 + m_i^2) - E[X]^2`.
    pub(crate) fn variance(&self) -> f64 {
        let second: f64 = (0..self.weights.len())
            .map(|i| self.weights[i] * (self.sds[i].powi(2) + self.means[i].powi(2)))
            .sum();
        second - self.mean().powi(2)
    }

    /// One draw: pick a component by its weight, then a normal.
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut idx = self.weights.len() - 1;
        for (i, w) in self.weights.iter().enumerate() {
            acc += w;
            if u < acc {
                idx = i;
                break;
            }
        }
        let z: f64 = rng.sample(StandardNormal);
        self.means[idx] + self.sds[idx] * z
    }
}
