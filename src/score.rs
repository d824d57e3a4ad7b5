//! Score functions `s(t, x) ≈ ∇_x log p_t(x)`: the interface every sampler takes.
use ndarray::{Array2, ArrayView2};

use crate::error::Result;
use crate::mixture::GaussianMixture;
use crate::sde::LinearSde;

/// A (possibly learnt) score of the diffused marginals, evaluated on a batch `[n, d]` at one time.
pub trait ScoreFn: Sync {
    /// `s(t, x)` for each row of `x`.
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>>;
}

impl<F> ScoreFn for F
where
    F: Fn(f64, ArrayView2<f64>) -> Result<Array2<f64>> + Sync,
{
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self(t, x)
    }
}

/// The exact score `∇ log p_t` of a Gaussian-mixture data distribution diffused by `sde`:
/// the oracle that separates network error from discretisation and prior error.
pub struct ExactScore<'a> {
    pub p0: &'a GaussianMixture,
    pub sde: &'a dyn LinearSde,
}

impl<'a> ExactScore<'a> {
    pub fn new(p0: &'a GaussianMixture, sde: &'a dyn LinearSde) -> Self {
        Self { p0, sde }
    }
}

impl ScoreFn for ExactScore<'_> {
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.p0.diffused(self.sde, t)?.score(x)
    }
}

/// A network `s_θ(t, x)` with input `[x_1, ..., x_d, t]` (the seed's order) and output `[n, d]`.
pub struct NetScore<'a> {
    pub net: &'a crate::nn::Mlp,
}

impl ScoreFn for NetScore<'_> {
    /// No tape: the fused forward kernels with per-thread scratch buffers
    /// ([`crate::fast::infer::forward_with_time`]).
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::fast::infer::forward_with_time(self.net, x, t)
    }
}
