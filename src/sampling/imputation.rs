//! Imputation (inpainting): sample the unobserved coordinates `x_U` of a point given the
//! observed ones `x_K = a`, with a score of the joint law only.
//!
//! The forward SDEs of this crate act on each coordinate alone, so the unobserved coordinates
//! diffuse by the same SDE, and the reverse SDE of `p_0(x_U | x_K = a)` is the reverse SDE in
//! `x_U` driven by the conditional score `∇_{x_U} log p_t(x_U | x_{K,0} = a)`. Every imputation
//! method here is a [`ScoreFn`] (on `x_U`, or on the whole point), so every sampler runs it:
//!
//! - the exact conditional score: for a Gaussian mixture, the score of the conditioned mixture
//!   ([`GaussianMixture::condition`]) diffused, an [`ExactScore`](crate::score::ExactScore);
//! - [`Replacement`] (Song et al. 2021, appendix I): the joint score's `U` part at
//!   `(x_U, x_{K,t})` with `x_{K,t} = μ(t) a + ζ(t) z` drawn afresh at every evaluation; an
//!   approximation, because `∇_{x_U} log p_t(x_U, x_{K,t})` conditions on one noisy draw of the
//!   observation instead of the observation itself;
//! - [`ReconstructionGuided`] (Chung et al. 2023, DPS; Ho et al. 2022): on the whole point,
//!   the joint score plus the gradient of `log N(a; D_K(t, x), r_t^2)`, with Tweedie's denoiser
//!   `D = (x + ζ^2 s) / μ` and `r_t^2 = ζ^2 / μ^2`; an approximation of `log p_t(x_{K,0} = a | x)`.
//!
//! [`replacement_law_1d`] is the replacement method's exact output law in one unobserved and
//! one observed coordinate (Gauss-Hermite quadrature over the fresh draw), so its bias is
//! measured without Monte Carlo error.
use std::sync::Mutex;

use ndarray::{Array2, ArrayView2, Axis};
use rand_distr::{Distribution, StandardNormal};

use super::grid_law::{GridLaw, Law1d};
use super::pc::PcConfig;
use crate::error::{Error, Result};
use crate::mixture::unobserved_coordinates;
use crate::rng::SeededRng;
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// The observed coordinates `K` of points in `R^d` and their values `a`: one row of values
/// shared by every point, or one row per point.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    d: usize,
    known: Vec<usize>,
    unknown: Vec<usize>,
    values: Array2<f64>,
}

impl Observation {
    /// Observed coordinates `known` of points in `R^d`, with `values` of shape `[1 or n, |K|]`
    /// (column `j` holds coordinate `known[j]`).
    ///
    /// Errors on invalid coordinates ([`unobserved_coordinates`]), values of another width,
    /// no rows, or values that are not finite.
    pub fn new(d: usize, known: Vec<usize>, values: Array2<f64>) -> Result<Self> {
        let unknown = unobserved_coordinates(d, &known)?;
        if values.ncols() != known.len() || values.nrows() == 0 {
            return Err(Error::shape(
                "observed values",
                format!("[1 or n, {}]", known.len()),
                format!("{:?}", values.dim()),
            ));
        }
        crate::error::all_finite(values.iter(), "observed values")?;
        Ok(Self {
            d,
            known,
            unknown,
            values,
        })
    }

    /// The observed coordinates `K`, in the order of the values' columns.
    pub fn known(&self) -> &[usize] {
        &self.known
    }

    /// The unobserved coordinates `U`, increasing.
    pub fn unknown(&self) -> &[usize] {
        &self.unknown
    }

    /// The observed values `a`, `[1 or n, |K|]`.
    pub fn values(&self) -> &Array2<f64> {
        &self.values
    }

    /// The values for `n` points: the shared row repeated, or the `n` rows as given.
    pub fn values_for(&self, n: usize) -> Result<Array2<f64>> {
        match self.values.nrows() {
            1 => Ok(self
                .values
                .broadcast((n, self.known.len()))
                .ok_or_else(|| Error::shape("observed values", "broadcastable", n))?
                .to_owned()),
            m if m == n => Ok(self.values.clone()),
            m => Err(Error::shape(
                "observed values",
                format!("1 or {n} rows (one per point)"),
                m,
            )),
        }
    }

