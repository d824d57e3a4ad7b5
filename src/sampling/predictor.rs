//! Predictors: one step of a reverse-time sampler from `t` down to `t_prev < t`, with the score
//! evaluated at `t` (Song et al. 2020, sec. 4.2 and app. E; their code `score_sde`).
//!
//! With the exact forward transition between the two times, `x_t = a x_prev + b z`,
//! `a = mu(t) / mu(t_prev)`, `b^2 = zeta(t)^2 - a^2 zeta(t_prev)^2` (VE: `a = 1`,
//! `b^2 = sigma(t)^2 - sigma(t_prev)^2`; VP: `a = sqrt(1 - beta_i)`, `b^2 = beta_i`):
//! - Euler-Maruyama: `x ← x - [f(t) x - g(t)^2 s] Δt + g(t) sqrt(Δt) z`;
//! - reverse diffusion: the discrete forward step `x + (a - 1) x + b z` reversed,
//!   `x ← (2 - a) x + b^2 s + b z`;
//! - ancestral: `x ← (x + b^2 s) / a + b (zeta(t_prev) / zeta(t)) z`. The mean is the exact
//!   posterior mean `E[x_prev | x_t]` (Tweedie's formula for the transition); the noise is the
//!   posterior standard deviation of the Gaussian case, `b zeta(t_prev)/zeta(t)`, which is
//!   `score_sde`'s choice for VE (SMLD) and DDPM's `beta~` for VP (`score_sde` uses `sqrt(beta)`
//!   for VP, Ho et al.'s other admissible choice).
use ndarray::{Array2, ArrayView2, Zip};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sde::LinearSde;

/// Which predictor a predictor-corrector sampler uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Predictor {
    /// Euler-Maruyama for the reverse SDE.
    EulerMaruyama,
    /// The reverse of the discretised forward SDE.
    ReverseDiffusion,
    /// Ancestral sampling of the discrete chain (SMLD for VE, DDPM for VP).
    Ancestral,
    /// No predictor: the corrector alone, at each time of the grid.
    None,
}

impl Predictor {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Predictor::EulerMaruyama => "Euler-Maruyama",
            Predictor::ReverseDiffusion => "reverse diffusion",
            Predictor::Ancestral => "ancestral",
            Predictor::None => "none",
        }
    }

    /// Whether the step evaluates the score.
    pub fn uses_score(self) -> bool {
        self != Predictor::None
    }

    /// One step of every row of `x` from `t` to `t_prev`, given the score `s = s(t, x)`.
    pub fn step(
        self,
        sde: &dyn LinearSde,
        x: &mut Array2<f64>,
        s: ArrayView2<f64>,
        t: f64,
        t_prev: f64,
        rng: &mut dyn Rng,
    ) -> Result<()> {
        if t_prev.is_nan() || t.is_nan() || t_prev >= t {
            return Err(Error::param(
                "t_prev",
                format!("must be < t = {t}, got {t_prev}"),
            ));
        }
        crate::sde::check_same("predictor: score", x.dim(), s.dim())?;
        let Some((c_x, c_s, c_z)) = self.coefficients(sde, t, t_prev)? else {
            return Ok(());
        };
        Zip::from(x).and(&s).for_each(|x, &s| {
            let z: f64 = rng.sample(StandardNormal);
            *x = c_x * *x + c_s * s + c_z * z;
        });
        Ok(())
    }

    /// The step as a Gaussian kernel: `x ← c_x x + c_s s(t, x) + c_z z`, `z ~ N(0, I)`;
    /// returns `(c_x, c_s, c_z)`, or `None` for [`Predictor::None`]. Errors unless
    /// `t_prev < t`.
    pub fn coefficients(
        self,
        sde: &dyn LinearSde,
        t: f64,
        t_prev: f64,
    ) -> Result<Option<(f64, f64, f64)>> {
        if t_prev.is_nan() || t.is_nan() || t_prev >= t {
            return Err(Error::param(
                "t_prev",
                format!("must be < t = {t}, got {t_prev}"),
            ));
        }
        let (a, b2) = transition(sde, t, t_prev)?;
        let b = b2.sqrt();
        Ok(match self {
            Predictor::EulerMaruyama => {
                let dt = t - t_prev;
                let (f, g) = (sde.drift_coef(t), sde.diffusion(t));
                Some((1.0 - f * dt, g * g * dt, g * dt.sqrt()))
            }
            Predictor::ReverseDiffusion => Some((2.0 - a, b2, b)),
            Predictor::Ancestral => {
                let (z, zp) = (sde.kernel_std(t), sde.kernel_std(t_prev));
                let ratio = if z > 0.0 { zp / z } else { 0.0 };
                Some((1.0 / a, b2 / a, b * ratio))
            }
            Predictor::None => None,
        })
    }
}

/// The exact forward transition from `t_prev` to `t`: `(a, b^2)` with
/// `x_t = a x_prev + b z`, `a = mu(t)/mu(t_prev)`, `b^2 = zeta(t)^2 - a^2 zeta(t_prev)^2`.
pub fn transition(sde: &dyn LinearSde, t: f64, t_prev: f64) -> Result<(f64, f64)> {
    let a = sde.mean_factor(t) / sde.mean_factor(t_prev);
    let b2 = sde.kernel_var(t) - a * a * sde.kernel_var(t_prev);
    if !(a.is_finite() && a > 0.0 && b2.is_finite()) {
        return Err(Error::param(
            "t",
            format!("no valid transition from {t_prev} to {t}: a = {a}, b^2 = {b2}"),
        ));
    }
    Ok((a, b2.max(0.0)))
}
