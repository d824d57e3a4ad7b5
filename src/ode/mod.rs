//! Solvers for ODEs `dy/dt = F(t, y)` whose state is a batch `[n, m]` (one row per particle):
//! the classical fourth-order Runge-Kutta method with a fixed step and the adaptive
//! Dormand-Prince 5(4) pair with error control (`rtol`, `atol`). Both integrate forwards
//! (`t1 > t0`) or backwards (`t1 < t0`) and count the evaluations of `F`.
use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

mod dopri5;
mod rk4;

pub use dopri5::{dopri5, Dopri5Options};
pub use rk4::rk4;

/// The end state of an integration and what it cost.
#[derive(Clone, Debug)]
pub struct OdeSolution {
    /// The state at the final time, `[n, m]`.
    pub y: Array2<f64>,
    /// Number of evaluations of the right-hand side `F`.
    pub n_evals: usize,
    /// Number of accepted steps.
    pub n_steps: usize,
    /// Number of rejected steps (always 0 for a fixed-step method).
    pub n_rejected: usize,
}

/// Calls `f(t, y)` and checks that it returns a finite array of the shape of `y`.
pub(crate) fn eval<F>(
    f: &mut F,
    t: f64,
    y: ArrayView2<f64>,
    n_evals: &mut usize,
) -> Result<Array2<f64>>
where
    F: FnMut(f64, ArrayView2<f64>) -> Result<Array2<f64>>,
{
    let k = f(t, y)?;
    *n_evals += 1;
    if k.dim() != y.dim() {
        return Err(Error::shape(
            "ODE right-hand side",
            format!("{:?}", y.dim()),
            format!("{:?}", k.dim()),
        ));
    }
    crate::error::all_finite(k.iter(), "ODE right-hand side")?;
    Ok(k)
}

/// Checks the interval and the initial state.
pub(crate) fn check_interval(t0: f64, t1: f64, y0: &Array2<f64>) -> Result<()> {
    crate::error::finite(t0, "ODE start time")?;
    crate::error::finite(t1, "ODE end time")?;
    crate::error::all_finite(y0.iter(), "ODE initial state")
}
