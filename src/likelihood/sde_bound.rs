//! The SDE model's likelihood bound (Song, Durkan, Murray and Ermon 2021, Theorem 3), by
//! quadrature: for the model defined by the reverse-time SDE with score `s` started from the
//! prior `π`,
//!
//! `-log p^SDE_{t_min}(x) ≤ L(x) = -E[log π(x_T)]
//!     + ½ ∫_{t_min}^T E[g^2 |s(t, x_t)|^2 + 2 g^2 ∇·s(t, x_t) - 2 d f] dt`,
//!
//! the expectations over the forward kernel `x_t | x_{t_min} = x`, which for a linear SDE is
//! `N(r x, v I)` with `r = mu(t)/mu(t_min)`, `v = zeta(t)^2 - r^2 zeta(t_min)^2`. Both
//! expectations are tensor Gauss-Hermite sums in the kernel's noise and the time integral is a
//! composite Gauss-Legendre rule, so for a score that is smooth in `x` and `t` (a mixture's
//! exact score, a network) `L(x)` is computed to quadrature precision: no Monte Carlo.
//!
//! With the exact score, Itô's formula for `log p_t(X_t)` and the Fokker-Planck equation give
//! `L(x) = -log p_{t_min}(x) + E[log p_T(x_T) - log π(x_T)]`: the bound is tight when `π = p_T`,
//! and its gap is the prior's log-ratio averaged over the kernel from `x`.
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::quadrature::{gauss_hermite, GL8};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// The quadrature behind [`sde_likelihood_bound`]. The default (40 nodes, 16 panels) computes
/// the bound for the exact score of the book's 2-D mixture (component stds down to 0.3) to
/// a few 1e-8: 40 and 60 Hermite nodes differ by 3e-8 (20 nodes leave errors near 1e-6), 16 and
/// 64 time panels by 2e-8 (8 panels leave 1e-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundQuadrature {
    /// Gauss-Hermite nodes per coordinate (the kernel expectation uses `hermite^d` nodes).
    pub hermite: usize,
    /// Equal panels of the 8-point Gauss-Legendre rule on `[t_min, T]`.
    pub time_panels: usize,
}

impl Default for BoundQuadrature {
    fn default() -> Self {
        Self {
            hermite: 40,
            time_panels: 16,
        }
    }
}

/// The two parts of the bound, per data point.
#[derive(Clone, Debug)]
pub struct SdeBound {
    /// `-E[log π(x_T)]` over the kernel from `x`.
    pub prior_term: Array1<f64>,
    /// `½ ∫ E[g^2 (|s|^2 + 2 ∇·s) - 2 d f] dt`.
    pub diffusion_term: Array1<f64>,
    /// Score evaluations (each with its divergence).
    pub n_evals: usize,
}

impl SdeBound {
    /// `L(x)`, the bound on `-log p^SDE_{t_min}(x)`.
    pub fn bound(&self) -> Array1<f64> {
        &self.prior_term + &self.diffusion_term
    }
}

/// The largest tensor rule [`kernel_expectation`] builds (`hermite^d` nodes).
const MAX_NODES: usize = 1 << 16;

/// `E[h(x_t) | x_{t_min} = x]` for each row of `x`, by the tensor Gauss-Hermite rule with `m`
/// nodes per coordinate; `h` maps a batch of states to one value per state.
pub fn kernel_expectation(
    sde: &dyn LinearSde,
    x: ArrayView2<f64>,
    t_min: f64,
    t: f64,
    m: usize,
    h: &mut dyn FnMut(ArrayView2<f64>) -> Result<Array1<f64>>,
) -> Result<Array1<f64>> {
    let (n, d) = x.dim();
    let rule = gauss_hermite(m)?;
    let nodes = u32::try_from(d)
        .ok()
        .and_then(|d| m.checked_pow(d))
        .filter(|&k| k <= MAX_NODES)
        .ok_or_else(|| {
            Error::param(
                "Gauss-Hermite nodes",
                format!("{m}^{d} exceeds the tensor rule's limit of {MAX_NODES} nodes"),
            )
        })?;
    let (r, v) = kernel(sde, t_min, t)?;
    let sd = v.sqrt();
    let mut states = Array2::zeros((n * nodes, d));
    let mut weights = vec![1.0; nodes];
    for k in 0..nodes {
        // Node k's index in each coordinate: the digits of k in base m.
        let mut rest = k;
        for j in 0..d {
            let (z, w) = rule[rest % m];
            rest /= m;
            weights[k] *= w;
            for i in 0..n {
                states[[i * nodes + k, j]] = r * x[[i, j]] + sd * z;
            }
        }
    }
    let values = h(states.view())?;
    if values.len() != n * nodes {
        return Err(Error::shape("kernel expectation", n * nodes, values.len()));
    }
    Ok((0..n)
        .map(|i| {
            (0..nodes)
                .map(|k| weights[k] * values[i * nodes + k])
                .sum::<f64>()
        })
        .collect())
}

