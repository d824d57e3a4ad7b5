//! The parameterisations chapter's bridge: DDPM's bound, term by term, tends to the
//! likelihood-weighted score-matching loss as the number of steps `K` grows.
//!
//! For a model whose noise prediction is `eps_theta(x, k) = -sqrt(1 - abar_k) s~(x, k)`, with
//! `s~` the score of a wrong data distribution `p~_0` pushed through the same chain, the part
//! of `L_VB` that depends on the model is `Σ_k w_k E|eps* - eps_theta|^2 =
//! Σ_k w_k (1 - abar_k) phi_k` with `phi_k = E_{q_k} |s_{q_k} - s_{q~_k}|^2`, and
//! `w_k (1 - abar_k) = beta_k / (2 alpha_k)` (with `gamma_k^2 = beta_k`). With
//! `beta_k = beta(t_k) / K` ([`VarianceSchedule::from_vp`]) the sum is a Riemann sum of
//! `½ ∫_0^1 beta(t) E_{p_t} |s_{p_t} - s_{p~_t}|^2 dt`, the likelihood-weighted loss
//! (`g^2 = beta` for VP). Expectations are 1-D quadratures (trapezoid on 4001 points over
//! ±12: spacing 0.006 against the smallest component scale, 0.3, where the trapezoid rule on a
//! smooth, rapidly decaying integrand converges faster than any power of the spacing).
use serde::{Deserialize, Serialize};

use crate::ddpm::{vlb_weight, ReverseVariance, VarianceSchedule};
use crate::error::Result;
use crate::mixture::GaussianMixture;
use crate::quadrature::{integrate, linspace, trapezoid};
use crate::sde::{LinearSde, Vp};

/// One row: `K`, the bound's model-dependent sum, its relative distance to the limit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VbRow {
    pub k: usize,
    pub sum: f64,
    pub rel_err: f64,
}

/// The bridge and the schedule match.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VbLimit {
    /// `½ ∫ beta E|s - s~|^2 dt`.
    pub limit: f64,
    pub rows: Vec<VbRow>,
    /// `beta_1` and `beta_K` of the VP schedule at `K = 1000` (`beta(k/K)/K`) and of DDPM's
    /// linear schedule `1e-4 .. 0.02`, and the largest `|abar_k|` difference between them.
    pub vp_beta_first: f64,
    pub vp_beta_last: f64,
    pub ddpm_beta_first: f64,
    pub ddpm_beta_last: f64,
    pub max_abar_diff: f64,
    /// `abar_K` of DDPM and `mu(1)^2 = e^{-B(1)}` of the VP SDE.
    pub ddpm_abar_last: f64,
    pub vp_mu2_end: f64,
}

/// The data `p_0` (seed 000's mixture) and the wrong model `p~_0` (its means moved by 0.1).
pub fn data_and_model() -> Result<(GaussianMixture, GaussianMixture)> {
    let p0 = GaussianMixture::seed_ve();
    let q0 = GaussianMixture::new_1d(&[0.8, 0.2], &[-0.9, 1.1], &[0.4, 0.3])?;
    Ok((p0, q0))
}

/// `E_p |s_p - s_q|^2` by the trapezoid rule.
pub fn score_gap(p: &GaussianMixture, q: &GaussianMixture) -> Result<f64> {
    let xs = linspace(-12.0, 12.0, 4001);
    let col = ndarray::Array2::from_shape_vec((xs.len(), 1), xs.clone())
        .map_err(|e| crate::Error::param("grid", e.to_string()))?;
    let (sp, sq, pdf) = (
        p.score(col.view())?,
        q.score(col.view())?,
        p.pdf(col.view())?,
    );
    let ys: Vec<f64> = (0..xs.len())
        .map(|i| pdf[i] * (sp[[i, 0]] - sq[[i, 0]]).powi(2))
        .collect();
    trapezoid(&xs, &ys)
}

/// Runs the bridge for the given step counts.
pub fn run(ks: &[usize]) -> Result<VbLimit> {
    let (p0, q0) = data_and_model()?;
    let vp = Vp::song();
    let beta = vp.beta();
    let limit = integrate(
        |t| {
            let g2 = vp.diffusion(t).powi(2);
            let (p, q) = (p0.diffused(&vp, t), q0.diffused(&vp, t));
            match (p, q) {
                (Ok(p), Ok(q)) => 0.5 * g2 * score_gap(&p, &q).unwrap_or(f64::NAN),
                _ => f64::NAN,
            }
        },
        0.0,
        1.0,
        1e-10,
    )?;
    let mut rows = Vec::new();
    for &k_steps in ks {
        let sched = VarianceSchedule::from_vp(|t| beta.beta(t), 1.0, k_steps)?;
        let mut sum = 0.0;
        for k in 1..=k_steps {
            let abar = sched.alpha_bar(k)?;
            let w = vlb_weight(&sched, k, ReverseVariance::Beta)?;
            let (p, q) = (
                p0.affine(abar.sqrt(), 1.0 - abar)?,
                q0.affine(abar.sqrt(), 1.0 - abar)?,
            );
            sum += w * (1.0 - abar) * score_gap(&p, &q)?;
        }
        rows.push(VbRow {
            k: k_steps,
            sum,
            rel_err: (sum - limit).abs() / limit,
        });
    }
    let vp_sched = VarianceSchedule::from_vp(|t| beta.beta(t), 1.0, 1000)?;
    let ddpm = VarianceSchedule::linear(1e-4, 0.02, 1000)?;
    let max_abar_diff = (1..=1000)
        .map(|k| Ok((vp_sched.alpha_bar(k)? - ddpm.alpha_bar(k)?).abs()))
        .collect::<Result<Vec<f64>>>()?
        .into_iter()
        .fold(0.0, f64::max);
    Ok(VbLimit {
        limit,
        rows,
        vp_beta_first: vp_sched.beta(1)?,
        vp_beta_last: vp_sched.beta(1000)?,
        ddpm_beta_first: ddpm.beta(1)?,
        ddpm_beta_last: ddpm.beta(1000)?,
        max_abar_diff,
        ddpm_abar_last: ddpm.alpha_bar(1000)?,
        vp_mu2_end: vp.mean_factor(1.0).powi(2),
    })
}
