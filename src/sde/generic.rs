//! A linear SDE from any `f` and `g`, with `mu` and `zeta^2` by quadrature of the general
//! formulas. It checks the closed forms of [`Ve`](super::Ve), [`Vp`](super::Vp) and
//! [`SubVp`](super::SubVp).
use super::{check_t_max, LinearSde};
use crate::error::{finite, positive, Result};
use crate::quadrature::integrate;

type Coef = Box<dyn Fn(f64) -> f64 + Send + Sync>;

/// `dX = f(t) X dt + g(t) dW` with user-given `f`, `g`.
pub struct GenericSde {
    f: Coef,
    g: Coef,
    t_max: f64,
    /// Absolute tolerance of the quadratures.
    tol: f64,
}

/// Times `T i / CHECK_POINTS` at which [`GenericSde::new`] runs the quadratures once.
const CHECK_POINTS: usize = 16;

impl GenericSde {
    /// Errors on a non-positive `T`, on `f` or `g` not finite, or on a quadrature of `mu` or
    /// `zeta^2` that fails (or is not finite) at any of 17 times in `[0, T]`, with the default
    /// absolute tolerance 1e-11.
    pub fn new(
        f: impl Fn(f64) -> f64 + Send + Sync + 'static,
        g: impl Fn(f64) -> f64 + Send + Sync + 'static,
        t_max: f64,
    ) -> Result<Self> {
        Self::with_tol(f, g, t_max, 1e-11)
    }

    /// As [`new`](Self::new), with the quadratures' absolute tolerance `tol > 0`.
    pub fn with_tol(
        f: impl Fn(f64) -> f64 + Send + Sync + 'static,
        g: impl Fn(f64) -> f64 + Send + Sync + 'static,
        t_max: f64,
        tol: f64,
    ) -> Result<Self> {
        let sde = Self {
            f: Box::new(f),
            g: Box::new(g),
            t_max: check_t_max(t_max)?,
            tol: positive(tol, "tol")?,
        };
        for i in 0..=CHECK_POINTS {
            let t = sde.t_max * i as f64 / CHECK_POINTS as f64;
            finite((sde.f)(t), "f(t)")?;
            finite((sde.g)(t), "g(t)")?;
            finite(sde.try_mean_factor(t)?, "mu(t)")?;
            finite(sde.try_kernel_var(t)?, "zeta(t)^2")?;
        }
        Ok(sde)
    }

    /// The quadratures' absolute tolerance.
    pub fn tol(&self) -> f64 {
        self.tol
    }

    /// `F(t) = ∫_0^t f(s) ds`.
    fn f_integral(&self, t: f64) -> Result<f64> {
        integrate(&self.f, 0.0, t, self.tol)
    }

    /// `mu(t) = exp(∫_0^t f)`, or the quadrature's error.
    pub fn try_mean_factor(&self, t: f64) -> Result<f64> {
        Ok(self.f_integral(t)?.exp())
    }

    /// `zeta(t)^2 = ∫_0^t exp(2 (F(t) - F(s))) g(s)^2 ds` by nested quadrature, or the first
    /// quadrature error (an inner failure is not hidden as NaN).
    pub fn try_kernel_var(&self, t: f64) -> Result<f64> {
        let ft = self.f_integral(t)?;
        let inner_error = std::cell::Cell::new(None);
        let v = integrate(
            |s| match self.f_integral(s) {
                Ok(fs) => (2.0 * (ft - fs)).exp() * (self.g)(s).powi(2),
                Err(e) => {
                    inner_error.set(Some(e));
                    f64::NAN
                }
            },
            0.0,
            t,
            self.tol,
        );
        match inner_error.into_inner() {
            Some(e) => Err(e),
            None => v,
        }
    }
}

impl LinearSde for GenericSde {
    fn name(&self) -> String {
        "generic (quadrature)".into()
    }
    fn t_max(&self) -> f64 {
        self.t_max
    }
    fn drift_coef(&self, t: f64) -> f64 {
        (self.f)(t)
    }
    fn diffusion(&self, t: f64) -> f64 {
        (self.g)(t)
    }
    /// [`try_mean_factor`](GenericSde::try_mean_factor); the trait's value is infallible, so
    /// a quadrature failure (which [`GenericSde::new`] rules out at 17 times of `[0, T]`)
    /// shows as NaN, which every sampler and loss rejects as non-finite.
    fn mean_factor(&self, t: f64) -> f64 {
        self.try_mean_factor(t).unwrap_or(f64::NAN)
    }
    /// [`try_kernel_var`](GenericSde::try_kernel_var), NaN on a quadrature failure as for
    /// `mean_factor`.
    fn kernel_var(&self, t: f64) -> f64 {
        self.try_kernel_var(t).unwrap_or(f64::NAN)
    }
}
