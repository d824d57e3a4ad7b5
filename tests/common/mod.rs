//! Helpers shared by the integration tests (`mod common;` in each test file that uses them).
//! Each test binary uses only some of them.
#![allow(dead_code)]

use score_sde::ddpm::VarianceSchedule;
use score_sde::ndarray::{Array2, ArrayView2};
use score_sde::sde::LinearSde;

/// Sample mean and its standard error `s / sqrt(n)`.
pub fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (v / n).sqrt())
}

/// Sample variance (unbiased) and its standard error `sqrt((m4 - v^2) / n)`, `m4` the fourth
/// central moment.
pub fn var_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = xs.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
    (v, ((m4 - v * v) / n).sqrt())
}

/// Exact mean and variance of the forward Euler-Maruyama recursion of a linear SDE from `x0`
/// to time `t` in `steps` equal steps (its discretisation bias is then known):
/// `m <- (1 + f dt) m`, `v <- (1 + f dt)^2 v + g^2 dt`.
pub fn em_moments(sde: &dyn LinearSde, x0: f64, t: f64, steps: usize) -> (f64, f64) {
    let dt = t / steps as f64;
    let (mut m, mut v) = (x0, 0.0);
    for k in 0..steps {
        let s = k as f64 * dt;
        let a = 1.0 + sde.drift_coef(s) * dt;
        m *= a;
        v = a * a * v + sde.diffusion(s).powi(2) * dt;
    }
    (m, v)
}

/// Seed 004's schedule: beta linear from 0.02 to 0.4 over K = 40 steps.
pub fn seed_schedule() -> VarianceSchedule {
    VarianceSchedule::linear(0.02, 0.4, 40).unwrap()
}

/// A fixed, deliberately imperfect linear noise model `eps_theta(x, k) = c_k x + 0.1`,
/// `c_k = 0.8 sqrt(1 - alpha_bar_k)`.
pub fn linear_model(
    s: &VarianceSchedule,
) -> impl Fn(ArrayView2<f64>, usize) -> score_sde::Result<Array2<f64>> + '_ {
    move |x: ArrayView2<f64>, k: usize| {
        let c = 0.8 * s.one_minus_alpha_bar(k)?.sqrt();
        Ok(x.mapv(|v| c * v + 0.1))
    }
}

/// Relative L2 distance `|a - b| / |b|` of a flat slice to an array of the same length.
pub fn rel(a: &[f64], b: ArrayView2<f64>) -> f64 {
    let num: f64 = a.iter().zip(b.iter()).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// The largest [`rel`] between a flat gradient (the fused trainer's) and the tape's
/// per-array gradients, taken in order; the lengths must add up.
pub fn max_grad_rel(flat: &[f64], tape: &[Array2<f64>]) -> f64 {
    let mut off = 0;
    let mut worst: f64 = 0.0;
    for g in tape {
        worst = worst.max(rel(&flat[off..off + g.len()], g.view()));
        off += g.len();
    }
    assert_eq!(off, flat.len());
    worst
}
