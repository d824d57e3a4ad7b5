//! Negative log-likelihood of the digits in **bits per dimension**, with uniform
//! dequantisation done right, for the diffusion network (through the probability-flow ODE)
//! and for simple baselines that give the number a scale.
//!
//! ## Discrete data, continuous densities
//!
//! A pixel is a grey level `k ∈ {0, ..., 16}` stored as `x = k Δ - 1` with `Δ = 1/8`
//! ([`DELTA`]): the images lie on a lattice of spacing `Δ` in `[-1, 1]^d`, `d = 64`. A density
//! `p` on `R^d` gives such points no probability; it does give the **cells**
//! `C(x) = [x, x + Δ)^d`, which tile `[-1, 1 + Δ)^d`, the discrete probabilities
//!
//! ```text
//! P(x) = ∫_{C(x)} p(y) dy = Δ^d E_u[p(x + Δ u)],    u ~ U[0, 1)^d,
//! ```
//!
//! a proper distribution over the `17^d` images whatever `p` is (Theis, van den Oord and
//! Bethge 2016). Jensen's inequality (`log` is concave) bounds its logarithm by an
//! expectation we can estimate with one **dequantised** draw `y = x + Δ u` per image
//! (Ho et al. 2019, "Flow++", eq. 3 with the uniform dequantiser `q(u | x) = 1`):
//!
//! ```text
//! log P(x) ≥ E_u[log p(x + Δ u)] + d log Δ.
//! ```
//!
//! In bits per dimension (`-log_2 P(x) / d`) this is an upper bound:
//!
//! ```text
//! bpd(x) ≤ -E_u[log p(y)] / (d ln 2) - log_2 Δ = -E_u[log p(y)] / (d ln 2) + 3.
//! ```
//!
//! The `+3 = -log_2 Δ` ([`offset_bits`]) is the term people forget: it converts a density
//! (per unit volume) into a probability (per cell), so it depends on the **scale** of the data
//! (here the cells are `1/8` wide because 17 levels span `[-1, 1]`), not on "256 levels".
//! Without it, a density can be made arbitrarily large by shrinking the data; with it, the
//! number is a code length. Reference point: the uniform distribution over the 17 levels
//! costs `log_2 17 = 4.087` bits per dimension exactly (its density `(17 Δ)^{-d}` on the box
//! `[-1, 1 + Δ)^d` gives every cell `17^{-d}`, and the bound is then an equality).
//!
//! ## The models
//!
//! - [`GaussianBaseline`]: one full-covariance Gaussian `N(m, C)`, fitted to **dequantised**
//!   training images. On the raw lattice some pixels never change (the border is always 0)
//!   and `C` is singular; after dequantisation every pixel has variance at least `Δ^2 / 12`,
//!   the variance of `Δ u`. The log-density comes from the eigen-pairs `C v_k = λ_k v_k`:
//!   `log N(y) = -½ (d log 2π + Σ_k log λ_k + Σ_k (v_kᵀ (y - m))^2 / λ_k)`.
//! - [`ClassMixtureBaseline`]: one such Gaussian per digit class, weighted by the class
//!   frequencies, `log p(y) = log Σ_c w_c N(y; m_c, C_c + λ I)` by log-sum-exp. Each class
//!   has only about 150 training images for 64 dimensions, and the smallest eigenvalues of a
//!   sample covariance are biased low (by about `(1 - sqrt(d / n))^2 ≈ 0.12` here, from the
//!   Marchenko-Pastur law): without help the fit is overconfident in those directions and
//!   pays for it on test images. The ridge [`CLASS_RIDGE`] `λ = 10^-3`, about the
//!   dequantisation noise variance `Δ^2 / 12 = 1.3 10^-3`, puts a floor under them.
//! - [`flow_log_p`]: the diffusion network's `log p_{t_min}(y)` through the probability-flow
//!   ODE ([`crate::likelihood::flow_log_likelihood`]), the divergence by one Rademacher
//!   Skilling-Hutchinson probe per image, Dormand-Prince 5(4) as in Song et al. (2021,
//!   app. D.2). The model is only defined down to the training cut-off `t_min = 10^-3`
//!   ([`super::DigitsTrainConfig`]`::t_eps`): the density we score is the ODE model's
//!   marginal at `t_min`, the standard approximation of its density at 0 (Song et al. stop at
//!   `10^-5`). Its kernel std there, `zeta(10^-3) ≈ 0.01` under VP, is a twelfth of the cell
//!   width. The book's network is trained on the lattice images themselves, so the closer it
//!   comes to the data's `p_{t_min}` (narrow bumps at the lattice points), the less density it
//!   puts between them, where the dequantised points lie: the bound then charges it for
//!   structure it learnt correctly. Training on dequantised images (as Ho et al. 2019 and
//!   Song et al. 2021, "Maximum likelihood training of score-based diffusion models", do)
//!   makes the model's target the dequantised law, the one the bound scores.
use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::{Rng, RngExt};