    /// Whole points from their unobserved part `x_u` `[n, |U|]` and observed part `x_k`
    /// `[n, |K|]`.
    pub fn assemble(&self, x_u: ArrayView2<f64>, x_k: ArrayView2<f64>) -> Result<Array2<f64>> {
        let n = x_u.nrows();
        crate::sde::check_same("unobserved part", (n, self.unknown.len()), x_u.dim())?;
        crate::sde::check_same("observed part", (n, self.known.len()), x_k.dim())?;
        let mut x = Array2::zeros((n, self.d));
        for (j, &c) in self.unknown.iter().enumerate() {
            x.column_mut(c).assign(&x_u.column(j));
        }
        for (j, &c) in self.known.iter().enumerate() {
            x.column_mut(c).assign(&x_k.column(j));
        }
        Ok(x)
    }

    /// The unobserved coordinates of whole points `x` `[n, d]`.
    pub fn unknown_part(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::sde::check_same("points", (x.nrows(), self.d), x.dim())?;
        Ok(x.select(Axis(1), &self.unknown))
    }

    /// The observed coordinates of whole points `x` `[n, d]`.
    pub fn known_part(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::sde::check_same("points", (x.nrows(), self.d), x.dim())?;
        Ok(x.select(Axis(1), &self.known))
    }

    /// `x_{K,t} = μ(t) a + ζ(t) z` for `n` points: the observation diffused to time `t`.
    fn diffused_values(
        &self,
        sde: &dyn LinearSde,
        t: f64,
        z: ArrayView2<f64>,
    ) -> Result<Array2<f64>> {
        let a = self.values_for(z.nrows())?;
        Ok(a * sde.mean_factor(t) + &(&z * sde.kernel_std(t)))
    }
}

/// Song's replacement method as a score on the unobserved coordinates: at each evaluation,
/// `x_{K,t} = μ(t) a + ζ(t) z` with a fresh `z ~ N(0, I)`, and the joint score's `U` part at
/// `(x_U, x_{K,t})`. Random: two calls at the same `(t, x_U)` differ.
pub struct Replacement<'a> {
    joint: &'a dyn ScoreFn,
    sde: &'a dyn LinearSde,
    observation: &'a Observation,
    rng: Mutex<SeededRng>,
}

impl<'a> Replacement<'a> {
    /// The replacement score of `joint` (a score on whole points) for `observation`, drawing
    /// its noise from `rng`.
    pub fn new(
        joint: &'a dyn ScoreFn,
        sde: &'a dyn LinearSde,
        observation: &'a Observation,
        rng: SeededRng,
    ) -> Self {
        Self {
            joint,
            sde,
            observation,
            rng: Mutex::new(rng),
        }
    }
}

impl ScoreFn for Replacement<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::error::finite(t, "t")?;
        let k = self.observation.known().len();
        let z = {
            let mut rng = self
                .rng
                .lock()
                .map_err(|_| Error::param("replacement", "the noise generator was poisoned"))?;
            Array2::from_shape_simple_fn((x.nrows(), k), || StandardNormal.sample(&mut *rng))
        };
        let x_k = self.observation.diffused_values(self.sde, t, z.view())?;
        let whole = self.observation.assemble(x, x_k.view())?;
        let s = self.joint.score(t, whole.view())?;
        self.observation.unknown_part(s.view())
    }

    /// Refused: the score is random, so finite differences of it mean nothing.
    fn jvp(&self, _t: f64, _x: ArrayView2<f64>, _v: ArrayView2<f64>) -> Result<Array2<f64>> {
        Err(Error::param(
            "replacement score",
            "it redraws the observation's noise at every call: it has no Jacobian",
        ))
    }
}

/// Reconstruction guidance (DPS-style) on whole points:
/// `s(t, x) + w ∇_x log N(a; D_K(t, x), r_t^2 I)`, with `D(t, x) = (x + ζ^2 s(t, x)) / μ`
/// (Tweedie) and `r_t^2 = ζ^2 / μ^2`. The gradient is `J_D^T P_K^T (a - D_K) / r_t^2` with
/// `J_D = (I + ζ^2 J_s) / μ`; it uses the score's [`ScoreFn::jvp`] for `J_s^T v`, which is
/// exact when `s` is a gradient field (an exact score: `J_s` is a Hessian, symmetric) and an
/// approximation for a network.
pub struct ReconstructionGuided<'a> {
    pub score: &'a dyn ScoreFn,
    pub sde: &'a dyn LinearSde,
    pub observation: &'a Observation,
    /// The guidance scale `w` (`w = 1`: the Gaussian approximation of `p_t(a | x)` as it is).
    pub scale: f64,
}

