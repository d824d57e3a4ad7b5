//! The exact noise predictor for data drawn from a 1-D Gaussian mixture.
//!
//! If `x_0 ~ sum_i w_i N(m_i, s_i^2)` then, by Ho et al. eq. 4, the marginal of `x_k` is the
//! mixture `sum_i w_i N(sqrt(alpha_bar_k) m_i, alpha_bar_k s_i^2 + 1 - alpha_bar_k)`. The
//! minimiser of the eps loss is `E[eps | x_k]`, and by Tweedie's formula
//! `E[eps | x_k] = -sqrt(1 - alpha_bar_k) grad ln q_k(x_k)`. Plugged into
//! [`mu_theta`](super::mu_theta) it gives the exact reverse mean `E[x_{k-1} | x_k]`.
use super::{EpsModel, VarianceSchedule};
use crate::error::all_finite;
use crate::mixture::GaussianMixture;
use crate::Result;
use ndarray::{arr2, Array2, ArrayView2};
use rand::Rng;

/// `eps*(x, k) = -sqrt(1 - alpha_bar_k) d/dx ln q_k(x)` for 1-D mixture data.
///
/// For batches `[n, d]` the oracle acts coordinate-wise: it is exact for data whose `d`
/// coordinates are independent draws from the mixture (for `d = 1`, the mixture itself).
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureEpsOracle {
    schedule: VarianceSchedule,
    /// `marginals[k]` is the law of `x_k`, `k = 0..=K` (`marginals[0]` is the data).
    marginals: Vec<GaussianMixture>,
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
        Self::from_mixture(schedule, &GaussianMixture::new_1d(weights, means, sds)?)
    }

    /// The oracle for 1-D mixture data `x_0 ~ data` under `schedule`: the law of `x_k` is
    /// `data.affine(sqrt(alpha_bar_k), 1 - alpha_bar_k)`. Errors unless `data` is 1-D.
    pub fn from_mixture(schedule: &VarianceSchedule, data: &GaussianMixture) -> Result<Self> {
        if data.dim() != 1 {
            return Err(crate::Error::shape(
                "MixtureEpsOracle data",
                "d = 1",
                format!("d = {}", data.dim()),
            ));
        }
        let mut marginals = vec![data.clone()];
        for k in 1..=schedule.num_steps() {
            let ab = schedule.alpha_bar(k)?;
            let omab = schedule.one_minus_alpha_bar(k)?;
            marginals.push(data.affine(ab.sqrt(), omab)?);
        }
        Ok(Self {
            schedule: schedule.clone(),
            marginals,
        })
    }

    /// The seed note's target `0.1 N(-3, 1) + 0.9 N(3, 1)`.
    pub fn seed_example(schedule: &VarianceSchedule) -> Result<Self> {
        Self::from_mixture(schedule, &GaussianMixture::seed_ddpm())
    }

    /// The schedule the oracle was built for.
    pub fn schedule(&self) -> &VarianceSchedule {
        &self.schedule
    }

    /// The law of `x_k`, a 1-D [`GaussianMixture`]; `k` in `0..=K` (`k = 0`: the data).
    pub fn marginal(&self, k: usize) -> Result<&GaussianMixture> {
        if k != 0 {
            self.schedule.check_k(k)?;
        }
        Ok(&self.marginals[k])
    }

    /// `ln q_k(x)`, the log density of `x_k`; `k` in `0..=K` (`k = 0`: the data).
    pub fn marginal_log_pdf(&self, x: f64, k: usize) -> Result<f64> {
        Ok(self.marginal(k)?.log_pdf(arr2(&[[x]]).view())?[0])
    }

    /// `d/dx ln q_k(x)`, the score of `x_k`; `k` in `0..=K`.
    pub fn marginal_score(&self, x: f64, k: usize) -> Result<f64> {
        Ok(self.marginal(k)?.score(arr2(&[[x]]).view())?[[0, 0]])
    }

    /// `P(x_k <= x)`; `k` in `0..=K`.
    pub fn marginal_cdf(&self, x: f64, k: usize) -> Result<f64> {
        self.marginal(k)?.cdf_1d(x)
    }

    /// `E[x_k]` and `Var[x_k]`; `k` in `0..=K`.
    pub fn marginal_mean_var(&self, k: usize) -> Result<(f64, f64)> {
        let m = self.marginal(k)?;
        Ok((m.mean()[0], m.variance()[0]))
    }

    /// `eps*(x, k) = -sqrt(1 - alpha_bar_k) d/dx ln q_k(x)` for one scalar; `k` in `1..=K`.
    pub fn eps_star(&self, x: f64, k: usize) -> Result<f64> {
        self.schedule.check_k(k)?;
        crate::error::finite(x, "eps oracle input")?;
        let omab = self.schedule.one_minus_alpha_bar(k)?;
        Ok(-omab.sqrt() * self.marginal_score(x, k)?)
    }

    /// `n` data points `x_0` of dimension `d`, every coordinate an independent mixture draw
    /// (row-major: the `n d` draws fill the rows one after the other).
    pub fn sample_data<R: Rng>(&self, rng: &mut R, n: usize, d: usize) -> Array2<f64> {
        let draws = self.marginals[0].sample(n * d, rng);
        Array2::from_shape_vec((n, d), draws.into_raw_vec_and_offset().0)
            .expect("n d draws fill an [n, d] array")
    }
}

impl EpsModel for MixtureEpsOracle {
    fn eps(&self, x: ArrayView2<f64>, k: usize) -> Result<Array2<f64>> {
        self.schedule.check_k(k)?;
        all_finite(x.iter(), "eps oracle input")?;
        let omab = self.schedule.one_minus_alpha_bar(k)?.sqrt();
        // every coordinate is an independent 1-D mixture draw: score the flattened column
        let flat = Array2::from_shape_vec((x.len(), 1), x.iter().copied().collect())
            .expect("a column of all entries");
        let score = self.marginals[k].score(flat.view())?;
        Ok(
            Array2::from_shape_vec(x.raw_dim(), score.into_raw_vec_and_offset().0)
                .expect("same number of entries")
                .mapv(|s| -omab * s),
        )
    }
}
