//! Ancestral sampling from the reverse chain (Ho et al. Algorithm 2):
//! `x_K ~ N(0, I)`, then for `k = K, ..., 1`
//! `x_{k-1} = mu_theta(x_k, k) + sigma_k z`, `z ~ N(0, I)` for `k > 1`, `z = 0` for `k = 1`,
//! with `mu_theta(x_k, k) = (x_k - beta_k / sqrt(1 - alpha_bar_k) eps_theta(x_k, k)) / sqrt(alpha_k)`
//! (Ho et al. eq. 11).
use super::chain::mu_theta;
use super::{eval_eps, standard_normal, EpsModel, ReverseVariance, VarianceSchedule};
use crate::error::all_finite;
use crate::sampling::{GridLaw, Law1d};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::Rng;

// ANCHOR: reverse_step
/// One reverse step `x_k -> x_{k-1}`: `mu_theta(x_k, k) + sigma_k z`, with `z = 0` at `k = 1`
/// (Ho et al. Algorithm 2, line 4).
pub fn reverse_step<M: EpsModel + ?Sized, R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    model: &M,
    xk: ArrayView2<f64>,
    k: usize,
    variance: ReverseVariance,
    rng: &mut R,
) -> Result<Array2<f64>> {
    schedule.check_k(k)?;
    all_finite(xk.iter(), "reverse_step: x_k")?;
    let eps = eval_eps(model, xk, k)?;
    let mean = mu_theta(schedule, xk, eps.view(), k)?;
    if k == 1 {
        return Ok(mean);
    }
    let sigma = variance.sigma2(schedule, k)?.sqrt();
    let z = standard_normal(rng, xk.nrows(), xk.ncols());
    Ok(mean + &z * sigma)
}
// ANCHOR_END: reverse_step

/// The whole reverse path `[x_0, x_1, ..., x_K]` (length `K + 1`, `path[k]` is `x_k`)
/// of `n` samples in dimension `d`, started at `x_K ~ N(0, I)`.
pub fn ancestral_sample_path<M: EpsModel + ?Sized, R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    model: &M,
    variance: ReverseVariance,
    n: usize,
    d: usize,
    rng: &mut R,
) -> Result<Vec<Array2<f64>>> {
    if d == 0 {
        return Err(Error::param("d", "the data dimension must be >= 1"));
    }
    let k_max = schedule.num_steps();
    let mut rev = Vec::with_capacity(k_max + 1);
    rev.push(standard_normal(rng, n, d));
    for k in (1..=k_max).rev() {
        let next = reverse_step(schedule, model, rev[rev.len() - 1].view(), k, variance, rng)?;
        rev.push(next);
    }
    rev.reverse();
    Ok(rev)
}

/// `n` samples `x_0` in dimension `d` by ancestral sampling (Ho et al. Algorithm 2).
pub fn ancestral_sample<M: EpsModel + ?Sized, R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    model: &M,
    variance: ReverseVariance,
    n: usize,
    d: usize,
    rng: &mut R,
) -> Result<Array2<f64>> {
    if d == 0 {
        return Err(Error::param("d", "the data dimension must be >= 1"));
    }
    let mut x = standard_normal(rng, n, d);
    for k in (1..=schedule.num_steps()).rev() {
        x = reverse_step(schedule, model, x.view(), k, variance, rng)?;
    }
    Ok(x)
}

/// The exact law of [`ancestral_sample`]'s output for 1-D data, by quadrature on the grid
/// `lo, lo + h, ..., hi` ([`GridLaw`]): the density of `x_K ~ N(0, 1)` is pushed through the
/// Gaussian kernels `N(mu_theta(x_k, k), sigma_k^2)`, `k = K, ..., 2`, then through the
/// deterministic last step `x_0 = mu_theta(x_1, 1)` (which must be nondecreasing in `x_1`,
/// as it is for the exact noise predictor). No Monte Carlo error: the result is the
/// sampler's law to the accuracy of the trapezoid rule (about 1e-8 when every
/// `sigma_k >= h`).
///
/// Errors if the model does, if some `sigma_k < h` (refine the grid), or if the last
/// step is not monotone.
pub fn ancestral_law_1d<M: EpsModel + ?Sized>(
    schedule: &VarianceSchedule,
    model: &M,
    variance: ReverseVariance,
    lo: f64,
    hi: f64,
    h: f64,
) -> Result<Law1d> {
    let std_normal = crate::mixture::GaussianMixture::new_1d(&[1.0], &[0.0], &[1.0])?;
    let mut law = GridLaw::from_mixture(&std_normal, lo, hi, h)?;
    let xs = law.grid();
    let col = Array2::from_shape_vec((xs.len(), 1), xs.clone())
        .map_err(|e| Error::param("grid", e.to_string()))?;
    let mean_at = |k: usize| -> Result<Vec<f64>> {
        let eps = eval_eps(model, col.view(), k)?;
        Ok(mu_theta(schedule, col.view(), eps.view(), k)?
            .column(0)
            .to_vec())
    };
    for k in (2..=schedule.num_steps()).rev() {
        let sd = variance.sigma2(schedule, k)?.sqrt();
        law = law.step(&mean_at(k)?, sd)?;
    }
    law.finish(&mean_at(1)?, 0.0)
}
