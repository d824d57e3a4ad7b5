//! A training batch in the fused trainer's form: the network input and the weighted residual
//! loss [`ResidualLoss`], on preallocated buffers; [`DsmBuffers`] draws the continuous DSM
//! batch (`loss::dsm_batch` + `loss::dsm_loss_and_grad`) into them.
use ndarray::ArrayView2;
use rand::Rng;

use super::float::Float;
use crate::error::{Error, Result};
use crate::loss::{draw_dsm, Weighting};
use crate::sde::LinearSde;

/// The loss `J = c Σ_i w_i Σ_j (α_i y_ij + β_ij)²` of the network output `y` (`[n, d]`).
///
/// The continuous DSM loss (`loss::dsm_loss_and_grad`) is `α = ζ(t)`, `β = z`,
/// `w = λ(t)/ζ(t)²`, `c = 1/(n d)` (seed) or `1/(2n)`; the DDPM loss `mean |ε_θ − ε|²` is
/// `α = 1`, `β = −ε`, `w = 1`, `c = 1/(n d)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResidualLoss<'a, F> {
    /// `α_i`, one per row.
    pub alpha: &'a [F],
    /// `β_ij`, `[n, d]` row-major.
    pub beta: &'a [F],
    /// `w_i`, one per row.
    pub weight: &'a [F],
    /// `c`.
    pub scale: F,
}

/// `dst[i] = src[i]` rounded to `F` (the buffers have equal lengths).
pub(crate) fn round_into<F: Float>(dst: &mut [F], src: &[f64]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = F::from_f64(s);
    }
}

/// Buffers for one draw of `t_n ~ U(t_eps, T)`, `z_n ~ N(0, I)`, `x̃_n = mu(t_n) x_n + zeta(t_n) z_n`
/// on a fixed data set of `n` points in `d` dimensions, for [`FusedTrainer`](super::FusedTrainer).
#[derive(Clone, Debug)]
pub struct DsmBuffers<F> {
    n: usize,
    d: usize,
    t: Vec<f64>,
    noise: Vec<f64>,
    /// The network input `[x̃, t]` as drawn, `[n, d + 1]` row-major.
    drawn: Vec<f64>,
    /// `drawn` rounded to `F`.
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
            drawn: vec![0.0; n * (d + 1)],
            input: vec![F::ZERO; n * (d + 1)],
            alpha: vec![F::ZERO; n],
            beta: vec![F::ZERO; n * d],
            weight: vec![F::ZERO; n],
            scale: F::ZERO,
        }
    }

    /// Draws a batch from `rng` with the draw of `loss::dsm_batch` (the same function, so the
    /// same random numbers in the same order and the same batch), allocating nothing. Errors
    /// like `dsm_batch` on a bad `t_eps` or non-finite data, and on data that is not `[n, d]`.
    pub fn draw(
        &mut self,
        sde: &dyn LinearSde,
        x0: ArrayView2<f64>,
        t_eps: f64,
        weighting: Weighting,
        rng: &mut dyn Rng,
    ) -> Result<()> {
        if x0.dim() != (self.n, self.d) {
            return Err(Error::shape(
                "DsmBuffers::draw data",
                format!("[{}, {}]", self.n, self.d),
                format!("{:?}", x0.dim()),
            ));
        }
        draw_dsm(
            sde,
            x0,
            t_eps,
            rng,
            &mut self.t,
            &mut self.noise,
            &mut self.drawn,
        )?;
        round_into(&mut self.input, &self.drawn);
        round_into(&mut self.beta, &self.noise);
        for ((&t, alpha), weight) in self.t.iter().zip(&mut self.alpha).zip(&mut self.weight) {
            let s = sde.kernel_std(t);
            *alpha = F::from_f64(s);
            *weight = F::from_f64(weighting.lambda(sde, t) / (s * s));
        }
        self.scale = F::from_f64(weighting.normaliser(self.n, self.d));
        Ok(())
    }

    /// The network input `[x̃, t]` of the last draw, `[n, d + 1]` row-major.
    pub fn input(&self) -> &[F] {
        &self.input
    }

    /// The loss of the last draw: `α = ζ(t)`, `β = z`, `w = λ(t)/ζ(t)²`.
    pub(crate) fn loss(&self) -> ResidualLoss<'_, F> {
        ResidualLoss {
            alpha: &self.alpha,
            beta: &self.beta,
            weight: &self.weight,
            scale: self.scale,
        }
    }
}