use super::data::GREY_LEVELS;
use crate::divergence::Probe;
use crate::error::{all_finite, Error, Result};
use crate::likelihood::{flow_log_likelihood, DivergenceMethod};
use crate::metrics::{mean_se, symmetric_eigen, GaussianFit};
use crate::mixture::log_sum_exp;
use crate::rng::seeded;
use crate::sampling::OdeMethod;
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// The lattice spacing `Δ = 2 / (GREY_LEVELS - 1) = 1/8` of the scaled pixels.
pub const DELTA: f64 = 2.0 / (GREY_LEVELS - 1) as f64;
/// How far (absolutely) a pixel may lie from its grey level `k Δ - 1` and still count as on
/// the lattice.
pub const LATTICE_TOL: f64 = 1e-9;
/// The ridge added to each class covariance of [`ClassMixtureBaseline`] in the book
/// (about `Δ^2 / 12`; see the module doc).
pub const CLASS_RIDGE: f64 = 1e-3;
/// Smallest eigenvalue accepted for a covariance, relative to its largest: below it the
/// Gaussian is called singular.
const COND_TOL: f64 = 1e-12;

/// `-log_2 Δ = 3`: the bits per dimension that turn a density into a cell probability.
pub fn offset_bits() -> f64 {
    -DELTA.log2()
}

/// The grey level `k` of a pixel `x = k Δ - 1` on the lattice, or an error naming the pixel.
fn grey_level(v: f64, at: (usize, usize)) -> Result<f64> {
    crate::error::finite(v, "pixel")?;
    let k = ((v + 1.0) / DELTA).round();
    let top = (GREY_LEVELS - 1) as f64;
    if (0.0..=top).contains(&k) && (v - (k * DELTA - 1.0)).abs() <= LATTICE_TOL {
        Ok(k)
    } else {
        Err(Error::param(
            "pixel",
            format!(
                "{v} at {at:?} is not a grey level k/8 - 1, k in 0..={top} (within {LATTICE_TOL:e})"
            ),
        ))
    }
}

/// Uniform dequantisation `y = x + Δ u`, `u ~ U[0, 1)^d` (one draw per pixel, row by row):
/// each image moves to a uniform point of its cell `[x, x + Δ)^d`. The pixels are first
/// snapped to their exact grey level. Errors: no rows or columns (`ShapeMismatch`), non-finite
/// pixels (`NonFinite`), pixels more than [`LATTICE_TOL`] off the lattice or outside
/// `[-1, 1]` (`InvalidParameter`).
pub fn dequantise(x: ArrayView2<f64>, rng: &mut dyn Rng) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return Err(Error::shape(
            "images to dequantise",
            "at least one row and one column",
            format!("{n} x {d}"),
        ));
    }
    all_finite(x.iter(), "images to dequantise")?;
    let mut y = Array2::zeros((n, d));
    for ((at, o), &v) in y.indexed_iter_mut().zip(x.iter()) {
        let k = grey_level(v, at)?;
        *o = k * DELTA - 1.0 + DELTA * rng.random::<f64>();
    }
    Ok(y)
}

/// Mean and standard error over images of the bits per dimension
/// `-log p(y) / (d ln 2) - log_2 Δ` (the bound of the module doc, one dequantised `y` per
/// image), from each image's `log p(y)`. Errors: `d = 0` (`InvalidParameter`), fewer than two
/// values (`ShapeMismatch`: a standard error needs two), non-finite values (`NonFinite`).
pub fn bits_per_dim(log_p: &[f64], d: usize) -> Result<(f64, f64)> {
    if d == 0 {
        return Err(Error::param("d", "the dimension must be >= 1"));
    }
    if log_p.len() < 2 {
        return Err(Error::shape(
            "log-likelihoods",
            "at least 2 values (a mean and its standard error)",
            log_p.len(),
        ));
    }
    all_finite(log_p, "log-likelihoods")?;
    let scale = d as f64 * std::f64::consts::LN_2;
    let off = offset_bits();
    let bits: Vec<f64> = log_p.iter().map(|lp| -lp / scale + off).collect();
    Ok(mean_se(&bits))
}

