//! Variance-preserving SDE: `f = -beta(t)/2`, `g = sqrt(beta(t))` (continuous DDPM).
//!
//! With `B(t) = ∫_0^t beta`: `mu(t) = exp(-B/2)`, `zeta(t)^2 = 1 - exp(-B)`.
use super::{check_t_max, LinearSde};
use crate::error::{positive, Error, Result};

/// The linear schedule `beta(t) = beta_min + t (beta_max - beta_min)`.
#[derive(Clone, Copy, Debug)]
pub struct LinearBeta {
    beta_min: f64,
    beta_max: f64,
}

impl LinearBeta {
    /// Errors unless `0 < beta_min <= beta_max`, both finite.
    pub fn new(beta_min: f64, beta_max: f64) -> Result<Self> {
        positive(beta_min, "beta_min")?;
        positive(beta_max, "beta_max")?;
        if beta_max < beta_min {
            return Err(Error::param(
                "beta_max",
                format!("must be >= beta_min = {beta_min}, got {beta_max}"),
            ));
        }
        Ok(Self { beta_min, beta_max })
    }

    /// Song et al.'s defaults: `beta_min = 0.1`, `beta_max = 20`.
    pub fn song() -> Self {
        Self {
            beta_min: 0.1,
            beta_max: 20.0,
        }
    }

    /// `beta_min` (validated by [`LinearBeta::new`]).
    pub fn beta_min(&self) -> f64 {
        self.beta_min
    }

    /// `beta_max` (validated by [`LinearBeta::new`]).
    pub fn beta_max(&self) -> f64 {
        self.beta_max
    }

    /// `beta(t)`.
    pub fn beta(&self, t: f64) -> f64 {
        self.beta_min + t * (self.beta_max - self.beta_min)
    }

    /// `B(t) = ∫_0^t beta = beta_min t + (beta_max - beta_min) t^2 / 2`.
    pub fn integral(&self, t: f64) -> f64 {
        self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t
    }
}

/// The VP SDE with a linear beta schedule on `[0, T]`.
#[derive(Clone, Copy, Debug)]
pub struct Vp {
    beta: LinearBeta,
    t_max: f64,
}

impl Vp {
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

impl LinearSde for Vp {
    fn name(&self) -> String {
        "VP".into()
    }
    fn t_max(&self) -> f64 {
        self.t_max
    }
    fn drift_coef(&self, t: f64) -> f64 {
        -0.5 * self.beta.beta(t)
    }
    fn diffusion(&self, t: f64) -> f64 {
        self.beta.beta(t).sqrt()
    }
    fn mean_factor(&self, t: f64) -> f64 {
        (-0.5 * self.beta.integral(t)).exp()
    }
    fn kernel_var(&self, t: f64) -> f64 {
        -(-self.beta.integral(t)).exp_m1()
    }
}
