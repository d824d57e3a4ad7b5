//! The continuous DSM training batch (`loss::dsm_batch` + `loss::dsm_loss_and_grad`) drawn into
//! preallocated buffers, in the fused trainer's form [`ResidualLoss`].
use ndarray::ArrayView2;
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use super::float::Float;
use super::trainer::ResidualLoss;
use crate::error::{Error, Result};
use crate::loss::Weighting;
use crate::sde::LinearSde;

/// Buffers for one draw of `t_n ~ U(t_eps, T)`, `z_n ~ N(0, I)`, `x̃_n = mu(t_n) x_n + zeta(t_n) z_n`
/// on a fixed data set of `n` points in `d` dimensions.
#[derive(Clone, Debug)]
pub struct DsmBuffers<F> {
    n: usize,
    d: usize,
    t: Vec<f64>,
    noise: Vec<f64>,
    /// Network input `[x̃, t]`, `[n, d + 1]` row-major.
    input: Vec<F>,
    alpha: Vec<F>,
    beta: Vec<F>,
    weight: Vec<F>,
    scale: F,
}

impl<F: Float> DsmBuffers<F> {
    /// Buffers for `n` points in `d` dimensions.
    pub fn new(n: usize, d: usize) -> Self {
        Self {
            n,
            d,
            t: vec![0.0; n],
            noise: vec![0.0; n * d],
            input: vec![F::ZERO; n * (d + 1)],
            alpha: vec![F::ZERO; n],
            beta: vec![F::ZERO; n * d],
            weight: vec![F::ZERO; n],
            scale: F::ZERO,
        }
    }

    /// Draws a batch from `rng`, consuming the same random numbers in the same order as
    /// `loss::dsm_batch` (all `t_n`, then the noise row by row), so both paths see the same
    /// batch. Errors like `dsm_batch` on a bad `t_eps`, non-finite data or a shape mismatch.
    pub fn draw(
        &mut self,
        sde: &dyn LinearSde,
        x0: ArrayView2<f64>,
        t_eps: f64,
        weighting: Weighting,
        rng: &mut dyn Rng,
    ) -> Result<()> {
        let t_max = sde.t_max();
        if !(t_eps.is_finite() && t_eps > 0.0 && t_eps < t_max) {
            return Err(Error::param(
                "t_eps",
                format!("must lie in (0, T = {t_max}), got {t_eps}"),
            ));
        }
        if x0.dim() != (self.n, self.d) {
            return Err(Error::shape(
                "DsmBuffers::draw data",
                format!("[{}, {}]", self.n, self.d),
                format!("{:?}", x0.dim()),
            ));
        }
        crate::error::all_finite(x0.iter(), "training data")?;
        let (n, d) = (self.n, self.d);
        for t in &mut self.t {
            *t = rng.random_range(t_eps..t_max);
        }
        for z in &mut self.noise {
            *z = rng.sample::<f64, _>(StandardNormal);
        }
        self.scale = F::from_f64(weighting.normaliser(n, d));
        for (i, x) in x0.rows().into_iter().enumerate() {
            let t = self.t[i];
            let (m, s) = (sde.mean_factor(t), sde.kernel_std(t));
            let row = &mut self.input[i * (d + 1)..(i + 1) * (d + 1)];
            for j in 0..d {
                let z = self.noise[i * d + j];
                row[j] = F::from_f64(m * x[j] + s * z);
                self.beta[i * d + j] = F::from_f64(z);
            }
            row[d] = F::from_f64(t);
            self.alpha[i] = F::from_f64(s);
            self.weight[i] = F::from_f64(weighting.lambda(sde, t) / (s * s));
        }
        Ok(())
    }

    /// The network input `[x̃, t]` of the last draw, `[n, d + 1]` row-major.
    pub fn input(&self) -> &[F] {
        &self.input
    }

    /// The loss of the last draw.
    pub fn loss(&self) -> ResidualLoss<'_, F> {
        ResidualLoss {
            alpha: &self.alpha,
            beta: &self.beta,
            weight: &self.weight,
            scale: self.scale,
        }
    }
}
