//! The forward chain `q`, its closed-form marginals, the posterior
//! `q(x_{k-1} | x_k, x_0)`, and the eps-parametrised model mean.
//!
//! All functions act on batches `[n, d]` (one row per sample) and take 1-based steps `k`.
use super::{check_same_shape, standard_normal, VarianceSchedule};
use crate::error::all_finite;
use crate::Result;
use ndarray::{Array2, ArrayView2};
use rand::Rng;

/// One forward step with given noise (Ho et al. eq. 2):
/// `x_k = sqrt(alpha_k) x_{k-1} + sqrt(beta_k) eps`, i.e. a draw of
/// `q(x_k | x_{k-1}) = N(sqrt(1 - beta_k) x_{k-1}, beta_k I)`.
pub fn forward_step_with_noise(
    schedule: &VarianceSchedule,
    x_prev: ArrayView2<f64>,
    k: usize,
    eps: ArrayView2<f64>,
) -> Result<Array2<f64>> {
    let (a, b) = (schedule.alpha(k)?, schedule.beta(k)?);
    check_same_shape("forward_step: noise vs x_{k-1}", x_prev, eps)?;
    all_finite(x_prev.iter(), "forward_step: x_{k-1}")?;
    Ok(&x_prev * a.sqrt() + &eps * b.sqrt())
}

/// One forward step `x_{k-1} -> x_k` with fresh standard normal noise (Ho et al. eq. 2).
pub fn forward_step<R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    x_prev: ArrayView2<f64>,
    k: usize,
    rng: &mut R,
) -> Result<Array2<f64>> {
    schedule.check_k(k)?;
    let eps = standard_normal(rng, x_prev.nrows(), x_prev.ncols());
    forward_step_with_noise(schedule, x_prev, k, eps.view())
}

/// A whole forward chain simulated step by step: returns `[x_0, x_1, ..., x_K]`
/// (length `K + 1`, so `path[k]` is `x_k`), starting from the batch `x0`.
pub fn simulate_chain<R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    rng: &mut R,
) -> Result<Vec<Array2<f64>>> {
    all_finite(x0.iter(), "simulate_chain: x_0")?;
    let mut path = Vec::with_capacity(schedule.num_steps() + 1);
    path.push(x0.to_owned());
    for k in 1..=schedule.num_steps() {
        let next = forward_step(schedule, path[k - 1].view(), k, rng)?;
        path.push(next);
    }
    Ok(path)
}

/// The closed-form marginal with given noise (Ho et al. eq. 4 and the reparametrisation
/// above eq. 9): `x_k = sqrt(alpha_bar_k) x_0 + sqrt(1 - alpha_bar_k) eps`, a draw of
/// `q(x_k | x_0) = N(sqrt(alpha_bar_k) x_0, (1 - alpha_bar_k) I)`.
pub fn marginal_sample_with_noise(
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    k: usize,
    eps: ArrayView2<f64>,
) -> Result<Array2<f64>> {
    schedule.check_k(k)?;
    check_same_shape("marginal_sample: noise vs x_0", x0, eps)?;
    all_finite(x0.iter(), "marginal_sample: x_0")?;
    let ab = schedule.alpha_bar(k)?;
    let omab = schedule.one_minus_alpha_bar(k)?;
    Ok(&x0 * ab.sqrt() + &eps * omab.sqrt())
}

/// A draw of `x_k ~ q(x_k | x_0)` in one jump (Ho et al. eq. 4).
pub fn marginal_sample<R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    k: usize,
    rng: &mut R,
) -> Result<Array2<f64>> {
    schedule.check_k(k)?;
    let eps = standard_normal(rng, x0.nrows(), x0.ncols());
    marginal_sample_with_noise(schedule, x0, k, eps.view())
}

/// The forward posterior `q(x_{k-1} | x_k, x_0) = N(mean, variance I)` for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Posterior {
    /// `mu_tilde_k(x_k, x_0)`, one row per sample.
    pub mean: Array2<f64>,
    /// `beta_tilde_k` (the same for every sample and coordinate; 0 when `k = 1`).
    pub variance: f64,
}

/// The posterior mean (Ho et al. eq. 7):
/// `mu_tilde_k = sqrt(alpha_bar_{k-1}) beta_k / (1 - alpha_bar_k) x_0
///             + sqrt(alpha_k) (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) x_k`.
///
/// At `k = 1` this is `x_0` itself (the posterior is a point mass).
pub fn posterior_mean(
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    xk: ArrayView2<f64>,
    k: usize,
) -> Result<Array2<f64>> {
    let (c0, ck) = schedule.posterior_coefficients(k)?;
    check_same_shape("posterior_mean: x_k vs x_0", x0, xk)?;
    all_finite(x0.iter(), "posterior_mean: x_0")?;
    all_finite(xk.iter(), "posterior_mean: x_k")?;
    Ok(&x0 * c0 + &xk * ck)
}

