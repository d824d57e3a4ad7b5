//! Gaussian KL divergences, the terms of the variational bound, and the eps losses.
//!
//! The bound on the negative log-likelihood (Ho et al. eq. 3 and 5), in nats per data point:
//!
//! ```text
//! -ln p_theta(x_0) <= L = L_K + sum_{k=2}^{K} L_{k-1} + L_0,
//!   L_K     = KL(q(x_K | x_0) || N(0, I)),
//!   L_{k-1} = E_{q(x_k | x_0)} KL(q(x_{k-1} | x_k, x_0) || p_theta(x_{k-1} | x_k)),
//!   L_0     = E_{q(x_1 | x_0)} [-ln p_theta(x_0 | x_1)].
//! ```
//!
//! Here `p_theta(x_{k-1} | x_k) = N(mu_theta(x_k, k), sigma_k^2 I)` and the decoder
//! `p_theta(x_0 | x_1) = N(mu_theta(x_1, 1), sigma_1^2 I)` is a plain **Gaussian density for
//! continuous data**. Ho et al. (eq. 13) instead use a discretised Gaussian for 8-bit images,
//! integrating this density over each pixel bin; that decoder gives probabilities, not
//! densities, and is not implemented here.
use super::chain::{marginal_sample_with_noise, mu_theta, posterior};
use super::VarianceSchedule;
use super::{check_same_shape, eval_eps, standard_normal, EpsModel, ReverseVariance};
use crate::error::{all_finite, check_len};
use crate::{Error, Result};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// `KL(N(mu_q, diag var_q) || N(mu_p, diag var_p))
///  = 1/2 sum_i [var_q_i/var_p_i + (mu_q_i - mu_p_i)^2/var_p_i - 1 - ln(var_q_i/var_p_i)]`,
/// the closed form for diagonal Gaussians (the seed's general formula with diagonal
/// covariances).
///
/// Errors if the lengths differ, a mean is not finite, or a variance is not `> 0`.
pub fn gaussian_kl_diag(
    mu_q: ArrayView1<f64>,
    var_q: ArrayView1<f64>,
    mu_p: ArrayView1<f64>,
    var_p: ArrayView1<f64>,
) -> Result<f64> {
    let d = mu_q.len();
    for (what, len) in [
        ("gaussian_kl_diag: var_q", var_q.len()),
        ("gaussian_kl_diag: mu_p", mu_p.len()),
        ("gaussian_kl_diag: var_p", var_p.len()),
    ] {
        if len != d {
            return Err(Error::shape(what, d, len));
        }
    }
    all_finite(mu_q.iter(), "gaussian_kl_diag: mu_q")?;
    all_finite(mu_p.iter(), "gaussian_kl_diag: mu_p")?;
    let mut kl = 0.0;
    for i in 0..d {
        let vq = crate::error::positive(var_q[i], "var_q")?;
        let vp = crate::error::positive(var_p[i], "var_p")?;
        let r = vq / vp;
        let dm = mu_q[i] - mu_p[i];
        kl += r + dm * dm / vp - 1.0 - r.ln();
    }
    Ok(0.5 * kl)
}

/// `KL(N(mu_q, var_q I) || N(mu_p, var_p I))
///  = 1/2 [d var_q/var_p + |mu_q - mu_p|^2/var_p - d - d ln(var_q/var_p)]`.
pub fn gaussian_kl_iso(
    mu_q: ArrayView1<f64>,
    var_q: f64,
    mu_p: ArrayView1<f64>,
    var_p: f64,
) -> Result<f64> {
    if mu_p.len() != mu_q.len() {
        return Err(Error::shape(
            "gaussian_kl_iso: mu_p",
            mu_q.len(),
            mu_p.len(),
        ));
    }
    let vq = crate::error::positive(var_q, "var_q")?;
    let vp = crate::error::positive(var_p, "var_p")?;
    all_finite(mu_q.iter(), "gaussian_kl_iso: mu_q")?;
    all_finite(mu_p.iter(), "gaussian_kl_iso: mu_p")?;
    Ok(kl_iso_unchecked(mu_q, vq, mu_p, vp))
}

fn kl_iso_unchecked(mu_q: ArrayView1<f64>, vq: f64, mu_p: ArrayView1<f64>, vp: f64) -> f64 {
    let d = mu_q.len() as f64;
    let r = vq / vp;
    let dist2: f64 = mu_q
        .iter()
        .zip(mu_p.iter())
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    0.5 * (d * r + dist2 / vp - d - d * r.ln())
}

