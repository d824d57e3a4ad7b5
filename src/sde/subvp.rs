//! Sub-VP SDE: `f = -beta(t)/2`, `g = sqrt(beta(t) (1 - exp(-2 B(t))))`.
//!
//! `mu(t) = exp(-B/2)` as for VP, and `zeta(t)^2 = (1 - exp(-B))^2`, never above the VP variance.
use super::{check_t_max, LinearBeta, LinearSde};
use crate::error::Result;

/// The sub-VP SDE with a linear beta schedule on `[0, T]`.
#[derive(Clone, Copy, Debug)]
pub struct SubVp {
    beta: LinearBeta,
    t_max: f64,
}

impl SubVp {
    /// Errors on a non-positive `T`.
    pub fn new(beta: LinearBeta, t_max: f64) -> Result<Self> {
        Ok(Self {
            beta,
            t_max: check_t_max(t_max)?,
        })
    }
    /// `beta_min = 0.1`, `beta_max = 20`, `T = 1`.
    pub fn song() -> Self {
        Self {
            beta: LinearBeta::song(),
            t_max: 1.0,
        }
    }

    /// The beta schedule.
    pub fn beta(&self) -> LinearBeta {
        self.beta
    }
}

impl LinearSde for SubVp {
    fn name(&self) -> String {
        "sub-VP".into()
    }
    fn t_max(&self) -> f64 {
        self.t_max
    }
    fn drift_coef(&self, t: f64) -> f64 {
        -0.5 * self.beta.beta(t)
    }
    fn diffusion(&self, t: f64) -> f64 {
        let b = self.beta.integral(t);
        (self.beta.beta(t) * -(-2.0 * b).exp_m1()).sqrt()
    }
    fn mean_factor(&self, t: f64) -> f64 {
        (-0.5 * self.beta.integral(t)).exp()
    }
    fn kernel_var(&self, t: f64) -> f64 {
        (-self.beta.integral(t)).exp_m1().powi(2)
    }
}