/// The posterior `q(x_{k-1} | x_k, x_0) = N(mu_tilde_k, beta_tilde_k I)` (Ho et al. eq. 6-7).
pub fn posterior(
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    xk: ArrayView2<f64>,
    k: usize,
) -> Result<Posterior> {
    Ok(Posterior {
        mean: posterior_mean(schedule, x0, xk, k)?,
        variance: schedule.beta_tilde(k)?,
    })
}

// ANCHOR: mu_theta
/// The eps-parametrised model mean (Ho et al. eq. 11):
/// `mu_theta(x_k, k) = (x_k - beta_k / sqrt(1 - alpha_bar_k) eps_theta) / sqrt(alpha_k)`.
///
/// With the true noise `eps` of `x_k = sqrt(alpha_bar_k) x_0 + sqrt(1 - alpha_bar_k) eps`
/// this is exactly `mu_tilde_k(x_k, x_0)` (Ho et al. eq. 10); with the exact posterior mean
/// `E[eps | x_k]` it is `E[x_{k-1} | x_k]`.
pub fn mu_theta(
    schedule: &VarianceSchedule,
    xk: ArrayView2<f64>,
    eps_pred: ArrayView2<f64>,
    k: usize,
) -> Result<Array2<f64>> {
    let (a, b, omab) = (
        schedule.alpha(k)?,
        schedule.beta(k)?,
        schedule.one_minus_alpha_bar(k)?,
    );
    check_same_shape("mu_theta: eps_theta vs x_k", xk, eps_pred)?;
    let c = b / omab.sqrt();
    Ok((&xk - &(&eps_pred * c)) / a.sqrt())
}
// ANCHOR_END: mu_theta

/// The implied clean sample `x_0 = (x_k - sqrt(1 - alpha_bar_k) eps) / sqrt(alpha_bar_k)`
/// (Ho et al. eq. 4 solved for `x_0`; their eq. 15).
pub fn predict_x0(
    schedule: &VarianceSchedule,
    xk: ArrayView2<f64>,
    eps_pred: ArrayView2<f64>,
    k: usize,
) -> Result<Array2<f64>> {
    let (ab, omab) = (schedule.alpha_bar(k)?, schedule.one_minus_alpha_bar(k)?);
    schedule.check_k(k)?;
    check_same_shape("predict_x0: eps vs x_k", xk, eps_pred)?;
    Ok((&xk - &(&eps_pred * omab.sqrt())) / ab.sqrt())
}

/// The seed note's forward chain (`ddpm_chain!` in its Julia code), reproduced literally
/// so the book can show what it does. **It is not the DDPM forward chain.**
///
/// The Julia code allocates `K` rows, puts `x_0` in the first, and for `i = 2..K` sets
/// `row_i = sqrt(1 - beta_{i-1}) row_{i-1} + beta_{i-1} z_i`. In our terms it returns
/// `[X_0, X_1, ..., X_{K-1}]` (length `K`) with
/// `X_j = sqrt(1 - beta_j) X_{j-1} + beta_j z_j`, `j = 1..K-1`. Two deviations from
/// Ho et al. eq. 2:
///
/// 1. the noise is scaled by `beta_j` instead of `sqrt(beta_j)`, so the variance obeys
///    `v_j = (1 - beta_j) v_{j-1} + beta_j^2` and tends to about `beta_j`, not to 1
///    (the mean, `sqrt(alpha_bar_j) x_0`, is right);
/// 2. the chain stops one step short: `beta_K` is never used and there is no `X_K`.
///
/// (It also reads the global `x0` instead of its argument; that has no effect in the note,
/// where both are the same data.)
// ANCHOR: seed_forward_chain
pub fn seed_forward_chain<R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    rng: &mut R,
) -> Result<Vec<Array2<f64>>> {
    all_finite(x0.iter(), "seed_forward_chain: x_0")?;
    let k_max = schedule.num_steps();
    let mut rows = Vec::with_capacity(k_max);
    rows.push(x0.to_owned());
    for j in 1..k_max {
        let b = schedule.beta(j)?;
        let z = standard_normal(rng, x0.nrows(), x0.ncols());
        let next = &rows[j - 1] * (1.0 - b).sqrt() + &z * b;
        rows.push(next);
    }
    Ok(rows)
}
// ANCHOR_END: seed_forward_chain