/// `ln N(x; mu, var I) = -d/2 ln(2 pi var) - |x - mu|^2 / (2 var)`.
pub fn gaussian_log_pdf_iso(x: ArrayView1<f64>, mu: ArrayView1<f64>, var: f64) -> Result<f64> {
    if mu.len() != x.len() {
        return Err(Error::shape("gaussian_log_pdf_iso: mu", x.len(), mu.len()));
    }
    let v = crate::error::positive(var, "var")?;
    all_finite(x.iter(), "gaussian_log_pdf_iso: x")?;
    all_finite(mu.iter(), "gaussian_log_pdf_iso: mu")?;
    Ok(log_pdf_iso_unchecked(x, mu, v))
}

fn log_pdf_iso_unchecked(x: ArrayView1<f64>, mu: ArrayView1<f64>, v: f64) -> f64 {
    let d = x.len() as f64;
    let dist2: f64 = x
        .iter()
        .zip(mu.iter())
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    -0.5 * d * (2.0 * std::f64::consts::PI * v).ln() - 0.5 * dist2 / v
}

/// `L_K = KL(q(x_K | x_0) || N(0, I))` for every row of `x0` (exact, no sampling):
/// `1/2 sum_i [(1 - alpha_bar_K) + alpha_bar_K x_{0,i}^2 - 1 - ln(1 - alpha_bar_K)]`.
pub fn prior_term(schedule: &VarianceSchedule, x0: ArrayView2<f64>) -> Result<Array1<f64>> {
    all_finite(x0.iter(), "prior_term: x_0")?;
    let k_max = schedule.num_steps();
    let ab = schedule.alpha_bar(k_max)?;
    let omab = schedule.one_minus_alpha_bar(k_max)?;
    let d = x0.ncols() as f64;
    Ok(x0.map_axis(Axis(1), |row| {
        let sq: f64 = row.iter().map(|v| v * v).sum();
        0.5 * (d * omab + ab * sq - d - d * omab.ln())
    }))
}

/// `L_{k-1} = KL(q(x_{k-1} | x_k, x_0) || N(mu_theta(x_k, k), sigma_k^2 I))` for every row,
/// with `x_k = sqrt(alpha_bar_k) x_0 + sqrt(1 - alpha_bar_k) eps` made from the given noise:
/// one Monte Carlo sample of the expectation over `x_k` (Ho et al. eq. 5 and 8).
///
/// `k` must be in `2..=K`; the `k = 1` term is the decoder ([`decoder_term`]).
pub fn kl_term<M: EpsModel + ?Sized>(
    schedule: &VarianceSchedule,
    model: &M,
    x0: ArrayView2<f64>,
    k: usize,
    variance: ReverseVariance,
    eps: ArrayView2<f64>,
) -> Result<Array1<f64>> {
    schedule.check_k(k)?;
    if k == 1 {
        return Err(Error::param(
            "k",
            "kl_term needs k in 2..=K: the k = 1 term L_0 is the decoder term (decoder_term)",
        ));
    }
    let xk = marginal_sample_with_noise(schedule, x0, k, eps)?;
    let post = posterior(schedule, x0, xk.view(), k)?;
    let eps_pred = eval_eps(model, xk.view(), k)?;
    let mean_p = mu_theta(schedule, xk.view(), eps_pred.view(), k)?;
    let sigma2 = variance.sigma2(schedule, k)?;
    Ok(Array1::from_iter((0..x0.nrows()).map(|i| {
        kl_iso_unchecked(post.mean.row(i), post.variance, mean_p.row(i), sigma2)
    })))
}

/// `L_0 = -ln N(x_0; mu_theta(x_1, 1), sigma_1^2 I)` for every row, with
/// `x_1 = sqrt(alpha_bar_1) x_0 + sqrt(1 - alpha_bar_1) eps` from the given noise.
///
/// A Gaussian decoder for continuous data (not Ho et al.'s discretised eq. 13). With
/// [`ReverseVariance::BetaTilde`] it is an error (`sigma_1^2 = beta_tilde_1 = 0`);
/// [`ReverseVariance::BetaTildeClipped`] uses `sigma_1^2 = beta_tilde_2` (see [`ReverseVariance`]).
pub fn decoder_term<M: EpsModel + ?Sized>(
    schedule: &VarianceSchedule,
    model: &M,
    x0: ArrayView2<f64>,
    variance: ReverseVariance,
    eps: ArrayView2<f64>,
) -> Result<Array1<f64>> {
    let x1 = marginal_sample_with_noise(schedule, x0, 1, eps)?;
    let eps_pred = eval_eps(model, x1.view(), 1)?;
    let mean_p = mu_theta(schedule, x1.view(), eps_pred.view(), 1)?;
    let sigma2 = variance.sigma2(schedule, 1)?;
    Ok(Array1::from_iter((0..x0.nrows()).map(|i| {
        -log_pdf_iso_unchecked(x0.row(i), mean_p.row(i), sigma2)
    })))
}

