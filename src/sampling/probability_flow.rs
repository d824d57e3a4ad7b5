//! The probability-flow ODE `dx/dt = f(t) x - ½ g(t)^2 s(t, x)` (Song et al. 2020, eq. 13)
//! integrated from `T` down to `t_min` as a deterministic sampler.
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ode::{dopri5, rk4, Dopri5Options, OdeSolution};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// How to integrate an ODE.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OdeMethod {
    /// Classical RK4 with this many equal steps (4 evaluations per step).
    Rk4 { n_steps: usize },
    /// Adaptive Dormand-Prince 5(4) with these tolerances.
    Dopri5 { rtol: f64, atol: f64 },
}

impl OdeMethod {
    /// Integrates `dy/dt = f(t, y)` from `t0` to `t1`.
    pub fn solve<F>(&self, f: F, t0: f64, t1: f64, y0: Array2<f64>) -> Result<OdeSolution>
    where
        F: FnMut(f64, ArrayView2<f64>) -> Result<Array2<f64>>,
    {
        match *self {
            OdeMethod::Rk4 { n_steps } => rk4(f, t0, t1, y0, n_steps),
            OdeMethod::Dopri5 { rtol, atol } => {
                dopri5(f, t0, t1, y0, &Dopri5Options::new(rtol, atol))
            }
        }
    }
}

/// The velocity of the probability flow, `f(t) x - ½ g(t)^2 s(t, x)`, for each row of `x`.
pub fn flow_velocity(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    t: f64,
    x: ArrayView2<f64>,
) -> Result<Array2<f64>> {
    let s = score.score(t, x)?;
    sde.probability_flow_drift(t, x, s.view())
}

/// Integrates the probability-flow ODE from the states `x_t_max` at `T` down to `t_min`.
/// The solution's `n_evals` is the number of score evaluations (each on the whole batch).
pub fn probability_flow_sample(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    x_t_max: Array2<f64>,
    t_min: f64,
    method: &OdeMethod,
) -> Result<OdeSolution> {
    let t_max = sde.t_max();
    if !(t_min.is_finite() && t_min >= 0.0 && t_min < t_max) {
        return Err(Error::param(
            "t_min",
            format!("must lie in [0, T = {t_max}), got {t_min}"),
        ));
    }
    method.solve(
        |t, x| flow_velocity(sde, score, t, x),
        t_max,
        t_min,
        x_t_max,
    )
}
