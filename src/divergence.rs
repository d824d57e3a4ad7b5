//! The divergence `∇·s = tr J_s` of a score and its Skilling-Hutchinson estimate
//! `ε^T J_s ε` with `E[ε] = 0`, `E[ε ε^T] = I` (Skilling 1989; Hutchinson 1990).
//!
//! For the exact score of a Gaussian mixture, [`mixture_score_generic`] writes the score
//! generically over [`Float`], so forward-mode dual numbers give exact Jacobian-vector
//! products and the exact divergence (`d` passes). Other scores fall back on the central
//! differences of [`ScoreFn::jvp`].
use autodiff::{Float, F1};
use ndarray::{Array1, Array2, ArrayView2};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::mixture::GaussianMixture;
use crate::score::ScoreFn;
use crate::sde::check_same;

/// `∇ log p(x) = Σ_i r_i(x) (m_i - x) / s_i^2` at one point, generic over [`Float`], with the
/// responsibilities `r_i` computed by a stable softmax of the log joint densities.
pub fn mixture_score_generic<T: Float>(p: &GaussianMixture, x: &[T]) -> Vec<T> {
    let (k, d) = (p.n_components(), p.dim());
    let (m, s) = (p.means(), p.stds());
    let half = T::from(0.5).unwrap();
    let logj: Vec<T> = (0..k)
        .map(|i| {
            let mut acc = T::from(p.weights()[i].ln()).unwrap();
            for (j, &xj) in x.iter().enumerate() {
                let sd = s[[i, j]];
                let z = (xj - T::from(m[[i, j]]).unwrap()) / T::from(sd).unwrap();
                acc = acc - half * z * z - T::from(sd.ln()).unwrap();
            }
            acc
        })
        .collect();
    let mx = logj
        .iter()
        .copied()
        .fold(T::neg_infinity(), |a, b| if b > a { b } else { a });
    let e: Vec<T> = logj.iter().map(|&l| (l - mx).exp()).collect();
    let z = e.iter().fold(T::zero(), |a, &b| a + b);
    let mut out = vec![T::zero(); d];
    for i in 0..k {
        let r = e[i] / z;
        for j in 0..d {
            let v = T::from(s[[i, j]] * s[[i, j]]).unwrap();
            out[j] = out[j] + r * (T::from(m[[i, j]]).unwrap() - x[j]) / v;
        }
    }
    out
}

/// `J v` per row for the score of the mixture `p`, by forward mode: the dual input
/// `x + ε v` carries the directional derivative through [`mixture_score_generic`].
pub fn mixture_score_jvp(
    p: &GaussianMixture,
    x: ArrayView2<f64>,
    v: ArrayView2<f64>,
) -> Result<Array2<f64>> {
    check_x(p, &x)?;
    check_same("jvp: direction", x.dim(), v.dim())?;
    let mut out = Array2::zeros(x.dim());
    for (r, (xr, vr)) in x.rows().into_iter().zip(v.rows()).enumerate() {
        let dual: Vec<F1> = xr.iter().zip(vr).map(|(&a, &b)| F1::new(a, b)).collect();
        for (j, sj) in mixture_score_generic(p, &dual).iter().enumerate() {
            out[[r, j]] = sj.deriv();
        }
    }
    Ok(out)
}

/// The exact divergence `Σ_j ∂s_j/∂x_j` per row for the score of the mixture `p`, by `d`
/// forward-mode passes (one per coordinate).
pub fn mixture_score_divergence(p: &GaussianMixture, x: ArrayView2<f64>) -> Result<Array1<f64>> {
    check_x(p, &x)?;
    let d = x.ncols();
    Ok(x.rows()
        .into_iter()
        .map(|xr| {
            (0..d)
                .map(|j| {
                    let dual: Vec<F1> = xr
                        .iter()
                        .enumerate()
                        .map(|(i, &a)| if i == j { F1::var(a) } else { F1::cst(a) })
                        .collect();
                    mixture_score_generic(p, &dual)[j].deriv()
                })
                .sum()
        })
        .collect())
}

fn check_x(p: &GaussianMixture, x: &ArrayView2<f64>) -> Result<()> {
    if x.ncols() != p.dim() {
        return Err(crate::error::Error::shape(
            "mixture input",
            format!("[n, {}]", p.dim()),
            format!("{:?}", x.dim()),
        ));
    }
    crate::error::all_finite(x.iter(), "mixture input")
}

/// The law of the probe vectors `ε` of the Skilling-Hutchinson estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    /// `ε ~ N(0, I)`: variance `2 ||S||_F^2` with `S` the symmetric part of `J`.
    Gaussian,
    /// Independent signs `±1`: variance `2 Σ_{i≠j} S_ij^2` (the diagonal does not contribute).
    Rademacher,
}

impl Probe {
    /// `n` probe vectors in `d` dimensions, `[n, d]`.
    pub fn draw(self, n: usize, d: usize, rng: &mut dyn Rng) -> Array2<f64> {
        match self {
            Probe::Gaussian => {
                Array2::from_shape_simple_fn((n, d), || rng.sample::<f64, _>(StandardNormal))
            }
            Probe::Rademacher => {
                Array2::from_shape_simple_fn(
                    (n, d),
                    || {
                        if rng.random::<bool>() {
                            1.0
                        } else {
                            -1.0
                        }
                    },
                )
            }
        }
    }

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Gaussian => "Gaussian",
            Probe::Rademacher => "Rademacher",
        }
    }
}

/// The Skilling-Hutchinson estimate `ε_n^T J_s(t, x_n) ε_n` of `∇·s(t, x_n)`, one probe
/// (row of `probes`) per row of `x`; one Jacobian-vector product.
pub fn hutchinson_divergence(
    score: &dyn ScoreFn,
    t: f64,
    x: ArrayView2<f64>,
    probes: ArrayView2<f64>,
) -> Result<Array1<f64>> {
    check_same("hutchinson: probes", x.dim(), probes.dim())?;
    let jv = score.jvp(t, x, probes)?;
    Ok((&jv * &probes).sum_axis(ndarray::Axis(1)))
}
