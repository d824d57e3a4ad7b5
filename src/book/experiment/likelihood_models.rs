//! The probability-flow chapter's comparison of three likelihoods for the same exact score of
//! a 2-D mixture, when the prior `π = N(0, zeta(T)^2 I)` is not `p_T`:
//!
//! - the ODE model (a normalising flow): `log p^ODE(x) = log π(x(T)) + ℓ(T)`, integrated with
//!   the exact divergence ([`flow_log_likelihood`]); for the exact score it equals
//!   `log p_0(x) + log π(Φ(x)) - log p_T(Φ(x))` with `Φ` the flow map, so its excess over
//!   `-log p_0` is the prior's log-ratio at one point, `Φ(x)`;
//! - the SDE model, exactly ([`exact_score_sde_log_likelihood`]): the log-ratio averaged inside
//!   the logarithm over the forward kernel from `x`;
//! - the SDE model's bound `L(x)` of Song et al. (2021) ([`sde_likelihood_bound`]), computed
//!   from its score terms by quadrature: the log-ratio averaged outside the logarithm.
//!
//! Averaged over `p_0`, the ODE model's excess and the bound's are both `KL(p_T || π)`
//! (`Φ` pushes `p_0` to `p_T`; the kernel from `p_0` is `p_T`), while the SDE model's excess is
//! smaller by Jensen. `KL(p_T || π)` is a sum over the components of `p_T` of Gauss-Hermite
//! expectations.
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::likelihood::{
    exact_score_sde_log_likelihood, flow_log_likelihood, sde_likelihood_bound, BoundQuadrature,
    DivergenceMethod,
};
use crate::mixture::GaussianMixture;
use crate::quadrature::gauss_hermite;
use crate::rng::seeded;
use crate::sampling::OdeMethod;
use crate::score::ExactScore;
use crate::sde::{LinearBeta, LinearSde, Vp};

/// Which data points and which SDEs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LikelihoodModelsConfig {
    pub n_points: usize,
    pub seed: u64,
    /// End times `T` of the VP SDE (`beta_min = 0.1`, `beta_max = 20`): 1 is the usual one,
    /// shorter ones leave `p_T` further from the prior.
    pub t_max: Vec<f64>,
    /// Tolerance of the Dormand-Prince solver of the augmented ODE (relative and absolute).
    pub ode_tol: f64,
}

impl LikelihoodModelsConfig {
    /// The book's run.
    pub fn book() -> Self {
        Self {
            n_points: 200,
            seed: 42,
            t_max: vec![1.0, 0.5],
            ode_tol: 1e-8,
        }
    }
}

/// Per-point excesses over `-log p_0(x)` for one SDE.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LikelihoodModelsRow {
    pub t_max: f64,
    /// `KL(p_T || π)`, exact.
    pub kl_prior: f64,
    /// `-log p^ODE(x) + log p_0(x)`, from the ODE.
    pub ode_excess: Vec<f64>,
    /// `-log p^SDE(x) + log p_0(x)`, exact.
    pub sde_excess: Vec<f64>,
    /// `L(x) + log p_0(x)`, from the bound's score terms.
    pub bound_excess: Vec<f64>,
    /// Largest difference between the ODE's `log p^ODE` and its closed form at the flow's
    /// end point (the solver's error).
    pub ode_solver_err: f64,
    /// Evaluations: ODE right-hand sides, and score evaluations of the bound.
    pub ode_evals: usize,
    pub bound_evals: usize,
}

/// The report: the mixture's mean `-log p_0` over the points, and one row per SDE.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LikelihoodModelsReport {
    pub config: LikelihoodModelsConfig,
    pub mean_nll: f64,
    pub rows: Vec<LikelihoodModelsRow>,
}

/// The 2-D mixture of the chapter's likelihood table.
pub fn mixture() -> Result<GaussianMixture> {
    GaussianMixture::new(
        vec![0.5, 0.3, 0.2],
        ndarray::array![[-1.0, 0.5], [1.0, -0.5], [0.5, 1.5]],
        ndarray::array![[0.4, 0.6], [0.5, 0.3], [0.3, 0.3]],
    )
}

/// `KL(p || π) = Σ_k w_k E_{N(m_k, diag s_k^2)} [log p - log π]` by a tensor Gauss-Hermite rule
/// per component (`m` nodes per coordinate; `p` of dimension 2).
pub fn kl_to_prior(p: &GaussianMixture, sde: &dyn LinearSde, m: usize) -> Result<f64> {
    let rule = gauss_hermite(m)?;
    let d = p.dim();
    if d != 2 {
        return Err(crate::Error::shape("kl_to_prior", "d = 2", d));
    }
    let mut kl = 0.0;
    for k in 0..p.n_components() {
        let (mu, sd) = (p.means().row(k), p.stds().row(k));
        let mut xs = Array2::zeros((m * m, 2));
        let mut ws = Array1::zeros(m * m);
        for (a, &(za, wa)) in rule.iter().enumerate() {
            for (b, &(zb, wb)) in rule.iter().enumerate() {
                let r = a * m + b;
                xs[[r, 0]] = mu[0] + sd[0] * za;
                xs[[r, 1]] = mu[1] + sd[1] * zb;
                ws[r] = wa * wb;
            }
        }
        let lr = p.log_pdf(xs.view())? - sde.prior_log_density(xs.view());
        kl += p.weights()[k] * ws.dot(&lr);
    }
    Ok(kl)
}

/// Runs the comparison.
pub fn run(config: &LikelihoodModelsConfig) -> Result<LikelihoodModelsReport> {
    let p0 = mixture()?;
    let x = p0.sample(config.n_points, &mut seeded(config.seed));
    let log_p0 = p0.log_pdf(x.view())?;
    let method = OdeMethod::Dopri5 {
        rtol: config.ode_tol,
        atol: config.ode_tol,
    };
    let mut rows = vec![];
    for &t_max in &config.t_max {
        let sde = Vp::new(LinearBeta::song(), t_max)?;
        let score = ExactScore::new(&p0, &sde);
        let p_t = p0.diffused(&sde, t_max)?;
        let flow = flow_log_likelihood(
            &sde,
            &score,
            x.view(),
            0.0,
            &method,
            DivergenceMethod::Exact,
            &mut seeded(config.seed),
        )?;
        let log_ode = flow.log_p_sde_prior(&sde)?;
        let prior_end = sde.prior_log_density(flow.x_end.view());
        let closed = &log_p0 + &prior_end - &p_t.log_pdf(flow.x_end.view())?;
        let ode_solver_err = (&log_ode - &closed)
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let log_sde = exact_score_sde_log_likelihood(&sde, &p0, x.view(), 0.0, 40)?;
        let bound = sde_likelihood_bound(&sde, &score, x.view(), 0.0, BoundQuadrature::default())?;
        rows.push(LikelihoodModelsRow {
            t_max,
            kl_prior: kl_to_prior(&p_t, &sde, 40)?,
            ode_excess: (&log_p0 - &log_ode).to_vec(),
            sde_excess: (&log_p0 - &log_sde).to_vec(),
            bound_excess: (bound.bound() + &log_p0).to_vec(),
            ode_solver_err,
            ode_evals: flow.n_evals,
            bound_evals: bound.n_evals,
        });
    }
    Ok(LikelihoodModelsReport {
        config: config.clone(),
        mean_nll: -log_p0.mean().unwrap_or(f64::NAN),
        rows,
    })
}