/// The kernel from `t_min` to `t`: `x_t = r x + √v z`.
fn kernel(sde: &dyn LinearSde, t_min: f64, t: f64) -> Result<(f64, f64)> {
    let r = sde.mean_factor(t) / sde.mean_factor(t_min);
    let v = sde.kernel_var(t) - r * r * sde.kernel_var(t_min);
    if r.is_finite() && v.is_finite() {
        Ok((r, v.max(0.0)))
    } else {
        Err(Error::param(
            "t",
            format!("the kernel from {t_min} to {t} is not finite"),
        ))
    }
}

/// `L(x)` for each row of `x` (module docs), with `π` the SDE's Gaussian prior.
pub fn sde_likelihood_bound(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    x: ArrayView2<f64>,
    t_min: f64,
    quad: BoundQuadrature,
) -> Result<SdeBound> {
    let t_max = sde.t_max();
    if !(t_min.is_finite() && t_min >= 0.0 && t_min < t_max) {
        return Err(Error::param(
            "t_min",
            format!("must lie in [0, T = {t_max}), got {t_min}"),
        ));
    }
    if quad.time_panels == 0 || quad.time_panels > 10_000 {
        return Err(Error::param(
            "time panels",
            format!("must lie in 1..=10000, got {}", quad.time_panels),
        ));
    }
    crate::error::all_finite(x.iter(), "data points")?;
    let d = x.ncols() as f64;
    let prior = kernel_expectation(sde, x, t_min, t_max, quad.hermite, &mut |xs| {
        Ok(sde.prior_log_density(xs))
    })?;
    let mut diffusion_term = Array1::zeros(x.nrows());
    let mut n_evals = 0;
    let h = (t_max - t_min) / quad.time_panels as f64;
    for p in 0..quad.time_panels {
        let mid = t_min + (p as f64 + 0.5) * h;
        for (node, w) in GL8 {
            let t = mid + 0.5 * h * node;
            let (f, g2) = (sde.drift_coef(t), sde.diffusion(t).powi(2));
            // ANCHOR: bound_integrand
            let e = kernel_expectation(sde, x, t_min, t, quad.hermite, &mut |xs| {
                n_evals += xs.nrows();
                let s2 = score.score(t, xs)?.map_axis(Axis(1), |r| r.dot(&r));
                let div = score.divergence(t, xs)?;
                Ok(g2 * (s2 + 2.0 * div) - 2.0 * d * f)
            })?;
            // ANCHOR_END: bound_integrand
            diffusion_term.scaled_add(0.25 * h * w, &e);
        }
    }
    Ok(SdeBound {
        prior_term: -prior,
        diffusion_term,
        n_evals,
    })
}

/// `log p^SDE_{t_min}(x)` exactly, for the model that runs the reverse-time SDE with the
/// *exact* score of the mixture `p0` from the SDE's prior `π`: the exact reverse SDE moves any
/// law at `T` by the true backward kernels `p(x_{t_min} | x_T)`, so
/// `p^SDE_{t_min}(x) = ∫ π(y) p_{t_min}(x) p(y | x) / p_T(y) dy
///                  = p_{t_min}(x) E[π(x_T) / p_T(x_T) | x_{t_min} = x]`.
/// By Jensen's inequality `-log p^SDE ≤ -log p_{t_min} - E[log π/p_T] = L(x)`: the bound of
/// [`sde_likelihood_bound`] for the exact score.
pub fn exact_score_sde_log_likelihood(
    sde: &dyn LinearSde,
    p0: &crate::mixture::GaussianMixture,
    x: ArrayView2<f64>,
    t_min: f64,
    hermite: usize,
) -> Result<Array1<f64>> {
    let p_t = p0.diffused(sde, sde.t_max())?;
    let ratio = kernel_expectation(sde, x, t_min, sde.t_max(), hermite, &mut |xs| {
        Ok((sde.prior_log_density(xs) - p_t.log_pdf(xs)?).mapv(f64::exp))
    })?;
    Ok(p0.diffused(sde, t_min)?.log_pdf(x)? + ratio.mapv(f64::ln))
}