/// A Gaussian `N(m, C + λ I)` with full covariance, held as the eigen-pairs of `C + λ I`.
#[derive(Clone, Debug)]
pub struct GaussianBaseline {
    mean: Array1<f64>,
    eigenvalues: Array1<f64>,
    /// The eigenvectors as columns.
    eigenvectors: Array2<f64>,
    /// `-½ (d log 2π + Σ log λ_k)`.
    log_norm: f64,
}

impl GaussianBaseline {
    /// `N(mean, cov + ridge I)`. Errors: inconsistent or empty shapes (`ShapeMismatch`),
    /// non-finite entries (`NonFinite`), a negative or non-finite ridge, an asymmetric
    /// covariance, or one whose smallest eigenvalue is not above `1e-12` times its largest
    /// (`InvalidParameter`: singular; dequantise the data or add a ridge).
    pub fn new(mean: Array1<f64>, cov: ArrayView2<f64>, ridge: f64) -> Result<Self> {
        let d = mean.len();
        if d == 0 || cov.dim() != (d, d) {
            return Err(Error::shape(
                "Gaussian baseline: mean and covariance",
                format!("a mean of length d >= 1 and a d x d covariance (d = {d})"),
                format!("covariance {:?}", cov.dim()),
            ));
        }
        all_finite(mean.iter(), "Gaussian baseline mean")?;
        if !(ridge.is_finite() && ridge >= 0.0) {
            return Err(Error::param(
                "ridge",
                format!("must be finite and >= 0, got {ridge}"),
            ));
        }
        let mut c = cov.to_owned();
        c.diag_mut().mapv_inplace(|v| v + ridge);
        let (eigenvalues, eigenvectors) = symmetric_eigen(c.view())?;
        let (lo, hi) = (eigenvalues[0], eigenvalues[d - 1]);
        if !(lo > COND_TOL * hi && lo > 0.0) {
            return Err(Error::param(
                "Gaussian baseline covariance",
                format!(
                    "singular: eigenvalues from {lo:e} to {hi:e}; dequantise the data or add a ridge"
                ),
            ));
        }
        let log_det: f64 = eigenvalues.iter().map(|l| l.ln()).sum();
        let log_norm = -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det);
        Ok(Self {
            mean,
            eigenvalues,
            eigenvectors,
            log_norm,
        })
    }

    /// Fitted to the rows of `rows` (sample mean, unbiased covariance:
    /// [`GaussianFit::of_rows`]), plus `ridge I`. Errors as [`GaussianFit::of_rows`] and
    /// [`new`](Self::new).
    pub fn fit(rows: ArrayView2<f64>, ridge: f64) -> Result<Self> {
        let fit = GaussianFit::of_rows(rows)?;
        Self::new(fit.mean, fit.cov.view(), ridge)
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The mean `m`.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }

    /// The eigenvalues of `C + λ I`, ascending.
    pub fn eigenvalues(&self) -> ArrayView1<'_, f64> {
        self.eigenvalues.view()
    }

    /// `log det (C + λ I) = Σ_k log λ_k`.
    pub fn log_det(&self) -> f64 {
        self.eigenvalues.iter().map(|l| l.ln()).sum()
    }

    /// `log N(y; m, C + λ I)` for each row of `x`: `log_norm - ½ Σ_k (v_kᵀ (y - m))^2 / λ_k`.
    /// Errors: no rows or the wrong number of columns (`ShapeMismatch`), non-finite input
    /// (`NonFinite`).
    pub fn log_pdf(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        check_rows("Gaussian baseline input", x, self.dim())?;
        let centred = &x - &self.mean.view().insert_axis(Axis(0));
        let z = centred.dot(&self.eigenvectors);
        let inv = self.eigenvalues.mapv(f64::recip);
        let maha = (&z * &z).dot(&inv);
        Ok(maha.mapv(|q| self.log_norm - 0.5 * q))
    }
}

/// Checks a batch of points: at least one row, `d` columns, finite.
fn check_rows(what: &str, x: ArrayView2<f64>, d: usize) -> Result<()> {
    if x.nrows() == 0 || x.ncols() != d {
        return Err(Error::shape(
            what,
            format!("at least one row of {d} values"),
            format!("{} x {}", x.nrows(), x.ncols()),
        ));
    }
    all_finite(x.iter(), what)
}