/// Every term of the variational bound, averaged over the data points of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundTerms {
    /// `terms[j] = L_j`, `j = 0..=K`: `L_0` the decoder, `L_1..L_{K-1}` the KL terms,
    /// `L_K` the prior term; nats per data point (not per dimension).
    pub terms: Vec<f64>,
    /// Monte Carlo standard error of each `terms[j]` over the data points (sample sd /
    /// sqrt(n)); `NaN` when there is a single data point.
    pub term_se: Vec<f64>,
    /// The bound `L` for each data point (sum of its terms, averaged over the draws).
    pub per_point: Vec<f64>,
    /// `L = sum_j L_j`, averaged over the data points.
    pub total: f64,
    /// Standard error of `total` over the data points (`NaN` if `n = 1`).
    pub total_se: f64,
    /// Data dimension `d`.
    pub dim: usize,
}

impl BoundTerms {
    /// The bound in bits per dimension, `total / (d ln 2)`.
    pub fn bits_per_dim(&self) -> f64 {
        self.total / (self.dim as f64 * std::f64::consts::LN_2)
    }
}

/// The variational bound of every row of `x0` and its terms (see the module docs).
///
/// Each `L_{k-1}` (`k = 1..=K`) is estimated with `draws` independent samples of `x_k` per
/// data point (the KL given `x_k` is exact); `L_K` is exact. Each data point's terms use
/// independent noise, so the per-point total is an unbiased estimate of its bound.
pub fn variational_bound<M: EpsModel + ?Sized, R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    model: &M,
    x0: ArrayView2<f64>,
    variance: ReverseVariance,
    draws: usize,
    rng: &mut R,
) -> Result<BoundTerms> {
    if draws == 0 {
        return Err(Error::param("draws", "need at least one draw per term"));
    }
    if x0.nrows() == 0 {
        return Err(Error::param("x0", "need at least one data point"));
    }
    all_finite(x0.iter(), "variational_bound: x_0")?;
    let (n, d) = x0.dim();
    let k_max = schedule.num_steps();
    // per_term[j][i] = L_j for data point i
    let mut per_term = vec![vec![0.0; n]; k_max + 1];
    for k in 1..=k_max {
        for _ in 0..draws {
            let eps = standard_normal(rng, n, d);
            let vals = if k == 1 {
                decoder_term(schedule, model, x0, variance, eps.view())?
            } else {
                kl_term(schedule, model, x0, k, variance, eps.view())?
            };
            for (acc, v) in per_term[k - 1].iter_mut().zip(vals.iter()) {
                *acc += v / draws as f64;
            }
        }
    }
    per_term[k_max] = prior_term(schedule, x0)?.to_vec();
    let mut terms = Vec::with_capacity(k_max + 1);
    let mut term_se = Vec::with_capacity(k_max + 1);
    for t in &per_term {
        let (m, se) = crate::metrics::mean_se(t);
        terms.push(m);
        term_se.push(se);
    }
    let per_point: Vec<f64> = (0..n)
        .map(|i| per_term.iter().map(|t| t[i]).sum())
        .collect();
    let (total, total_se) = crate::metrics::mean_se(&per_point);
    Ok(BoundTerms {
        terms,
        term_se,
        per_point,
        total,
        total_se,
        dim: d,
    })
}

/// The weight linking the bound to the eps loss (Ho et al. eq. 12):
/// `L_{k-1} = beta_k^2 / (2 sigma_k^2 alpha_k (1 - alpha_bar_k)) E|eps - eps_theta|^2 + C_k`.
///
/// Holds for `k = 1..=K`: for `k = 1` the decoder term has the same weight (since
/// `x_0 - mu_theta(x_1, 1) = -sqrt(beta_1/alpha_1) (eps - eps_theta)`), with its own constant.
pub fn vlb_weight(schedule: &VarianceSchedule, k: usize, variance: ReverseVariance) -> Result<f64> {
    let b = schedule.beta(k)?;
    let a = schedule.alpha(k)?;
    let omab = schedule.one_minus_alpha_bar(k)?;
    let s2 = variance.sigma2(schedule, k)?;
    Ok(b * b / (2.0 * s2 * a * omab))
}

/// The constant `C_k` of [`vlb_weight`] for data dimension `d`:
/// for `k >= 2`, `C_k = d/2 (beta_tilde_k/sigma_k^2 - 1 - ln(beta_tilde_k/sigma_k^2))`
/// (the variance part of the KL, zero when `sigma_k^2 = beta_tilde_k`);
/// for `k = 1`, the decoder's normaliser `d/2 ln(2 pi sigma_1^2)`.
pub fn vlb_constant(
    schedule: &VarianceSchedule,
    k: usize,
    variance: ReverseVariance,
    d: usize,
) -> Result<f64> {
    let s2 = variance.sigma2(schedule, k)?;
    let d = d as f64;
    if k == 1 {
        return Ok(0.5 * d * (2.0 * std::f64::consts::PI * s2).ln());
    }
    let r = schedule.beta_tilde(k)? / s2;
    Ok(0.5 * d * (r - 1.0 - r.ln()))
}

