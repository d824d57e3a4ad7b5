//! A linear SDE from any `f` and `g`, with `mu` and `zeta^2` by quadrature of the general
//! formulas. It checks the closed forms of [`Ve`](super::Ve), [`Vp`](super::Vp) and
//! [`SubVp`](super::SubVp).
use super::{check_t_max, LinearSde};
use crate::error::Result;
use crate::quadrature::integrate;

type Coef = Box<dyn Fn(f64) -> f64 + Send + Sync>;

/// `dX = f(t) X dt + g(t) dW` with user-given `f`, `g`.
pub struct GenericSde {
    f: Coef,
    g: Coef,
    t_max: f64,
    /// Absolute tolerance of the quadratures.
    pub tol: f64,
}

impl GenericSde {
    /// Errors on a non-positive `T`.
    pub fn new(
        f: impl Fn(f64) -> f64 + Send + Sync + 'static,
        g: impl Fn(f64) -> f64 + Send + Sync + 'static,
        t_max: f64,
    ) -> Result<Self> {
        Ok(Self {
            f: Box::new(f),
            g: Box::new(g),
            t_max: check_t_max(t_max)?,
            tol: 1e-11,
        })
    }

    /// `F(t) = ∫_0^t f(s) ds`.
    fn f_integral(&self, t: f64) -> f64 {
        integrate(&self.f, 0.0, t, self.tol).unwrap_or(f64::NAN)
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
    /// `mu(t) = exp(∫_0^t f)` by quadrature.
    fn mean_factor(&self, t: f64) -> f64 {
        self.f_integral(t).exp()
    }
    /// `zeta(t)^2 = ∫_0^t exp(2 (F(t) - F(s))) g(s)^2 ds` by nested quadrature.
    fn kernel_var(&self, t: f64) -> f64 {
        let ft = self.f_integral(t);
        integrate(
            |s| (2.0 * (ft - self.f_integral(s))).exp() * (self.g)(s).powi(2),
            0.0,
            t,
            self.tol,
        )
        .unwrap_or(f64::NAN)
    }
}
