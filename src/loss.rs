//! Denoising score-matching losses, built on the reverse-mode tape.
//!
//! Continuous loss (Song et al. 2020, eq. 7), with the empirical data, one `t_n ~ U(eps, T)`
//! and one kernel draw `x̃_n = mu(t_n) x_n + zeta(t_n) z_n` per data point:
//! `J = 1/(2N) Σ_n λ(t_n) | s_θ(t_n, x̃_n) - ∇ log p(t_n, x̃_n | 0, x_n) |^2`,
//! where `∇ log p(t, x̃ | 0, x) = -z / zeta(t)`. We evaluate it in the stable form
//! `λ/zeta^2 |zeta s_θ + z|^2`, which never divides by a small `zeta`.
mod labelled;
pub use labelled::labelled_dsm_batch;

use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::Mlp;
use crate::sde::LinearSde;

/// The weighting `λ(t)` of the continuous loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Weighting {
    /// The seed's loss `mean(abs2, sigma(t) s + z)`: `λ = zeta^2`, no factor 1/2, mean over
    /// points *and* coordinates (so it is `2/d` times the `KernelVariance` loss).
    Seed,
    /// `λ(t) = zeta(t)^2`: every noise level contributes a loss of order one (Song & Ermon 2019).
    KernelVariance,
    /// `λ(t) = g(t)^2`: the likelihood weighting, for which `J` bounds the KL divergence
    /// (Song, Durkan, Murray, Ermon 2021).
    Likelihood,
    /// `λ(t) = 1`.
    Unit,
}

impl Weighting {
    /// `λ(t)`.
    pub fn lambda(self, sde: &dyn LinearSde, t: f64) -> f64 {
        match self {
            Weighting::Seed | Weighting::KernelVariance => sde.kernel_var(t),
            Weighting::Likelihood => sde.diffusion(t).powi(2),
            Weighting::Unit => 1.0,
        }
    }

    /// The factor in front of `Σ_n λ/zeta^2 |zeta s + z|^2` for `n` points in `d` dimensions:
    /// the seed's mean over points and coordinates, otherwise `1/(2n)` (eq. 7's `1/2`).
    pub fn normaliser(self, n: usize, d: usize) -> f64 {
        match self {
            Weighting::Seed => 1.0 / (n * d) as f64,
            _ => 0.5 / n as f64,
        }
    }
}

/// One draw of the training targets for a data batch `x0 [n, d]`.
#[derive(Clone, Debug)]
pub struct DsmBatch {
    /// Network input `[x̃, t]`, `[n, d + 1]` (the seed's order: point, then time).
    pub input: Array2<f64>,
    /// Kernel standard deviation `zeta(t_n)` per row, `[n, 1]`.
    pub zeta: Array2<f64>,
    /// The noise `z_n`, `[n, d]`.
    pub noise: Array2<f64>,
    /// The times `t_n`.
    pub t: Vec<f64>,
}

// ANCHOR: dsm_batch
/// Draws `t_n ~ U(t_eps, T)`, `z_n ~ N(0, I)` and `x̃_n = mu(t_n) x_n + zeta(t_n) z_n`.
pub fn dsm_batch(
    sde: &dyn LinearSde,
    x0: ArrayView2<f64>,
    t_eps: f64,
    rng: &mut dyn Rng,
) -> Result<DsmBatch> {
    let (n, d) = x0.dim();
    let (mut t, mut noise, mut input) = (vec![0.0; n], vec![0.0; n * d], vec![0.0; n * (d + 1)]);
    draw_dsm(sde, x0, t_eps, rng, &mut t, &mut noise, &mut input)?;
    let zeta = t.iter().map(|&t| sde.kernel_std(t)).collect();
    Ok(DsmBatch {
        input: Array2::from_shape_vec((n, d + 1), input).expect("n (d + 1) values"),
        zeta: Array2::from_shape_vec((n, 1), zeta).expect("n values"),
        noise: Array2::from_shape_vec((n, d), noise).expect("n d values"),
        t,
    })
}

