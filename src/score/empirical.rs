//! The empirical-score oracle: for a finite data set `{x_1, ..., x_n}` the diffused law is
//! exactly the mixture `p_t = (1/n) Σ_i N(mu(t) x_i, zeta(t)^2 I)`, so its score is known:
//!
//! `∇ log p_t(x) = (mu(t) m(t, x) - x) / zeta(t)^2`, `m(t, x) = Σ_i w_i(x) x_i`,
//! `w_i(x) = softmax_i(-|x - mu x_i|^2 / (2 zeta^2))`,
//!
//! where `m(t, x) = E[x_0 | x_t = x]` is Tweedie's denoiser. Sampling with this score
//! reproduces the training points (at `t → 0` the weights become one-hot): it is the exact
//! answer to "what does a perfectly trained model memorise". The logits are computed as
//! `(mu x·x_i - mu^2 |x_i|^2 / 2) / zeta^2` (the `|x|^2` term is the same for every `i`), one
//! matrix product per batch.
use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::ScoreFn;
use crate::error::{Error, Result};
use crate::sde::LinearSde;

/// The exact score of the diffused empirical distribution of `data` (rows) under `sde`.
pub struct EmpiricalScore<'a> {
    data: Array2<f64>,
    half_sq_norms: Array1<f64>,
    sde: &'a dyn LinearSde,
}

impl<'a> EmpiricalScore<'a> {
    /// Errors on an empty or non-finite data set.
    pub fn new(data: ArrayView2<f64>, sde: &'a dyn LinearSde) -> Result<Self> {
        if data.nrows() == 0 || data.ncols() == 0 {
            return Err(Error::param(
                "data",
                format!(
                    "an empirical score needs at least one point of dimension >= 1, got {:?}",
                    data.dim()
                ),
            ));
        }
        crate::error::all_finite(data.iter(), "data")?;
        let half_sq_norms = data.map_axis(Axis(1), |r| 0.5 * r.dot(&r));
        Ok(Self {
            data: data.to_owned(),
            half_sq_norms,
            sde,
        })
    }

    /// The number of data points.
    pub fn n_points(&self) -> usize {
        self.data.nrows()
    }

    /// `mu(t)`, `zeta(t)^2`, checked.
    fn kernel(&self, t: f64, x: ArrayView2<f64>) -> Result<(f64, f64)> {
        crate::error::finite(t, "t")?;
        if x.ncols() != self.data.ncols() {
            return Err(Error::shape(
                "empirical score input",
                self.data.ncols(),
                x.ncols(),
            ));
        }
        crate::error::all_finite(x.iter(), "empirical score input")?;
        let (mu, v) = (self.sde.mean_factor(t), self.sde.kernel_var(t));
        if !(v > 0.0 && v.is_finite() && mu.is_finite()) {
            return Err(Error::param(
                "t",
                format!("kernel variance is {v} at t = {t}: the empirical score is undefined"),
            ));
        }
        Ok((mu, v))
    }

    /// The posterior weights `w_i(x)` (rows sum to one), `[m, n]`.
    fn weights(&self, mu: f64, v: f64, x: ArrayView2<f64>) -> Array2<f64> {
        let mut w = x.dot(&self.data.t());
        for mut row in w.rows_mut() {
            row.zip_mut_with(&self.half_sq_norms, |g, &h| {
                *g = (mu * *g - mu * mu * h) / v
            });
            let max = row.fold(f64::NEG_INFINITY, |m, &g| m.max(g));
            row.mapv_inplace(|g| (g - max).exp());
            let sum = row.sum();
            row /= sum;
        }
        w
    }

    /// Tweedie's denoiser `E[x_0 | x_t = x] = Σ_i w_i(x) x_i` for each row of `x`.
    pub fn denoise(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let (mu, v) = self.kernel(t, x)?;
        Ok(self.weights(mu, v, x).dot(&self.data))
    }

    /// `log p_t(x)` for each row (log-sum-exp over the data points).
    pub fn log_density(&self, t: f64, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        let (mu, v) = self.kernel(t, x)?;
        let d = x.ncols() as f64;
        let n = self.data.nrows() as f64;
        let c = -0.5 * d * (2.0 * std::f64::consts::PI * v).ln() - n.ln();
        let g = x.dot(&self.data.t());
        Ok(x.rows()
            .into_iter()
            .zip(g.rows())
            .map(|(xr, gr)| {
                let half_x2 = 0.5 * xr.dot(&xr);
                let logits: Vec<f64> = gr
                    .iter()
                    .zip(&self.half_sq_norms)
                    .map(|(&g, &h)| -(half_x2 - mu * g + mu * mu * h) / v)
                    .collect();
                c + crate::mixture::log_sum_exp(logits.iter().copied())
            })
            .collect())
    }
}

impl ScoreFn for EmpiricalScore<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let (mu, v) = self.kernel(t, x)?;
        let m = self.weights(mu, v, x).dot(&self.data);
        Ok((m * mu - x) / v)
    }
}
