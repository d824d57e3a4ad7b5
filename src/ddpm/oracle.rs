//! The exact noise predictor for data drawn from a 1-D Gaussian mixture.
//!
//! If `x_0 ~ sum_i w_i N(m_i, s_i^2)` then, by Ho et al. eq. 4, the marginal of `x_k` is the
//! mixture `sum_i w_i N(sqrt(alpha_bar_k) m_i, alpha_bar_k s_i^2 + 1 - alpha_bar_k)`. The
//! minimiser of the eps loss is `E[eps | x_k]`, and by Tweedie's formula
//! `E[eps | x_k] = -sqrt(1 - alpha_bar_k) grad ln q_k(x_k)`. Plugged into
//! [`mu_theta`](super::mu_theta) it gives the exact reverse mean `E[x_{k-1} | x_k]`.
use super::mixture1d::Mixture1d;
use super::{EpsModel, VarianceSchedule};
use crate::error::all_finite;
use crate::Result;
use ndarray::{Array2, ArrayView2};
use rand::Rng;

/// `eps*(x, k) = -sqrt(1 - alpha_bar_k) d/dx ln q_k(x)` for 1-D mixture data.
///
/// For batches `[n, d]` the oracle acts coordinate-wise: it is exact for data whose `d`
/// coordinates are independent draws from the mixture (for `d = 1`, the mixture itself).
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureEpsOracle {
    schedule: VarianceSchedule,
    /// `marginals[k]` is the law of `x_k`, `k = 0..=K` (`marginals[0]` is the data).
    marginals: Vec<Mixture1d>,
}

impl MixtureEpsOracle {
    /// The oracle for `x_0 ~ sum_i weights_i N(means_i, sds_i^2)` under `schedule`.
    ///
    /// Errors if the lengths differ or are 0, the weights are negative or do not sum to 1
    /// (within `1e-9`), a mean is not finite, or a standard deviation is not positive.
    pub fn new(
        schedule: &VarianceSchedule,
        weights: &[f64],
        means: &[f64],
        sds: &[f64],
    ) -> Result<Self> {
        let data = Mixture1d::new(weights, means, sds)?;
        let mut marginals = vec![data.clone()];
        for k in 1..=schedule.num_steps() {
            let ab = schedule.alpha_bar(k)?;
            let omab = schedule.one_minus_alpha_bar(k)?;
            marginals.push(data.scaled_plus_noise(ab.sqrt(), omab));
        }
        Ok(Self {
            schedule: schedule.clone(),
            marginals,
        })
    }

    /// The seed note's target `0.1 N(-3, 1) + 0.9 N(3, 1)`.
    pub fn seed_example(schedule: &VarianceSchedule) -> Result<Self> {
        Self::new(schedule, &[0.1, 0.9], &[-3.0, 3.0], &[1.0, 1.0])
    }

    /// The schedule the oracle was built for.
    pub fn schedule(&self) -> &VarianceSchedule {
        &self.schedule
    }

    fn marginal(&self, k: usize) -> Result<&Mixture1d> {
        if k != 0 {
            self.schedule.check_k(k)?;
        }
        Ok(&self.marginals[k])
    }

    /// `ln q_k(x)`, the log density of `x_k`; `k` in `0..=K` (`k = 0`: the data).
    pub fn marginal_log_pdf(&self, x: f64, k: usize) -> Result<f64> {
        Ok(self.marginal(k)?.log_pdf_and_score(x).0)
    }

    /// `d/dx ln q_k(x)`, the score of `x_k`; `k` in `0..=K`.
    pub fn marginal_score(&self, x: f64, k: usize) -> Result<f64> {
        Ok(self.marginal(k)?.log_pdf_and_score(x).1)
    }

    /// `P(x_k <= x)`; `k` in `0..=K`.
    pub fn marginal_cdf(&self, x: f64, k: usize) -> Result<f64> {
        Ok(self.marginal(k)?.cdf(x))
    }

    /// `E[x_k]` and `Var[x_k]`; `k` in `0..=K`.
    pub fn marginal_mean_var(&self, k: usize) -> Result<(f64, f64)> {
        let m = self.marginal(k)?;
        Ok((m.mean(), m.variance()))
    }

    /// `eps*(x, k) = -sqrt(1 - alpha_bar_k) d/dx ln q_k(x)` for one scalar; `k` in `1..=K`.
    pub fn eps_star(&self, x: f64, k: usize) -> Result<f64> {
        self.schedule.check_k(k)?;
        crate::error::finite(x, "eps oracle input")?;
        let omab = self.schedule.one_minus_alpha_bar(k)?;
        Ok(-omab.sqrt() * self.marginals[k].log_pdf_and_score(x).1)
    }

    /// `n` data points `x_0` of dimension `d`, every coordinate an independent mixture draw.
    pub fn sample_data<R: Rng + ?Sized>(&self, rng: &mut R, n: usize, d: usize) -> Array2<f64> {
        let data = &self.marginals[0];
        Array2::from_shape_simple_fn((n, d), || data.sample(rng))
    }
}

impl EpsModel for MixtureEpsOracle {
    fn eps(&self, x: ArrayView2<f64>, k: usize) -> Result<Array2<f64>> {
        self.schedule.check_k(k)?;
        all_finite(x.iter(), "eps oracle input")?;
        let omab = self.schedule.one_minus_alpha_bar(k)?.sqrt();
        let m = &self.marginals[k];
        Ok(x.mapv(|v| -omab * m.log_pdf_and_score(v).1))
    }
}
