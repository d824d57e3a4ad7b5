//! Linear SDEs `dX = f(t) X dt + g(t) dW` and their Gaussian transition kernels.
//!
//! The solution (integrating factor `exp(-∫_0^t f)`) is
//! `X_t = mu(t) X_0 + ∫_0^t exp(∫_s^t f) g(s) dW_s`, so
//! `p(t, x | 0, x0) = N(x; mu(t) x0, zeta(t)^2 I)` with
//! `mu(t) = exp(∫_0^t f)` and `zeta(t)^2 = ∫_0^t exp(2 ∫_s^t f) g(s)^2 ds` (Ito isometry).
//! We write `zeta` for the kernel standard deviation so that it never clashes with the
//! VE noise scale `sigma(t)`.
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Zip};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::error::{Error, Result};

mod choice;
mod generic;
mod subvp;
mod ve;
mod vp;

pub use choice::{SdeChoice, MAX_SCALE};
pub use generic::GenericSde;
pub use subvp::SubVp;
pub use ve::{Geometric, NoiseScale, SqrtT, Ve};
pub use vp::{LinearBeta, Vp};

/// A linear SDE `dX = f(t) X dt + g(t) dW` on `[0, T]`, acting on batches `[n, d]`.
pub trait LinearSde: Send + Sync {
    /// A short name for logs and figures ("VE", "VP", ...).
    fn name(&self) -> String;
    /// The end time `T`.
    fn t_max(&self) -> f64;
    /// Drift coefficient `f(t)`.
    fn drift_coef(&self, t: f64) -> f64;
    /// Diffusion coefficient `g(t)`.
    fn diffusion(&self, t: f64) -> f64;
    /// Mean factor `mu(t) = exp(∫_0^t f(s) ds)`.
    fn mean_factor(&self, t: f64) -> f64;
    /// Kernel variance `zeta(t)^2 = ∫_0^t exp(2 ∫_s^t f) g(s)^2 ds`.
    fn kernel_var(&self, t: f64) -> f64;

    /// Kernel standard deviation `zeta(t)`.
    fn kernel_std(&self, t: f64) -> f64 {
        self.kernel_var(t).sqrt()
    }

    /// Variance of the Gaussian prior `N(0, prior_var I)` that stands in for `p_T`:
    /// `zeta(T)^2`, i.e. the kernel at `T` with the data's contribution `mu(T) x0` dropped.
    fn prior_var(&self) -> f64 {
        self.kernel_var(self.t_max())
    }

    /// `x_t = mu(t_i) x0_i + zeta(t_i) z_i`, one time per row (reparametrised kernel draw).
    fn perturb(
        &self,
        x0: ArrayView2<f64>,
        t: ArrayView1<f64>,
        noise: ArrayView2<f64>,
    ) -> Result<Array2<f64>> {
        check_rows("perturb: t", x0.nrows(), t.len())?;
        check_same("perturb: noise", x0.dim(), noise.dim())?;
        let mut out = Array2::zeros(x0.dim());
        for (i, &ti) in t.iter().enumerate() {
            let (m, s) = (self.mean_factor(ti), self.kernel_std(ti));
            Zip::from(out.row_mut(i))
                .and(x0.row(i))
                .and(noise.row(i))
                .for_each(|o, &a, &z| *o = m * a + s * z);
        }
        Ok(out)
    }

    /// Stein score of the kernel, `∇_x log p(t, x | 0, x0) = -(x - mu(t) x0) / zeta(t)^2`.
    fn conditional_score(
        &self,
        t: f64,
        x: ArrayView2<f64>,
        x0: ArrayView2<f64>,
    ) -> Result<Array2<f64>> {
        check_same("conditional_score: x0", x.dim(), x0.dim())?;
        crate::error::finite(t, "t")?;
        let (m, v) = (self.mean_factor(t), self.kernel_var(t));
        if !(v > 0.0 && v.is_finite() && m.is_finite()) {
            return Err(Error::param(
                "t",
                format!("kernel variance is {v} at t = {t}: the score is undefined"),
            ));
        }
        Ok(Zip::from(&x)
            .and(&x0)
            .map_collect(|&a, &b| -(a - m * b) / v))
    }

    /// `n` draws of the prior `N(0, prior_var I_d)`.
    fn sample_prior(&self, n: usize, d: usize, rng: &mut dyn Rng) -> Array2<f64> {
        let s = self.prior_var().sqrt();
        Array2::from_shape_simple_fn((n, d), || s * rng.sample::<f64, _>(StandardNormal))
    }

    /// Log-density of the prior at each row of `x`.
    fn prior_log_density(&self, x: ArrayView2<f64>) -> Array1<f64> {
        let v = self.prior_var();
        let d = x.ncols() as f64;
        let c = -0.5 * d * (2.0 * std::f64::consts::PI * v).ln();
        x.rows()
            .into_iter()
            .map(|r| c - 0.5 * r.dot(&r) / v)
            .collect()
    }

    /// Drift of the reverse-time SDE (Anderson 1982), `f(t) x - g(t)^2 score`;
    /// the reverse process is `dX = [f X - g^2 ∇log p_t] dt + g dW̄` run from T down to 0.
    /// The `λ = 1` member of [`reverse_family_drift`](Self::reverse_family_drift).
    fn reverse_drift(
        &self,
        t: f64,
        x: ArrayView2<f64>,
        score: ArrayView2<f64>,
    ) -> Result<Array2<f64>> {
        self.reverse_family_drift(t, x, score, 1.0)
    }

    /// Drift of the probability-flow ODE, `f(t) x - g(t)^2 score / 2` (Song et al. 2020, eq. 13).
    /// The `λ = 0` member of [`reverse_family_drift`](Self::reverse_family_drift).
    fn probability_flow_drift(
        &self,
        t: f64,
        x: ArrayView2<f64>,
        score: ArrayView2<f64>,
    ) -> Result<Array2<f64>> {
        self.reverse_family_drift(t, x, score, 0.0)
    }

    /// Drift `f(t) x - (1 + λ²)/2 g(t)^2 score` of the family of reverse-time processes with
    /// diffusion `λ g(t)` that all have the marginals `p_t` (the reverse-SDE chapter): `λ = 1`
    /// is Anderson's reverse SDE, `λ = 0` the probability-flow ODE. Errors on a negative or
    /// non-finite `λ` and on a score whose shape differs from `x`.
    fn reverse_family_drift(
        &self,
        t: f64,
        x: ArrayView2<f64>,
        score: ArrayView2<f64>,
        lambda: f64,
    ) -> Result<Array2<f64>> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(Error::param(
                "lambda",
                format!("must be finite and >= 0, got {lambda}"),
            ));
        }
        check_same("drift: score", x.dim(), score.dim())?;
        let c = 0.5 * (1.0 + lambda * lambda);
        let (f, g2) = (self.drift_coef(t), self.diffusion(t).powi(2));
        Ok(Zip::from(&x)
            .and(&score)
            .map_collect(|&a, &s| f * a - c * g2 * s))
    }
}

pub(crate) fn check_same(what: &str, a: (usize, usize), b: (usize, usize)) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::shape(what, format!("{a:?}"), format!("{b:?}")))
    }
}

pub(crate) fn check_rows(what: &str, n: usize, m: usize) -> Result<()> {
    if n == m {
        Ok(())
    } else {
        Err(Error::shape(what, format!("{n} rows"), format!("{m}")))
    }
}

/// Checks a time horizon `T`: finite and > 0.
pub(crate) fn check_t_max(t_max: f64) -> Result<f64> {
    crate::error::positive(t_max, "t_max")
}
