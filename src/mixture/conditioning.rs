//! Conditioning a diagonal Gaussian mixture on some of its coordinates: the exact answer of
//! imputation. With `p_0(x) = Σ_i w_i N(x; m_i, diag s_i^2)` and the coordinates `K` observed
//! at `x_K = a`, each component factorises over coordinates, so
//!
//! `p_0(x_U | x_K = a) = Σ_i ρ_i N(x_U; m_{iU}, diag s_{iU}^2)`,
//! `ρ_i ∝ w_i Π_{k ∈ K} N(a_k; m_{ik}, s_{ik}^2)`:
//!
//! the unobserved coordinates keep each component's Gaussian, and the components are
//! reweighted by how well they explain the observation (Bayes' rule per component).
use ndarray::Array2;

use super::{log_sum_exp, GaussianMixture};
use crate::error::{Error, Result};

/// Checks observed coordinates `known` of a `d`-dimensional point: each below `d`, no repeats,
/// at least one, and at least one coordinate left unobserved. Returns the unobserved ones in
/// increasing order.
pub fn unobserved_coordinates(d: usize, known: &[usize]) -> Result<Vec<usize>> {
    if known.is_empty() {
        return Err(Error::param(
            "observed coordinates",
            "at least one coordinate must be observed",
        ));
    }
    let mut seen = vec![false; d];
    for &k in known {
        if k >= d {
            return Err(Error::param(
                "observed coordinates",
                format!("coordinate {k} is outside 0..{d}"),
            ));
        }
        if seen[k] {
            return Err(Error::param(
                "observed coordinates",
                format!("coordinate {k} is listed twice"),
            ));
        }
        seen[k] = true;
    }
    let unknown: Vec<usize> = (0..d).filter(|&j| !seen[j]).collect();
    if unknown.is_empty() {
        return Err(Error::param(
            "observed coordinates",
            "every coordinate is observed: nothing is left to impute",
        ));
    }
    Ok(unknown)
}

impl GaussianMixture {
    /// `p_0(x_U | x_K = values)`: a mixture over the unobserved coordinates `U` (increasing
    /// order), with weights `ρ_i ∝ w_i Π_k N(values_k; m_{ik}, s_{ik}^2)` computed in log space
    /// (normalised by log-sum-exp; their sum is 1 to rounding, within `GaussianMixture::new`'s
    /// tolerance).
    ///
    /// Errors on invalid `known` ([`unobserved_coordinates`]), on `values` of another length or
    /// not finite.
    pub fn condition(&self, known: &[usize], values: &[f64]) -> Result<GaussianMixture> {
        let unknown = unobserved_coordinates(self.dim(), known)?;
        if values.len() != known.len() {
            return Err(Error::shape("observed values", known.len(), values.len()));
        }
        crate::error::all_finite(values, "observed values")?;
        let log_rho: Vec<f64> = (0..self.n_components())
            .map(|i| {
                let mut l = self.weights()[i].ln();
                for (&k, &a) in known.iter().zip(values) {
                    let (m, s) = (self.means()[[i, k]], self.stds()[[i, k]]);
                    let z = (a - m) / s;
                    // The Gaussian's -ln(2π)/2 is the same for every component: it cancels.
                    l += -0.5 * z * z - s.ln();
                }
                l
            })
            .collect();
        let norm = log_sum_exp(log_rho.iter().copied());
        let weights = log_rho.iter().map(|l| (l - norm).exp()).collect();
        let pick = |a: &Array2<f64>| a.select(ndarray::Axis(1), &unknown);
        GaussianMixture::new(weights, pick(self.means()), pick(self.stds()))
    }
}
