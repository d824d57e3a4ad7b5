//! Ancestral sampling from the reverse chain (Ho et al. Algorithm 2):
//! `x_K ~ N(0, I)`, then for `k = K, ..., 1`
//! `x_{k-1} = mu_theta(x_k, k) + sigma_k z`, `z ~ N(0, I)` for `k > 1`, `z = 0` for `k = 1`,
//! with `mu_theta(x_k, k) = (x_k - beta_k / sqrt(1 - alpha_bar_k) eps_theta(x_k, k)) / sqrt(alpha_k)`
//! (Ho et al. eq. 11).
use super::chain::mu_theta;
use super::{eval_eps, standard_normal, EpsModel, ReverseVariance, VarianceSchedule};
use crate::error::all_finite;
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
