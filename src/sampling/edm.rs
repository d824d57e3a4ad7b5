//! Euler and Heun in sigma (Karras et al. 2022, Algorithms 1 and 2) for
//! `dy/dsigma = eps(t(sigma), mu y)`.
//!
//! Heun's step takes the Euler step to `sigma_n`, evaluates `eps` there and averages the two
//! slopes (trapezoid); it is skipped on a step that ends at `sigma = 0`, where Euler's step
//! lands on `D` (so `2N - 1` evaluations for `N` steps ending at 0). The stochastic variant
//! (Algorithm 2, "churn") first raises the noise level from `sigma` to
//! `sigma_hat = (1 + gamma) sigma` by adding fresh noise of variance `sigma_hat^2 - sigma^2`,
//! then takes the Heun step from `sigma_hat`.
use ndarray::{Array2, Zip};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::sigma::{check_grid, t_of_sigma, to_x, to_y, Model};
use crate::error::{Error, Result};

/// EDM's churn settings: `gamma = min(s_churn / N, sqrt 2 - 1)` on `sigma` in
/// `[s_tmin, s_tmax]`, noise scaled by `s_noise`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    pub s_churn: f64,
    pub s_tmin: f64,
    pub s_tmax: f64,
    pub s_noise: f64,
}

impl Churn {
    /// No churn: the deterministic Heun sampler.
    pub fn none() -> Self {
        Self {
            s_churn: 0.0,
            s_tmin: 0.0,
            s_tmax: f64::INFINITY,
            s_noise: 1.0,
        }
    }

    fn validate(&self) -> Result<()> {
        let ok = self.s_churn.is_finite()
            && self.s_churn >= 0.0
            && self.s_tmin >= 0.0
            && self.s_tmax >= self.s_tmin
            && self.s_noise.is_finite()
            && self.s_noise >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::param("churn", format!("invalid settings {self:?}")))
        }
    }
}

// ANCHOR: euler
/// Euler in sigma: `y_n = y + (sigma_n - sigma_c) eps(t_c, x)` (one evaluation per step).
pub fn euler(model: &Model, x: Array2<f64>, ts: &[f64]) -> Result<Array2<f64>> {
    check_grid(model.sde, ts)?;
    let mut y = to_y(model.sde, ts[0], x);
    for w in ts.windows(2) {
        let d = model.eps(w[0], y.view())?;
        y.scaled_add(model.sigma(w[1]) - model.sigma(w[0]), &d);
    }
    Ok(to_x(model.sde, ts[ts.len() - 1], y))
}
// ANCHOR_END: euler

// ANCHOR: heun
/// Heun in sigma with optional churn (EDM Algorithm 2; Algorithm 1 with [`Churn::none`]).
pub fn heun(
    model: &Model,
    x: Array2<f64>,
    ts: &[f64],
    churn: &Churn,
    rng: &mut dyn Rng,
) -> Result<Array2<f64>> {
    check_grid(model.sde, ts)?;
    churn.validate()?;
    let n = (ts.len() - 1) as f64;
    let mut y = to_y(model.sde, ts[0], x);
    for w in ts.windows(2) {
        let (mut tc, sc, sn) = (w[0], model.sigma(w[0]), model.sigma(w[1]));
        let mut s_hat = sc;
        if churn.s_churn > 0.0 && (churn.s_tmin..=churn.s_tmax).contains(&sc) {
            let gamma = (churn.s_churn / n).min(std::f64::consts::SQRT_2 - 1.0);
            s_hat = sc * (1.0 + gamma);
            tc = t_of_sigma(model.sde, s_hat)?;
            let add = churn.s_noise * (s_hat * s_hat - sc * sc).sqrt();
            y.mapv_inplace(|v| v + add * rng.sample::<f64, _>(StandardNormal));
        }
        let d = model.eps(tc, y.view())?;
        let h = sn - s_hat;
        if sn == 0.0 {
            y.scaled_add(h, &d);
            continue;
        }
        let y_euler = &y + &(&d * h);
        let d2 = model.eps(w[1], y_euler.view())?;
        Zip::from(&mut y)
            .and(&d)
            .and(&d2)
            .for_each(|y, &a, &b| *y += 0.5 * h * (a + b));
    }
    Ok(to_x(model.sde, ts[ts.len() - 1], y))
}
// ANCHOR_END: heun

/// Classical RK4 for `dy/dsigma = eps` with one step per grid interval (midpoint at the
/// arithmetic mean of the two sigmas; four evaluations per step).
pub fn rk4_sigma(model: &Model, x: Array2<f64>, ts: &[f64]) -> Result<Array2<f64>> {
    check_grid(model.sde, ts)?;
    let mut y = to_y(model.sde, ts[0], x);
    for w in ts.windows(2) {
        let (sc, sn) = (model.sigma(w[0]), model.sigma(w[1]));
        let h = sn - sc;
        let tm = t_of_sigma(model.sde, 0.5 * (sc + sn))?;
        let k1 = model.eps(w[0], y.view())?;
        let k2 = model.eps(tm, (&y + &(&k1 * (0.5 * h))).view())?;
        let k3 = model.eps(tm, (&y + &(&k2 * (0.5 * h))).view())?;
        let k4 = model.eps(w[1], (&y + &(&k3 * h)).view())?;
        Zip::from(&mut y)
            .and(&k1)
            .and(&k2)
            .and(&k3)
            .and(&k4)
            .for_each(|y, &a, &b, &c, &d| *y += h / 6.0 * (a + 2.0 * b + 2.0 * c + d));
    }
    Ok(to_x(model.sde, ts[ts.len() - 1], y))
}