/// Training times are drawn from `U(t_eps, T)`: `t_eps` must lie in `(0, T)`.
pub(crate) fn check_t_eps(sde: &dyn LinearSde, t_eps: f64) -> Result<()> {
    let t_max = sde.t_max();
    if !(t_eps.is_finite() && t_eps > 0.0 && t_eps < t_max) {
        return Err(Error::param(
            "t_eps",
            format!("must lie in (0, T = {t_max}), got {t_eps}"),
        ));
    }
    Ok(())
}

/// The draw of [`dsm_batch`] into the caller's buffers (it allocates nothing, for the fused
/// trainer): all `t_n` first, then `z_n` row by row, then the network input rows `[x̃_n, t_n]`.
/// `t`: `[n]`, `noise`: `[n, d]`, `input`: `[n, d + 1]`, row-major. Errors on a bad `t_eps`,
/// non-finite data or buffers of the wrong length.
pub(crate) fn draw_dsm(
    sde: &dyn LinearSde,
    x0: ArrayView2<f64>,
    t_eps: f64,
    rng: &mut dyn Rng,
    t: &mut [f64],
    noise: &mut [f64],
    input: &mut [f64],
) -> Result<()> {
    check_t_eps(sde, t_eps)?;
    let t_max = sde.t_max();
    crate::error::all_finite(x0.iter(), "training data")?;
    let (n, d) = x0.dim();
    crate::error::check_len("DSM draw: t", n, t.len())?;
    crate::error::check_len("DSM draw: noise", n * d, noise.len())?;
    crate::error::check_len("DSM draw: input", n * (d + 1), input.len())?;
    for t in t.iter_mut() {
        *t = rng.random_range(t_eps..t_max);
    }
    for z in noise.iter_mut() {
        *z = rng.sample(StandardNormal);
    }
    for (i, x) in x0.rows().into_iter().enumerate() {
        let (m, s) = (sde.mean_factor(t[i]), sde.kernel_std(t[i]));
        let z = &noise[i * d..(i + 1) * d];
        let row = &mut input[i * (d + 1)..(i + 1) * (d + 1)];
        for ((xt, &x), &z) in row.iter_mut().zip(x).zip(z) {
            *xt = m * x + s * z;
        }
        row[d] = t[i];
    }
    Ok(())
}
// ANCHOR_END: dsm_batch

/// A loss is a mean over `n d` terms: with none it would be `0/0`, so an empty batch is an
/// error rather than `Ok(NaN)`.
fn non_empty(n: usize, d: usize, what: &'static str) -> Result<()> {
    if n == 0 || d == 0 {
        return Err(Error::param(
            what,
            format!("a loss needs at least one point of at least one dimension, got [{n}, {d}]"),
        ));
    }
    Ok(())
}

/// Value and parameter gradients of the continuous DSM loss of `net` on one batch draw.
// ANCHOR: dsm_loss
pub fn dsm_loss_and_grad(
    net: &Mlp,
    sde: &dyn LinearSde,
    weighting: Weighting,
    batch: &DsmBatch,
) -> Result<(f64, Vec<Array2<f64>>)> {
    let (n, d) = batch.noise.dim();
    non_empty(n, d, "DSM batch")?;
    let w = Array2::from_shape_vec(
        (n, 1),
        batch
            .t
            .iter()
            .zip(batch.zeta.iter())
            .map(|(&t, &z)| weighting.lambda(sde, t) / (z * z))
            .collect(),
    )
    .expect("n rows");
    let c = weighting.normaliser(n, d);
    net.loss_and_grad(batch.input.view(), |tape, s| {
        let zeta = tape.constant(batch.zeta.clone());
        let z = tape.constant(batch.noise.clone());
        let w = tape.constant(w);
        let zs = tape.scale_rows(s, zeta)?;
        let r = tape.add(zs, z)?;
        let r2 = tape.square(r)?;
        let wr2 = tape.scale_rows(r2, w)?;
        let total = tape.sum(wr2)?;
        tape.scale(total, c)
    })
}
// ANCHOR_END: dsm_loss

