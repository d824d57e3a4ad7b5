//! Score functions `s(t, x) ≈ ∇_x log p_t(x)`: the interface every sampler takes.
mod empirical;
mod labelled;
pub use empirical::EmpiricalScore;
pub use labelled::LabelledNetScore;

use ndarray::{Array1, Array2, ArrayView2};

use crate::error::Result;
use crate::mixture::GaussianMixture;
use crate::sde::LinearSde;

/// A (possibly learnt) score of the diffused marginals, evaluated on a batch `[n, d]` at one time.
pub trait ScoreFn: Sync {
    /// `s(t, x)` for each row of `x`.
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>>;

    /// The Jacobian-vector product `J_s(t, x_n) v_n` for each row (`J_s = ∂s/∂x`).
    ///
    /// The default is the central difference `(s(x + h v) - s(x - h v)) / (2h)` with
    /// [`JVP_STEP`] `h = 1e-4`: truncation error `h^2 |∂^3 s| / 6`, round-off about
    /// `1e-16 |s| / h`, both far below `1e-6` for scores of order one on data of order one.
    /// Exact scores override it with forward-mode autodiff.
    fn jvp(&self, t: f64, x: ArrayView2<f64>, v: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::sde::check_same("jvp: direction", x.dim(), v.dim())?;
        let plus = &x + &(&v * JVP_STEP);
        let minus = &x - &(&v * JVP_STEP);
        let sp = self.score(t, plus.view())?;
        let sm = self.score(t, minus.view())?;
        crate::sde::check_same("score output", x.dim(), sp.dim())?;
        Ok((sp - sm) / (2.0 * JVP_STEP))
    }

    /// The divergence `∇·s(t, x_n) = tr J_s` for each row, as `Σ_j e_j^T J_s e_j`
    /// (`d` Jacobian-vector products with the basis vectors).
    fn divergence(&self, t: f64, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        let (n, d) = x.dim();
        let mut div = Array1::zeros(n);
        for j in 0..d {
            let mut e = Array2::zeros((n, d));
            e.column_mut(j).fill(1.0);
            let jv = self.jvp(t, x, e.view())?;
            div += &jv.column(j);
        }
        Ok(div)
    }
}

/// Step `h` of the default central-difference [`ScoreFn::jvp`].
pub const JVP_STEP: f64 = 1e-4;

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

    /// Exact, by forward mode ([`GaussianMixture::score_jvp`]).
    fn jvp(&self, t: f64, x: ArrayView2<f64>, v: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.p0.diffused(self.sde, t)?.score_jvp(x, v)
    }

    /// Exact, by `d` forward-mode passes ([`GaussianMixture::score_divergence`]).
    fn divergence(&self, t: f64, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        self.p0.diffused(self.sde, t)?.score_divergence(x)
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