impl ScoreFn for ReconstructionGuided<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::error::finite(self.scale, "guidance scale")?;
        let s = self.score.score(t, x)?;
        crate::sde::check_same("score output", x.dim(), s.dim())?;
        let (mu, zeta2) = (self.sde.mean_factor(t), self.sde.kernel_var(t));
        crate::error::positive(zeta2, "ζ(t)^2 (guidance needs t > 0)")?;
        let denoised = (&x + &(&s * zeta2)) / mu;
        let a = self.observation.values_for(x.nrows())?;
        let residual = a - self.observation.known_part(denoised.view())?;
        // v = P_K^T (a - D_K): the residual placed at the observed coordinates.
        let mut v = Array2::zeros(x.dim());
        for (j, &c) in self.observation.known().iter().enumerate() {
            v.column_mut(c).assign(&residual.column(j));
        }
        let jv = self.score.jvp(t, x, v.view())?;
        let r2 = zeta2 / (mu * mu);
        let grad = (v + &(jv * zeta2)) / (mu * r2);
        Ok(s + &(grad * self.scale))
    }
}

/// The exact output law of the replacement method driven by `joint`, for one unobserved and
/// one observed coordinate, under the predictor of `config` (no corrector, no denoising),
/// started from `start` (a law of the unobserved coordinate at `T`).
///
/// Each step draws `x_{K,t} = μ a + ζ z` and then moves `x_U -> N(c_x x_U + c_s s_U, c_z^2)`;
/// averaged over `z` the step is a mixture of Gaussian kernels, which
/// [`GridLaw::step_mixed`] integrates with the `nodes`-point Gauss-Hermite rule in `z`.
/// After the exact integral over `x_U` the integrand is smooth in `z`, so the rule converges
/// fast; tests compare 24 and 48 nodes and a Monte Carlo run.
pub fn replacement_law_1d(
    sde: &dyn LinearSde,
    joint: &dyn ScoreFn,
    observation: &Observation,
    start: &GridLaw,
    config: &PcConfig,
    nodes: usize,
) -> Result<Law1d> {
    if observation.d != 2 || observation.values.nrows() != 1 {
        return Err(Error::param(
            "replacement law",
            "needs one observed and one unobserved coordinate, with one observed value",
        ));
    }
    if config.corrector.is_some() || config.denoise {
        return Err(Error::param(
            "replacement law",
            "only a predictor (no corrector, no denoising step)",
        ));
    }
    let rule = crate::quadrature::gauss_hermite(nodes)?;
    let times = super::time_grid(sde, config.n_time_points, config.t_min)?;
    let xs = start.grid();
    let x_u = Array2::from_shape_vec((xs.len(), 1), xs.clone())
        .map_err(|e| Error::param("grid", e.to_string()))?;
    let mut law = start.clone();
    for k in (1..times.len()).rev() {
        let (t, t_prev) = (times[k], times[k - 1]);
        let (c_x, c_s, c_z) = config
            .predictor
            .coefficients(sde, t, t_prev)?
            .ok_or_else(|| Error::param("predictor", "the replacement law needs a predictor"))?;
        let mut maps = Vec::with_capacity(rule.len());
        for &(z, _) in &rule {
            let zs = Array2::from_elem((xs.len(), 1), z);
            let x_k = observation.diffused_values(sde, t, zs.view())?;
            let whole = observation.assemble(x_u.view(), x_k.view())?;
            let s = joint.score(t, whole.view())?;
            crate::sde::check_same("score output", whole.dim(), s.dim())?;
            let s_u = s.column(observation.unknown[0]);
            let m: Vec<f64> = xs.iter().zip(s_u).map(|(x, s)| c_x * x + c_s * s).collect();
            maps.push(m);
        }
        let weighted: Vec<(f64, &[f64])> = rule
            .iter()
            .zip(&maps)
            .map(|(&(_, w), m)| (w, m.as_slice()))
            .collect();
        if k == 1 {
            return law.finish_mixed(&weighted, c_z);
        }
        law = law.step_mixed(&weighted, c_z)?;
    }
    law.law()
}