/// A mixture of one full-covariance Gaussian per class label, `Σ_c w_c N(m_c, C_c + λ I)`,
/// with the class frequencies as weights.
#[derive(Clone, Debug)]
pub struct ClassMixtureBaseline {
    classes: Vec<u8>,
    log_weights: Vec<f64>,
    components: Vec<GaussianBaseline>,
}

impl ClassMixtureBaseline {
    /// One [`GaussianBaseline::fit`] (with `ridge`) per distinct label of `labels` (one per
    /// row of `rows`), in increasing label order. Errors: labels not one per row
    /// (`ShapeMismatch`), a class with fewer than two rows or a singular class covariance, and
    /// the errors of [`GaussianBaseline::fit`].
    pub fn fit(rows: ArrayView2<f64>, labels: &[u8], ridge: f64) -> Result<Self> {
        let n = rows.nrows();
        if labels.len() != n {
            return Err(Error::shape("class labels", n, labels.len()));
        }
        if n == 0 {
            return Err(Error::shape("class mixture rows", "at least one row", 0));
        }
        let mut by_class: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for (i, &c) in labels.iter().enumerate() {
            by_class.entry(c).or_default().push(i);
        }
        let (mut classes, mut log_weights, mut components) = (vec![], vec![], vec![]);
        for (c, idx) in by_class {
            components.push(GaussianBaseline::fit(
                rows.select(Axis(0), &idx).view(),
                ridge,
            )?);
            classes.push(c);
            log_weights.push((idx.len() as f64 / n as f64).ln());
        }
        Ok(Self {
            classes,
            log_weights,
            components,
        })
    }

    /// The class labels, increasing.
    pub fn classes(&self) -> &[u8] {
        &self.classes
    }

    /// The mixture weights `w_c` (the class frequencies), in the order of
    /// [`classes`](Self::classes).
    pub fn weights(&self) -> Vec<f64> {
        self.log_weights.iter().map(|l| l.exp()).collect()
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.components[0].dim()
    }

    /// `log Σ_c w_c N(y; m_c, C_c + λ I)` for each row of `x` (log-sum-exp). Errors as
    /// [`GaussianBaseline::log_pdf`].
    pub fn log_pdf(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        let mut joint = Array2::zeros((x.nrows(), self.components.len()));
        for (k, (g, lw)) in self.components.iter().zip(&self.log_weights).enumerate() {
            joint.column_mut(k).assign(&(g.log_pdf(x)? + *lw));
        }
        Ok(joint
            .rows()
            .into_iter()
            .map(|r| log_sum_exp(r.iter().copied()))
            .collect())
    }
}

/// The network's log-density at `t_min` of a batch of points, and what the ODE cost.
#[derive(Clone, Debug)]
pub struct FlowLogP {
    /// `log p_{t_min}(y)` for each row (a Hutchinson estimate: unbiased up to solver error).
    pub log_p: Array1<f64>,
    /// Evaluations of the augmented right-hand side, shared by the whole batch (each: one
    /// score and one Jacobian-vector product, which costs two more scores when the score
    /// uses the default central differences).
    pub n_evals: usize,
}

/// `log p_{t_min}(y)` of the probability-flow ODE model of `score` under `sde`, for each row of
/// `y`: [`flow_log_likelihood`] from `t_min` to `T` with one Rademacher Skilling-Hutchinson
/// probe per row (drawn from `seeded(probe_seed)`, fixed along the path), then the SDE's
/// Gaussian prior `N(0, zeta(T)^2 I)` at `T` ([`crate::likelihood::FlowLikelihood::log_p_sde_prior`]).
/// `method` is the ODE solver (the book: Dormand-Prince with `rtol = atol = 1e-5`).
/// Errors: no rows (`ShapeMismatch`), non-finite points (`NonFinite`), `t_min` outside
/// `[0, T)`, and whatever the score or the solver reports.
pub fn flow_log_p(
    score: &dyn ScoreFn,
    sde: &dyn LinearSde,
    y: ArrayView2<f64>,
    t_min: f64,
    probe_seed: u64,
    method: &OdeMethod,
) -> Result<FlowLogP> {
    check_rows("flow log-likelihood points", y, y.ncols().max(1))?;
    let flow = flow_log_likelihood(
        sde,
        score,
        y,
        t_min,
        method,
        DivergenceMethod::Hutchinson(Probe::Rademacher),
        &mut seeded(probe_seed),
    )?;
    Ok(FlowLogP {
        log_p: flow.log_p_sde_prior(sde)?,
        n_evals: flow.n_evals,
    })
}