/// One training batch for the eps loss (Ho et al. Algorithm 1): row `i` holds
/// `x_k = sqrt(alpha_bar_k) x_0 + sqrt(1 - alpha_bar_k) eps` with its own step
/// `k = k_i ~ U{1..K}` and noise `eps ~ N(0, I)`. The network input is `(x_k, k)`, its
/// target `eps`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpsTargets {
    /// Noised data `x_k`, shape `[n, d]`.
    pub x_k: Array2<f64>,
    /// The step of each row, 1-based.
    pub k: Vec<usize>,
    /// The noise to predict, shape `[n, d]`.
    pub eps: Array2<f64>,
}

/// Draws `k ~ U{1..K}` and `eps ~ N(0, I)` for every row of `x0` and builds `x_k`
/// (Ho et al. Algorithm 1, lines 2-4).
pub fn sample_eps_targets<R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    rng: &mut R,
) -> Result<EpsTargets> {
    let (n, d) = x0.dim();
    let (mut k, mut eps, mut x_k) = (vec![0; n], vec![0.0; n * d], vec![0.0; n * d]);
    draw_eps_targets(schedule, x0, rng, &mut k, &mut eps, &mut x_k, d)?;
    Ok(EpsTargets {
        x_k: Array2::from_shape_vec((n, d), x_k).expect("n d values"),
        k,
        eps: Array2::from_shape_vec((n, d), eps).expect("n d values"),
    })
}

/// The draw of [`sample_eps_targets`] into the caller's buffers (it allocates nothing, for
/// the fused trainer): all `k_n` first, then `eps_n` row by row, then
/// `x_k = sqrt(alpha_bar_k) x_0 + sqrt(1 - alpha_bar_k) eps` (Ho et al. eq. 4) into the first
/// `d` columns of each row of `x_k`, `[n, ld]` with `ld >= d`. `k`: `[n]`, `eps`: `[n, d]`,
/// row-major. Errors on non-finite data or buffers of the wrong length.
pub(crate) fn draw_eps_targets<R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    rng: &mut R,
    k: &mut [usize],
    eps: &mut [f64],
    x_k: &mut [f64],
    ld: usize,
) -> Result<()> {
    all_finite(x0.iter(), "sample_eps_targets: x_0")?;
    let (n, d) = x0.dim();
    if ld < d {
        return Err(Error::shape("eps draw: x_k row length", d, ld));
    }
    check_len("eps draw: k", n, k.len())?;
    check_len("eps draw: eps", n * d, eps.len())?;
    check_len("eps draw: x_k", n * ld, x_k.len())?;
    let k_max = schedule.num_steps();
    for k in k.iter_mut() {
        *k = rng.random_range(1..=k_max);
    }
    for e in eps.iter_mut() {
        *e = rng.sample(StandardNormal);
    }
    for (i, x) in x0.rows().into_iter().enumerate() {
        let sab = schedule.alpha_bar(k[i])?.sqrt();
        let somab = schedule.one_minus_alpha_bar(k[i])?.sqrt();
        let e = &eps[i * d..(i + 1) * d];
        for ((xk, &x), &e) in x_k[i * ld..i * ld + d].iter_mut().zip(x).zip(e) {
            *xk = x * sab + e * somab;
        }
    }
    Ok(())
}

/// A Monte Carlo estimate of the simplified loss of Ho et al. (eq. 14),
/// `L_simple = E_{k ~ U{1..K}, x_0, eps} |eps - eps_theta(x_k, k)|^2`
/// (squared norm over the `d` coordinates, mean over the batch, one `(k, eps)` per row):
/// the bound's weights `vlb_weight` are dropped.
///
/// The seed's Julia loss `mean(abs2, eps_pred - eps)` also averages over coordinates,
/// i.e. it is this divided by `d` (the same for its 1-D example).
pub fn simple_loss<M: EpsModel + ?Sized, R: Rng + ?Sized>(
    schedule: &VarianceSchedule,
    model: &M,
    x0: ArrayView2<f64>,
    rng: &mut R,
) -> Result<f64> {
    if x0.nrows() == 0 {
        return Err(Error::param("x0", "need at least one data point"));
    }
    let t = sample_eps_targets(schedule, x0, rng)?;
    let pred = model.eps_rows(t.x_k.view(), &t.k)?;
    check_same_shape("simple_loss: model output", t.eps.view(), pred.view())?;
    all_finite(pred.iter(), "simple_loss: model output")?;
    let sq: f64 = (&t.eps - &pred).iter().map(|v| v * v).sum();
    Ok(sq / x0.nrows() as f64)
}
