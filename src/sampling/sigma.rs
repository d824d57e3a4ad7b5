//! The noise-to-signal view shared by the fast samplers (Karras et al. 2022, Lu et al. 2022).
//!
//! Every linear SDE has `x_t = mu(t) x_0 + zeta(t) z`, so `y = x / mu(t)` is a variance-exploding
//! process `y_t = x_0 + sigma(t) z` with `sigma(t) = zeta(t) / mu(t)` (VE: `sigma = zeta`; VP:
//! `sigma^2 = e^{B(t)} - 1`). `lambda = -log sigma = log(mu / zeta)` is half the log-SNR.
//! The samplers of this module work on `y` and `sigma` and see the score only through two views
//! of it (Tweedie's formula):
//! - the noise prediction `eps(t, x) = -zeta(t) s(t, x)`, never divided by `sigma` (it is 0, not
//!   0/0, at `sigma = 0`);
//! - the denoiser `D(t, x) = (x + zeta(t)^2 s(t, x)) / mu(t) = y - sigma eps`.
//!
//! In these variables the probability-flow ODE is `dy/dsigma = eps(t(sigma), mu y)`.
use ndarray::{Array2, ArrayView2};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// `sigma(t) = zeta(t) / mu(t)`.
pub fn sigma_of_t(sde: &dyn LinearSde, t: f64) -> f64 {
    sde.kernel_std(t) / sde.mean_factor(t)
}

/// `lambda(t) = -log sigma(t)` (`+inf` at `sigma = 0`).
pub fn lambda_of_t(sde: &dyn LinearSde, t: f64) -> f64 {
    -sigma_of_t(sde, t).ln()
}

/// The time with `sigma(t) = sigma`, by bisection on the increasing `sigma(t)` (to 1e-15
/// relative in `t`); the bracket grows past `T` when `sigma > sigma(T)` (EDM's churn does so).
pub fn t_of_sigma(sde: &dyn LinearSde, sigma: f64) -> Result<f64> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(Error::param(
            "sigma",
            format!("must be finite and >= 0, got {sigma}"),
        ));
    }
    if sigma == 0.0 {
        return Ok(0.0);
    }
    let mut hi = sde.t_max();
    let mut grow = 0;
    while sigma_of_t(sde, hi) < sigma {
        hi *= 2.0;
        grow += 1;
        if grow > 60 || !hi.is_finite() {
            return Err(Error::param(
                "sigma",
                format!("{sigma} is beyond the SDE's noise range"),
            ));
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if sigma_of_t(sde, mid) < sigma {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// How the grid of a sampler is spaced between `T` and its end.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Schedule {
    /// Equal steps in `t` from `T` down to `t_min` (Song et al.).
    UniformT { t_min: f64 },
    /// Karras et al.'s `sigma_i = (sigma_max^{1/rho} + i/N (sigma_min^{1/rho} -
    /// sigma_max^{1/rho}))^rho`, `i = 0..=N`; `sigma_min = 0` is allowed and ends at `t = 0`.
    Karras { rho: f64, sigma_min: f64 },
    /// Equal steps in `lambda = -log sigma` down to `sigma_min > 0` (DPM-Solver's choice).
    LogSnr { sigma_min: f64 },
}

impl Schedule {
    /// The `N + 1` decreasing times `T = t_0 > t_1 > ... > t_N` of `n_steps = N` steps.
    pub fn times(&self, sde: &dyn LinearSde, n_steps: usize) -> Result<Vec<f64>> {
        if n_steps == 0 {
            return Err(Error::param("n_steps", "must be >= 1, got 0"));
        }
        let t_max = sde.t_max();
        let s_max = sigma_of_t(sde, t_max);
        let n = n_steps as f64;
        let ts = match *self {
            Schedule::UniformT { t_min } => {
                if !(t_min.is_finite() && (0.0..t_max).contains(&t_min)) {
                    return Err(Error::param(
                        "t_min",
                        format!("must lie in [0, T = {t_max}), got {t_min}"),
                    ));
                }
                (0..=n_steps)
                    .map(|i| t_max - (t_max - t_min) * i as f64 / n)
                    .collect()
            }
            Schedule::Karras { rho, sigma_min } => {
                crate::error::positive(rho, "rho")?;
                check_sigma_min(sigma_min, s_max, true)?;
                let (a, b) = (s_max.powf(1.0 / rho), sigma_min.powf(1.0 / rho));
                let mut ts = vec![t_max];
                for i in 1..=n_steps {
                    let s = (a + i as f64 / n * (b - a)).max(0.0).powf(rho);
                    ts.push(t_of_sigma(sde, s)?);
                }
                ts
            }
            Schedule::LogSnr { sigma_min } => {
                check_sigma_min(sigma_min, s_max, false)?;
                let (a, b) = (-s_max.ln(), -sigma_min.ln());
                let mut ts = vec![t_max];
                for i in 1..=n_steps {
                    ts.push(t_of_sigma(sde, (-(a + i as f64 / n * (b - a))).exp())?);
                }
                ts
            }
        };
        check_grid(sde, &ts)?;
        Ok(ts)
    }
}

fn check_sigma_min(sigma_min: f64, s_max: f64, zero_ok: bool) -> Result<()> {
    let ok = sigma_min.is_finite() && sigma_min < s_max && (sigma_min > 0.0 || zero_ok);
    if ok && sigma_min >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            "sigma_min",
            format!(
                "must lie in {}0, sigma(T) = {s_max}), got {sigma_min}",
                if zero_ok { "[" } else { "(" }
            ),
        ))
    }
}

