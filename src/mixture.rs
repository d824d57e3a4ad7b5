//! Gaussian mixtures with diagonal covariances: the exact oracle of every experiment.
//!
//! `p(x) = Σ_i w_i N(x; m_i, diag(s_i^2))`. Under a linear SDE the diffused marginal
//! `p_t = ∫ N(x; mu x0, zeta^2 I) p_0(x0) dx0` is again a mixture, with means `mu m_i`
//! and variances `mu^2 s_i^2 + zeta^2`, so `p_t` and its score are known exactly.
use autodiff::Float;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::error::{all_finite, Error, Result};
use crate::sde::LinearSde;

mod conditioning;
mod jacobian;
mod labelled;
pub use conditioning::unobserved_coordinates;
pub use labelled::LabelledMixture;

/// A mixture of `k` Gaussians in `d` dimensions with diagonal covariances.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    weights: Vec<f64>,
    /// Component means, `[k, d]`.
    means: Array2<f64>,
    /// Component standard deviations, `[k, d]`.
    stds: Array2<f64>,
}

/// Tolerance on `|Σ w_i - 1|` accepted by [`GaussianMixture::new`].
pub const WEIGHT_SUM_TOL: f64 = 1e-9;

impl GaussianMixture {
    /// Errors on weights that are negative, non-finite or do not sum to one (within
    /// [`WEIGHT_SUM_TOL`]), on non-positive or non-finite standard deviations, on non-finite
    /// means and on shapes that disagree.
    pub fn new(weights: Vec<f64>, means: Array2<f64>, stds: Array2<f64>) -> Result<Self> {
        let k = weights.len();
        if k == 0 {
            return Err(Error::InvalidWeights {
                reason: "a mixture needs at least one component".into(),
            });
        }
        if means.nrows() != k || means.ncols() == 0 {
            return Err(Error::shape(
                "mixture means",
                format!("[{k}, d >= 1]"),
                format!("{:?}", means.dim()),
            ));
        }
        if stds.dim() != means.dim() {
            return Err(Error::shape(
                "mixture stds",
                format!("{:?}", means.dim()),
                format!("{:?}", stds.dim()),
            ));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(Error::InvalidWeights {
                reason: format!("every weight must be finite and >= 0, got {w}"),
            });
        }
        let sum: f64 = weights.iter().sum();
        if (sum - 1.0).abs() > WEIGHT_SUM_TOL {
            return Err(Error::InvalidWeights {
                reason: format!("weights must sum to 1, they sum to {sum}"),
            });
        }
        all_finite(means.iter(), "mixture means")?;
        if let Some(s) = stds.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::param(
                "std",
                format!("every standard deviation must be finite and > 0, got {s}"),
            ));
        }
        Ok(Self {
            weights,
            means,
            stds,
        })
    }

    /// A 1-D mixture `Σ w_i N(m_i, s_i^2)`.
    pub fn new_1d(weights: &[f64], means: &[f64], stds: &[f64]) -> Result<Self> {
        let col = |v: &[f64], what: &str| {
            Array2::from_shape_vec((v.len(), 1), v.to_vec())
                .map_err(|_| Error::shape(format!("mixture {what}"), weights.len(), v.len()))
        };
        if means.len() != weights.len() || stds.len() != weights.len() {
            return Err(Error::shape(
                "1-D mixture",
                format!("{} means and stds", weights.len()),
                format!("{} means, {} stds", means.len(), stds.len()),
            ));
        }
        Self::new(weights.to_vec(), col(means, "means")?, col(stds, "stds")?)
    }

    /// The seed-000 target `0.8 N(-1, 0.4^2) + 0.2 N(1, 0.3^2)`.
    pub fn seed_ve() -> Self {
        Self::new_1d(&[0.8, 0.2], &[-1.0, 1.0], &[0.4, 0.3]).expect("valid constants")
    }

    /// The seed-004 (DDPM) target `0.1 N(-3, 1) + 0.9 N(3, 1)`.
    pub fn seed_ddpm() -> Self {
        Self::new_1d(&[0.1, 0.9], &[-3.0, 3.0], &[1.0, 1.0]).expect("valid constants")
    }

    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.means.ncols()
    }
    /// Number of components `k`.
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }
    /// Weights `w_i`.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    /// Means `[k, d]`.
    pub fn means(&self) -> &Array2<f64> {
        &self.means
    }
    /// Standard deviations `[k, d]`.
    pub fn stds(&self) -> &Array2<f64> {
        &self.stds
    }

    /// Mean of the mixture, `Σ w_i m_i`.
    pub fn mean(&self) -> Array1<f64> {
        let w = Array1::from(self.weights.clone());
        w.dot(&self.means)
    }

    /// Per-coordinate variance, `Σ w_i (s_i^2 + m_i^2) - (Σ w_i m_i)^2`.
    pub fn variance(&self) -> Array1<f64> {
        let w = Array1::from(self.weights.clone());
        let second = w.dot(&(&self.stds.mapv(|s| s * s) + &self.means.mapv(|m| m * m)));
        let m = self.mean();
        second - m.mapv(|v| v * v)
    }

    fn check_x(&self, x: &ArrayView2<f64>) -> Result<()> {
        if x.ncols() != self.dim() {
            return Err(Error::shape(
                "mixture input",
                format!("[n, {}]", self.dim()),
                format!("{:?}", x.dim()),
            ));
        }
        all_finite(x.iter(), "mixture input")
    }

    /// `log(w_i N(x; m_i, s_i^2))` for each row of `x` and component `i`: `[n, k]`.
    fn log_joint(&self, x: &ArrayView2<f64>) -> Array2<f64> {
        let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        let mut out = Array2::zeros((x.nrows(), self.n_components()));
        for (i, w) in self.weights.iter().enumerate() {
            let (m, s) = (self.means.row(i), self.stds.row(i));
            let c = w.ln() - s.iter().map(|s| s.ln() + half_log_2pi).sum::<f64>();
            for (r, row) in x.rows().into_iter().enumerate() {
                let q: f64 = row
                    .iter()
                    .zip(m.iter().zip(s.iter()))
                    .map(|(x, (m, s))| ((x - m) / s).powi(2))
                    .sum();
                out[[r, i]] = c - 0.5 * q;
            }
        }
        out
    }

    /// `log p(x)` for each row of `x` (log-sum-exp over components).
    pub fn log_pdf(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        self.check_x(&x)?;
        Ok(self
            .log_joint(&x)
            .rows()
            .into_iter()
            .map(|r| log_sum_exp(r.iter().copied()))
            .collect())
    }

    /// The responsibilities `r_i(x) = w_i N_i(x) / p(x)` for each row of `x` and component `i`,
    /// `[n, k]` (a stable softmax of the log joint densities; each row sums to one).
    pub fn responsibilities(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.check_x(&x)?;
        let mut lj = self.log_joint(&x);
        for mut row in lj.rows_mut() {
            let lse = log_sum_exp(row.iter().copied());
            row.mapv_inplace(|l| (l - lse).exp());
        }
        Ok(lj)
    }

    /// `p(x)` for each row of `x`.
    pub fn pdf(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        Ok(self.log_pdf(x)?.mapv(f64::exp))
    }

    /// Exact score `∇ log p(x) = Σ_i r_i(x) (m_i - x) / s_i^2`, with responsibilities
    /// `r_i = w_i N_i(x) / p(x)` computed in log space.
    pub fn score(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.check_x(&x)?;
        let lj = self.log_joint(&x);
        let mut out = Array2::zeros(x.dim());
        for (r, (row, lrow)) in x.rows().into_iter().zip(lj.rows()).enumerate() {
            let lse = log_sum_exp(lrow.iter().copied());
            for (i, l) in lrow.iter().enumerate() {
                let resp = (l - lse).exp();
                for j in 0..self.dim() {
                    let s = self.stds[[i, j]];
                    out[[r, j]] += resp * (self.means[[i, j]] - row[j]) / (s * s);
                }
            }
        }
        Ok(out)
    }

    /// `log p(x)` at one point, generic over [`Float`] so forward-mode autodiff can
    /// differentiate it (the independent check of [`score`](Self::score)).
    pub fn log_pdf_generic<T: Float>(&self, x: &[T]) -> T {
        let half_log_2pi = T::from(0.5 * (2.0 * std::f64::consts::PI).ln()).unwrap();
        let terms: Vec<T> = (0..self.n_components())
            .map(|i| {
                let mut acc = T::from(self.weights[i].ln()).unwrap();
                for (j, &xj) in x.iter().enumerate() {
                    let m = T::from(self.means[[i, j]]).unwrap();
                    let s = T::from(self.stds[[i, j]]).unwrap();
                    let z = (xj - m) / s;
                    acc = acc - T::from(0.5).unwrap() * z * z - s.ln() - half_log_2pi;
                }
                acc
            })
            .collect();
        let mx = terms
            .iter()
            .copied()
            .fold(T::neg_infinity(), |a, b| if b > a { b } else { a });
        mx + terms
            .iter()
            .fold(T::zero(), |acc, &t| acc + (t - mx).exp())
            .ln()
    }

    /// `n` independent draws, `[n, d]`: pick a component by its weight, then draw from it.
    pub fn sample(&self, n: usize, rng: &mut dyn Rng) -> Array2<f64> {
        self.sample_with_components(n, rng).0
    }

    /// [`GaussianMixture::sample`] with the component of each draw (the same random numbers).
    pub fn sample_with_components(&self, n: usize, rng: &mut dyn Rng) -> (Array2<f64>, Vec<usize>) {
        let d = self.dim();
        let mut out = Array2::zeros((n, d));
        let mut components = Vec::with_capacity(n);
        for mut row in out.axis_iter_mut(Axis(0)) {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut i = self.n_components() - 1;
            for (j, w) in self.weights.iter().enumerate() {
                acc += w;
                if u < acc {
                    i = j;
                    break;
                }
            }
            for j in 0..d {
                let z: f64 = rng.sample(StandardNormal);
                row[j] = self.means[[i, j]] + self.stds[[i, j]] * z;
            }
            components.push(i);
        }
        (out, components)
    }

    /// The law of `mu X + zeta Z` with `X ~ self`, `Z ~ N(0, I)`: means `mu m_i`,
    /// variances `mu^2 s_i^2 + zeta^2`.
    pub fn affine(&self, mu: f64, zeta2: f64) -> Result<Self> {
        crate::error::finite(mu, "mean factor")?;
        if !(zeta2.is_finite() && zeta2 >= 0.0) {
            return Err(Error::param(
                "zeta2",
                format!("kernel variance must be finite and >= 0, got {zeta2}"),
            ));
        }
        let stds = self.stds.mapv(|s| (mu * mu * s * s + zeta2).sqrt());
        Self::new(self.weights.clone(), self.means.mapv(|m| mu * m), stds)
    }

    /// The exact diffused marginal `p_t` of this data distribution under `sde`.
    pub fn diffused(&self, sde: &dyn LinearSde, t: f64) -> Result<Self> {
        self.affine(sde.mean_factor(t), sde.kernel_var(t))
    }

    /// 1-D cumulative distribution function (errors unless `d = 1`).
    pub fn cdf_1d(&self, x: f64) -> Result<f64> {
        if self.dim() != 1 {
            return Err(Error::shape(
                "cdf_1d",
                "d = 1",
                format!("d = {}", self.dim()),
            ));
        }
        Ok(self
            .weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let z = (x - self.means[[i, 0]]) / (self.stds[[i, 0]] * std::f64::consts::SQRT_2);
                w * 0.5 * statrs::function::erf::erfc(-z)
            })
            .sum())
    }
}

/// `log Σ exp(v)` computed stably.
pub fn log_sum_exp(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = v.clone().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.map(|x| (x - m).exp()).sum::<f64>().ln()
}
