//! Log-likelihoods by the instantaneous change of variables (Chen et al. 2018; Song et al.
//! 2020, app. D.2): integrate the augmented probability-flow ODE
//! `dx/dt = f x - ½ g^2 s(t, x)`, `dℓ/dt = d f - ½ g^2 ∇·s(t, x)`, `x(t_min) = x`, `ℓ(t_min) = 0`,
//! from `t_min` to `T`; then `log p_{t_min}(x) = log π(x(T)) + ℓ(T)`.
//!
//! The divergence is exact ([`ScoreFn::divergence`]) or the Skilling-Hutchinson estimate of
//! the divergence of the whole velocity field, `ε^T J_v ε = f |ε|^2 - ½ g^2 ε^T J_s ε`
//! (as Song et al.'s code does), with one probe `ε` per data point held fixed over the whole
//! integration (as in FFJORD), which makes `ℓ(T)` an unbiased estimate of its exact value (up
//! to solver error). Estimating only the score's part and adding `d f` exactly would also be
//! unbiased, but for VP the two diagonals nearly cancel (`J_s ≈ -I` where `p_t ≈ N(0, I)`), and
//! the Gaussian probe's variance `2 ||S||_F^2` would carry the large uncancelled diagonal.
mod sde_bound;
pub use sde_bound::{
    exact_score_sde_log_likelihood, kernel_expectation, sde_likelihood_bound, BoundQuadrature,
    SdeBound,
};

use ndarray::{s, Array1, Array2, ArrayView2};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::divergence::{hutchinson_divergence, Probe};
use crate::error::{Error, Result};
use crate::sampling::OdeMethod;
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// How the divergence of the score is evaluated along the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DivergenceMethod {
    /// `tr J_s` exactly ([`ScoreFn::divergence`]: forward mode for the exact score).
    Exact,
    /// One Skilling-Hutchinson probe of this law per data point.
    Hutchinson(Probe),
}

/// The flow of a batch of points from `t_min` to `T`.
#[derive(Clone, Debug)]
pub struct FlowLikelihood {
    /// The end points `x(T)`, `[n, d]`.
    pub x_end: Array2<f64>,
    /// `ℓ(T) = ∫ ∇·(f x - ½ g^2 s) dt` for each point (exact or estimated).
    pub delta_log_p: Array1<f64>,
    /// Evaluations of the augmented right-hand side (each: one score evaluation and one
    /// divergence, which costs `d` JVPs when exact and one when estimated).
    pub n_evals: usize,
}

impl FlowLikelihood {
    /// `log p_{t_min}(x) = log π(x(T)) + ℓ(T)` for the prior log-densities `log π(x(T))`.
    pub fn log_p(&self, prior_log_density: &Array1<f64>) -> Result<Array1<f64>> {
        if prior_log_density.len() != self.delta_log_p.len() {
            return Err(Error::shape(
                "prior log-density",
                self.delta_log_p.len(),
                prior_log_density.len(),
            ));
        }
        Ok(prior_log_density + &self.delta_log_p)
    }

    /// `log p_{t_min}(x)` with the SDE's Gaussian prior `N(0, zeta(T)^2 I)`.
    pub fn log_p_sde_prior(&self, sde: &dyn LinearSde) -> Result<Array1<f64>> {
        self.log_p(&sde.prior_log_density(self.x_end.view()))
    }
}

/// Integrates the augmented ODE for the rows of `x` from `t_min` to `T`. `rng` draws the
/// Hutchinson probes (unused for the exact divergence).
pub fn flow_log_likelihood(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    x: ArrayView2<f64>,
    t_min: f64,
    method: &OdeMethod,
    divergence: DivergenceMethod,
    rng: &mut dyn Rng,
) -> Result<FlowLikelihood> {
    let t_max = sde.t_max();
    if !(t_min.is_finite() && t_min >= 0.0 && t_min < t_max) {
        return Err(Error::param(
            "t_min",
            format!("must lie in [0, T = {t_max}), got {t_min}"),
        ));
    }
    crate::error::all_finite(x.iter(), "data points")?;
    let (n, d) = x.dim();
    let probes = match divergence {
        DivergenceMethod::Exact => None,
        DivergenceMethod::Hutchinson(p) => Some(p.draw(n, d, rng)),
    };
    let mut y0 = Array2::zeros((n, d + 1));
    y0.slice_mut(s![.., ..d]).assign(&x);
    // ANCHOR: augmented_ode
    let rhs = |t: f64, y: ArrayView2<f64>| -> Result<Array2<f64>> {
        let xs = y.slice(s![.., ..d]);
        let sc = score.score(t, xs)?;
        let v = sde.probability_flow_drift(t, xs, sc.view())?;
        let (f, g2) = (sde.drift_coef(t), sde.diffusion(t).powi(2));
        let div_v = match &probes {
            None => score
                .divergence(t, xs)?
                .mapv(|ds| d as f64 * f - 0.5 * g2 * ds),
            Some(e) => {
                let q = hutchinson_divergence(score, t, xs, e.view())?;
                let e2 = e.mapv(|v| v * v).sum_axis(ndarray::Axis(1));
                f * e2 - 0.5 * g2 * q
            }
        };
        let mut out = Array2::zeros((n, d + 1));
        out.slice_mut(s![.., ..d]).assign(&v);
        out.column_mut(d).assign(&div_v);
        Ok(out)
    };
    // ANCHOR_END: augmented_ode
    let sol = method.solve(rhs, t_min, t_max, y0)?;
    Ok(FlowLikelihood {
        x_end: sol.y.slice(s![.., ..d]).to_owned(),
        delta_log_p: sol.y.column(d).to_owned(),
        n_evals: sol.n_evals,
    })
}
