//! Conditional and guided scores: adapters that are themselves [`ScoreFn`]s, so every sampler
//! (Euler-Maruyama, predictor-corrector, the probability-flow ODE, the exact laws of
//! [`pc_law_1d`](super::pc_law_1d)) runs them without a copy of its loop.
//!
//! - [`ConditionalScore`]: the exact `∇ log p_t(x | y)` of a [`LabelledMixture`].
//! - [`ClassifierGuided`]: `s(t, x) + w ∇ log p_t(y | x)` (Dhariwal and Nichol 2021), with any
//!   time-dependent classifier ([`ClassifierGrad`]; [`ExactClassifier`] is the mixture's own).
//! - [`ClassifierFree`]: `(1 + w) s(t, x | y) - w s(t, x)` (Ho and Salimans 2022).
//!
//! With exact scores, classifier guidance at scale `w` equals classifier-free guidance at
//! `w - 1`: both are `(1 - w) ∇ log p_t(x) + w ∇ log p_t(x | y)`, the score of
//! `p_t(x)^{1 - w} p_t(x | y)^w`, which at `t = 0` is the tilted law
//! `p_0(x | y) p_0(y | x)^{w - 1}` ([`tilted_law_1d`]) but for `w ≠ 1` at `t > 0` is not the
//! diffusion of it.
use ndarray::{Array2, ArrayView2};

use super::grid_law::GridLaw;
use crate::error::{Error, Result};
use crate::mixture::{GaussianMixture, LabelledMixture};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// `∇_x log p_t(y | x)` of a time-dependent classifier.
pub trait ClassifierGrad: Sync {
    /// The gradient for class `y` at each row of `x`.
    fn grad_log_prob(&self, t: f64, x: ArrayView2<f64>, y: usize) -> Result<Array2<f64>>;
}

/// The exact time-dependent classifier `p_t(y | x)` of a labelled mixture diffused by `sde`.
pub struct ExactClassifier<'a> {
    pub p0: &'a LabelledMixture,
    pub sde: &'a dyn LinearSde,
}

impl ClassifierGrad for ExactClassifier<'_> {
    fn grad_log_prob(&self, t: f64, x: ArrayView2<f64>, y: usize) -> Result<Array2<f64>> {
        crate::error::finite(t, "t")?;
        self.p0
            .diffused(self.sde, t)?
            .log_class_posterior_grad(x, y)
    }
}

/// The exact score `∇ log p_t(x | y)`: the class's sub-mixture diffused by `sde`.
pub struct ConditionalScore<'a> {
    conditional: GaussianMixture,
    sde: &'a dyn LinearSde,
}

impl<'a> ConditionalScore<'a> {
    /// The conditional score of class `y` (an error if `y` is not a class of `p0`).
    pub fn new(p0: &LabelledMixture, sde: &'a dyn LinearSde, y: usize) -> Result<Self> {
        Ok(Self {
            conditional: p0.conditional(y)?,
            sde,
        })
    }

    /// `p_0(x | y)`.
    pub fn conditional(&self) -> &GaussianMixture {
        &self.conditional
    }
}

impl ScoreFn for ConditionalScore<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::error::finite(t, "t")?;
        self.conditional.diffused(self.sde, t)?.score(x)
    }
}

/// Classifier guidance: `s(t, x) + w ∇ log p_t(y | x)`.
pub struct ClassifierGuided<'a> {
    pub score: &'a dyn ScoreFn,
    pub classifier: &'a dyn ClassifierGrad,
    pub class: usize,
    /// The guidance scale `w` (`w = 1`: the conditional score when both parts are exact).
    pub scale: f64,
}

impl ScoreFn for ClassifierGuided<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::error::finite(self.scale, "guidance scale")?;
        let s = self.score.score(t, x)?;
        let g = self.classifier.grad_log_prob(t, x, self.class)?;
        crate::sde::check_same("classifier gradient", s.dim(), g.dim())?;
        Ok(s + &(g * self.scale))
    }
}

/// Classifier-free guidance: `(1 + w) s(t, x | y) - w s(t, x)`.
pub struct ClassifierFree<'a> {
    pub conditional: &'a dyn ScoreFn,
    pub unconditional: &'a dyn ScoreFn,
    /// The guidance strength `w` (`w = 0`: the conditional score).
    pub guidance: f64,
}

impl ScoreFn for ClassifierFree<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::error::finite(self.guidance, "guidance")?;
        let c = self.conditional.score(t, x)?;
        let u = self.unconditional.score(t, x)?;
        crate::sde::check_same("unconditional score", c.dim(), u.dim())?;
        Ok(c * (1.0 + self.guidance) - &(u * self.guidance))
    }
}

/// The tilted law `q(x) ∝ p_0(x | y) p_0(y | x)^γ` of a 1-D labelled mixture, normalised on
/// `[lo, hi]` by adaptive quadrature (tolerance 1e-12). `γ = w - 1` for classifier guidance
/// at scale `w`, `γ = w` for classifier-free guidance at strength `w`: the law the guided
/// scores describe at `t = 0`.
pub struct TiltedLaw {
    conditional: GaussianMixture,
    p0: LabelledMixture,
    y: usize,
    gamma: f64,
    lo: f64,
    z: f64,
}

impl TiltedLaw {
    /// Errors unless `p0` is 1-D, `y` one of its classes, `γ` finite and the normaliser
    /// positive.
    pub fn new(p0: &LabelledMixture, y: usize, gamma: f64, lo: f64, hi: f64) -> Result<Self> {
        if p0.mixture().dim() != 1 {
            return Err(Error::shape("tilted law", "d = 1", p0.mixture().dim()));
        }
        crate::error::finite(gamma, "tilt exponent")?;
        let mut law = Self {
            conditional: p0.conditional(y)?,
            p0: p0.clone(),
            y,
            gamma,
            lo,
            z: 1.0,
        };
        law.z = crate::quadrature::integrate(|x| law.unnormalised(x), lo, hi, 1e-12)?;
        crate::error::positive(law.z, "tilted law's normaliser")?;
        Ok(law)
    }

    fn unnormalised(&self, x: f64) -> f64 {
        let pt = ndarray::arr2(&[[x]]);
        let px = self
            .conditional
            .pdf(pt.view())
            .map(|v| v[0])
            .unwrap_or(f64::NAN);
        let post = self
            .p0
            .class_posterior(pt.view())
            .map(|p| p[[0, self.y]])
            .unwrap_or(f64::NAN);
        if px == 0.0 {
            0.0
        } else {
            px * post.powf(self.gamma)
        }
    }

    /// The density `q(x)`.
    pub fn pdf(&self, x: f64) -> f64 {
        self.unnormalised(x) / self.z
    }

    /// `Q(x) = ∫_lo^x q`, by the same quadrature.
    pub fn cdf(&self, x: f64) -> f64 {
        crate::quadrature::integrate(|v| self.unnormalised(v), self.lo, x.max(self.lo), 1e-12)
            .map(|v| v / self.z)
            .unwrap_or(f64::NAN)
    }
}

/// [`TiltedLaw`] on the grid `lo, lo + h, …, hi`, with its CDF.
pub fn tilted_law_1d(
    p0: &LabelledMixture,
    y: usize,
    gamma: f64,
    lo: f64,
    hi: f64,
    h: f64,
) -> Result<GridLaw> {
    let q = TiltedLaw::new(p0, y, gamma, lo, hi)?;
    GridLaw::new(lo, hi, h, |x| q.pdf(x), |x| q.cdf(x))
}
