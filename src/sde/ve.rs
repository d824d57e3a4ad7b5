//! Variance-exploding SDE: `f = 0`, `g(t) = sqrt(d sigma(t)^2 / dt)`.
//!
//! Then `mu(t) = 1` and `zeta(t)^2 = sigma(t)^2 - sigma(0)^2`; the kernel is
//! `N(x; x0, sigma(t)^2 - sigma(0)^2)`. `g` is obtained from `sigma` by forward-mode
//! autodiff, so any noise scale written generically over [`Float`] gets an exact `g`.
use autodiff::{Float, F1};

use super::{check_t_max, LinearSde};
use crate::error::{positive, Error, Result};

/// A VE noise scale `sigma(t)`, written generically so forward mode can differentiate it.
pub trait NoiseScale: Send + Sync {
    /// `sigma(t)`.
    fn sigma<T: Float>(&self, t: T) -> T;
    /// `sigma(t)^2`, the quantity `g^2` differentiates. Override it where `sigma` itself is
    /// not differentiable but its square is (`sqrt(t)` at `t = 0`).
    fn sigma2<T: Float>(&self, t: T) -> T {
        let s = self.sigma(t);
        s * s
    }
    /// A short label for figures.
    fn label(&self) -> String;
}

/// The seed's noise scale `sigma(t) = sqrt(t)`, so `g = 1` and `zeta(t)^2 = t`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SqrtT;

impl NoiseScale for SqrtT {
    fn sigma<T: Float>(&self, t: T) -> T {
        t.sqrt()
    }
    /// `sigma^2 = t` exactly, so `g(0) = 1` (differentiating `sqrt(t)^2` gives `0 · ∞` there).
    fn sigma2<T: Float>(&self, t: T) -> T {
        t
    }
    fn label(&self) -> String {
        "sigma(t) = sqrt(t)".into()
    }
}

/// Geometric noise scale `sigma(t) = sigma_min (sigma_max / sigma_min)^t` (Song et al. 2020; seed 001).
#[derive(Clone, Copy, Debug)]
pub struct Geometric {
    sigma_min: f64,
    sigma_max: f64,
}

impl Geometric {
    /// Errors unless `0 < sigma_min < sigma_max`, both finite.
    pub fn new(sigma_min: f64, sigma_max: f64) -> Result<Self> {
        positive(sigma_min, "sigma_min")?;
        positive(sigma_max, "sigma_max")?;
        if sigma_min >= sigma_max {
            return Err(Error::param(
                "sigma_max",
                format!("must exceed sigma_min = {sigma_min}, got {sigma_max}"),
            ));
        }
        Ok(Self {
            sigma_min,
            sigma_max,
        })
    }

    /// `sigma_min = sigma(0)`.
    pub fn sigma_min(&self) -> f64 {
        self.sigma_min
    }

    /// `sigma_max = sigma(1)`.
    pub fn sigma_max(&self) -> f64 {
        self.sigma_max
    }
}

impl NoiseScale for Geometric {
    fn sigma<T: Float>(&self, t: T) -> T {
        let lo = T::from(self.sigma_min).unwrap();
        let ratio = T::from(self.sigma_max / self.sigma_min).unwrap();
        lo * ratio.powf(t)
    }
    fn label(&self) -> String {
        format!(
            "sigma(t) = {} ({}/{})^t",
            self.sigma_min, self.sigma_max, self.sigma_min
        )
    }
}

/// Grid intervals on which [`Ve::new`] checks `sigma >= 0` and `d sigma^2/dt >= 0`.
const CHECK_POINTS: usize = 1024;

/// The VE SDE for a noise scale `S` on `[0, T]`.
#[derive(Clone, Debug)]
pub struct Ve<S: NoiseScale> {
    scale: S,
    t_max: f64,
}

impl<S: NoiseScale> Ve<S> {
    /// Errors on a non-positive `T` or on a noise scale that is negative, non-finite or
    /// decreasing on `[0, T]` (then `g^2 = d sigma^2/dt` would be negative).
    pub fn new(scale: S, t_max: f64) -> Result<Self> {
        check_t_max(t_max)?;
        let sde = Self { scale, t_max };
        for i in 0..=CHECK_POINTS {
            let t = t_max * i as f64 / CHECK_POINTS as f64;
            let s = sde.sigma(t);
            if !(s.is_finite() && s >= 0.0) {
                return Err(Error::param(
                    "sigma",
                    format!("sigma(t) must be finite and >= 0, got {s} at t = {t}"),
                ));
            }
            if t > 0.0 && sde.sigma2_rate(t) < 0.0 {
                return Err(Error::param(
                    "sigma",
                    format!("sigma(t)^2 must not decrease, but d sigma^2/dt < 0 at t = {t}"),
                ));
            }
        }
        Ok(sde)
    }

    /// The noise scale.
    pub fn scale(&self) -> &S {
        &self.scale
    }

    /// `sigma(t)`.
    pub fn sigma(&self, t: f64) -> f64 {
        self.scale.sigma(t)
    }

    /// `d sigma(t)^2 / dt` by forward-mode autodiff of [`NoiseScale::sigma2`].
    pub fn sigma2_rate(&self, t: f64) -> f64 {
        self.scale.sigma2(F1::var(t)).deriv()
    }
}

impl Ve<SqrtT> {
    /// The seed's SDE: `sigma(t) = sqrt(t)` on `[0, 1]`.
    pub fn seed() -> Self {
        Self {
            scale: SqrtT,
            t_max: 1.0,
        }
    }
}

impl<S: NoiseScale> LinearSde for Ve<S> {
    fn name(&self) -> String {
        format!("VE ({})", self.scale.label())
    }
    fn t_max(&self) -> f64 {
        self.t_max
    }
    fn drift_coef(&self, _t: f64) -> f64 {
        0.0
    }
    /// `g = sqrt(d sigma^2/dt)`: NaN, not a silent 0, where the rate is negative (which
    /// [`Ve::new`] rejects on a grid of 1025 times; the samplers' finiteness checks catch a NaN).
    fn diffusion(&self, t: f64) -> f64 {
        self.sigma2_rate(t).sqrt()
    }
    fn mean_factor(&self, _t: f64) -> f64 {
        1.0
    }
    fn kernel_var(&self, t: f64) -> f64 {
        let (s, s0) = (self.sigma(t), self.sigma(0.0));
        s * s - s0 * s0
    }
}
