//! The divergence `∇·s = tr J_s` of a score and its Skilling-Hutchinson estimate
//! `ε^T J_s ε` with `E[ε] = 0`, `E[ε ε^T] = I` (Skilling 1989; Hutchinson 1990).
//!
//! The Jacobian-vector products come from [`ScoreFn::jvp`]: exact (forward mode) for the
//! mixture oracle ([`GaussianMixture::score_jvp`](crate::mixture::GaussianMixture::score_jvp)),
//! central differences for other scores.
use ndarray::{Array1, Array2, ArrayView2};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::score::ScoreFn;
use crate::sde::check_same;

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