/// Checks a sampler grid: at least two times, finite, in `[0, T]`, strictly decreasing.
pub fn check_grid(sde: &dyn LinearSde, ts: &[f64]) -> Result<()> {
    if ts.len() < 2 {
        return Err(Error::param(
            "grid",
            format!("needs at least 2 times, got {}", ts.len()),
        ));
    }
    let t_max = sde.t_max();
    for (i, &t) in ts.iter().enumerate() {
        if !(t.is_finite() && (0.0..=t_max).contains(&t)) {
            return Err(Error::param(
                "grid",
                format!("time {i} is {t}, outside [0, T = {t_max}]"),
            ));
        }
        if i > 0 && t >= ts[i - 1] {
            return Err(Error::param(
                "grid",
                format!("must decrease strictly, got {} then {t}", ts[i - 1]),
            ));
        }
    }
    Ok(())
}

/// A score seen in the sigma-parameterisation, with a count of its evaluations (the NFE).
pub struct Model<'a> {
    pub sde: &'a dyn LinearSde,
    pub score: &'a dyn ScoreFn,
    nfe: AtomicUsize,
}

impl<'a> Model<'a> {
    pub fn new(sde: &'a dyn LinearSde, score: &'a dyn ScoreFn) -> Self {
        Self {
            sde,
            score,
            nfe: AtomicUsize::new(0),
        }
    }

    /// Score evaluations so far (each on the whole batch).
    pub fn nfe(&self) -> usize {
        self.nfe.load(Ordering::Relaxed)
    }

    /// Adds evaluations made outside [`Model::eps`] (the Langevin corrector's).
    pub fn add_nfe(&self, n: usize) {
        self.nfe.fetch_add(n, Ordering::Relaxed);
    }

    /// `sigma(t)`.
    pub fn sigma(&self, t: f64) -> f64 {
        sigma_of_t(self.sde, t)
    }

    // ANCHOR: views
    /// `eps(t, mu(t) y) = -zeta(t) s(t, mu(t) y)` for the scaled states `y`.
    pub fn eps(&self, t: f64, y: ArrayView2<f64>) -> Result<Array2<f64>> {
        let (mu, zeta) = (self.sde.mean_factor(t), self.sde.kernel_std(t));
        let x = &y * mu;
        let s = self.score.score(t, x.view())?;
        crate::sde::check_same("score output", y.dim(), s.dim())?;
        self.nfe.fetch_add(1, Ordering::Relaxed);
        let e = s * (-zeta);
        crate::error::all_finite(e.iter(), "eps prediction")?;
        Ok(e)
    }

    /// The denoiser `D = y - sigma(t) eps` (Tweedie's `E[x_0 | x_t]` for the exact score).
    pub fn denoise(&self, t: f64, y: ArrayView2<f64>) -> Result<Array2<f64>> {
        let e = self.eps(t, y)?;
        Ok(&y - &(e * self.sigma(t)))
    }
    // ANCHOR_END: views
}

/// Scales states between `x` and `y = x / mu(t)`.
pub fn to_y(sde: &dyn LinearSde, t: f64, x: Array2<f64>) -> Array2<f64> {
    x / sde.mean_factor(t)
}

/// `x = mu(t) y`.
pub fn to_x(sde: &dyn LinearSde, t: f64, y: Array2<f64>) -> Array2<f64> {
    y * sde.mean_factor(t)
}