/// The multi-level SMLD loss of seed 001 (Song & Ermon 2019) with `λ(σ) = σ^2`, every data
/// point perturbed at every level: `1/(2 L N) Σ_i Σ_n |σ_i s_θ(x̃, σ_i) + z|^2`, network
/// input `[x̃, σ_i]`.
// ANCHOR: smld_loss
pub fn smld_loss_and_grad(
    net: &Mlp,
    x0: ArrayView2<f64>,
    sigmas: &[f64],
    rng: &mut dyn Rng,
) -> Result<(f64, Vec<Array2<f64>>)> {
    if sigmas.is_empty() {
        return Err(Error::param("sigmas", "need at least one noise level"));
    }
    for &s in sigmas {
        crate::error::positive(s, "sigma")?;
    }
    crate::error::all_finite(x0.iter(), "training data")?;
    let (n, d) = x0.dim();
    non_empty(n, d, "SMLD training data")?;
    let rows = n * sigmas.len();
    let noise = Array2::from_shape_simple_fn((rows, d), || rng.sample::<f64, _>(StandardNormal));
    let sig = Array2::from_shape_fn((rows, 1), |(r, _)| sigmas[r / n]);
    let mut input = Array2::zeros((rows, d + 1));
    for r in 0..rows {
        for j in 0..d {
            input[[r, j]] = x0[[r % n, j]] + sig[[r, 0]] * noise[[r, j]];
        }
        input[[r, d]] = sig[[r, 0]];
    }
    let c = 0.5 / rows as f64;
    net.loss_and_grad(input.view(), |tape, s| {
        let sig = tape.constant(sig);
        let z = tape.constant(noise);
        let ss = tape.scale_rows(s, sig)?;
        let r = tape.add(ss, z)?;
        let r2 = tape.square(r)?;
        let total = tape.sum(r2)?;
        tape.scale(total, c)
    })
}
// ANCHOR_END: smld_loss

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use crate::sde::{Ve, Vp};

    /// The draw's order of random numbers (all `t_n`, then `z_n` row by row), which the book's
    /// numbers depend on, against a draw by hand from a copy of the generator.
    #[test]
    fn draw_order_and_perturbation() {
        let sde = Vp::song();
        let mut rng = seeded(3);
        let x0 = Array2::from_shape_fn((5, 2), |(i, j)| i as f64 - 0.5 * j as f64);
        let mut by_hand = rng.clone();
        let b = dsm_batch(&sde, x0.view(), 1e-3, &mut rng).unwrap();
        let t: Vec<f64> = (0..5)
            .map(|_| by_hand.random_range(1e-3..sde.t_max()))
            .collect();
        let z = Array2::from_shape_simple_fn((5, 2), || by_hand.sample(StandardNormal));
        assert_eq!(b.t, t);
        assert_eq!(b.noise, z);
        let xt = sde
            .perturb(x0.view(), ndarray::ArrayView1::from(&t), z.view())
            .unwrap();
        for i in 0..5 {
            assert_eq!(b.input.row(i).to_vec(), vec![xt[[i, 0]], xt[[i, 1]], t[i]]);
            assert_eq!(b.zeta[[i, 0]], sde.kernel_std(t[i]));
        }
        assert_eq!(rng.random::<u64>(), by_hand.random::<u64>());
    }

    #[test]
    fn draw_rejects_bad_input_and_buffers() {
        let sde = Ve::seed();
        let x0 = Array2::<f64>::zeros((4, 1));
        let mut rng = seeded(1);
        let (mut t, mut z, mut inp) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 8]);
        assert!(draw_dsm(&sde, x0.view(), 1e-3, &mut rng, &mut t, &mut z, &mut inp).is_ok());
        for bad in [0.0, -1.0, f64::NAN, sde.t_max()] {
            let r = draw_dsm(&sde, x0.view(), bad, &mut rng, &mut t, &mut z, &mut inp);
            assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{bad}");
        }
        let r = draw_dsm(
            &sde,
            x0.view(),
            1e-3,
            &mut rng,
            &mut t,
            &mut z,
            &mut inp[..7],
        );
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
        let r = draw_dsm(
            &sde,
            x0.view(),
            1e-3,
            &mut rng,
            &mut t[..3],
            &mut z,
            &mut inp,
        );
        assert!(matches!(r, Err(Error::ShapeMismatch { .. })));
        let mut nan = x0.clone();
        nan[[2, 0]] = f64::NAN;
        let r = draw_dsm(&sde, nan.view(), 1e-3, &mut rng, &mut t, &mut z, &mut inp);
        assert!(matches!(r, Err(Error::NonFinite { .. })));
    }
}
