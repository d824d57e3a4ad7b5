//! Distances between a sample and a target, score errors, and the density recovered from a score.
mod frechet;
mod sliced;
pub use frechet::{frechet_distance_sq, symmetric_eigen, GaussianFit};
pub use sliced::{half_circle_angles, sliced_wasserstein1, wasserstein1_to_cdf};

use ndarray::Array2;
use rand::Rng;

use crate::error::{Error, Result};
use crate::mixture::GaussianMixture;
use crate::quadrature::trapezoid;
use crate::score::ScoreFn;

fn sorted_finite(samples: &[f64]) -> Result<Vec<f64>> {
    if samples.is_empty() {
        return Err(Error::shape("sample", "at least one point", 0));
    }
    crate::error::all_finite(samples, "sample")?;
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

fn check_1d(target: &GaussianMixture) -> Result<()> {
    if target.dim() == 1 {
        Ok(())
    } else {
        Err(Error::shape(
            "target",
            "d = 1",
            format!("d = {}", target.dim()),
        ))
    }
}

/// Kolmogorov-Smirnov distance `sup_x |F_n(x) - F(x)|` between a 1-D sample and a target CDF
/// (the supremum is attained at a sample point, from the left or the right).
pub fn ks_distance(samples: &[f64], target: &GaussianMixture) -> Result<f64> {
    check_1d(target)?;
    let v = sorted_finite(samples)?;
    let n = v.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in v.iter().enumerate() {
        let f = target.cdf_1d(x)?;
        d = d
            .max((f - i as f64 / n).abs())
            .max(((i + 1) as f64 / n - f).abs());
    }
    Ok(d)
}

/// Wasserstein-1 distance `∫ |F_n(x) - F(x)| dx` between a 1-D sample and a target,
/// integrated exactly between sample points by adaptive quadrature of the target CDF.
pub fn wasserstein1(samples: &[f64], target: &GaussianMixture) -> Result<f64> {
    check_1d(target)?;
    let v = sorted_finite(samples)?;
    let n = v.len() as f64;
    let (m, s) = (target.mean()[0], target.variance()[0].sqrt());
    let lo = v[0].min(m - 12.0 * s - 12.0 * target.stds().iter().cloned().fold(0.0, f64::max));
    let hi =
        v[v.len() - 1].max(m + 12.0 * s + 12.0 * target.stds().iter().cloned().fold(0.0, f64::max));
    let cdf = |x: f64| target.cdf_1d(x).unwrap_or(f64::NAN);
    let mut total = crate::quadrature::integrate(cdf, lo, v[0], 1e-10)?;
    for (i, w) in v.windows(2).enumerate() {
        let level = (i + 1) as f64 / n;
        if w[1] > w[0] {
            total += crate::quadrature::integrate(|x| (level - cdf(x)).abs(), w[0], w[1], 1e-12)?;
        }
    }
    total += crate::quadrature::integrate(|x| 1.0 - cdf(x), v[v.len() - 1], hi, 1e-10)?;
    Ok(total)
}

/// Wasserstein-1 distance between two 1-D samples of equal size: `mean |a_(i) - b_(i)|`
/// over the order statistics.
pub fn wasserstein1_samples(a: &[f64], b: &[f64]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Error::shape("wasserstein1_samples", a.len(), b.len()));
    }
    let (a, b) = (sorted_finite(a)?, sorted_finite(b)?);
    Ok(a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64)
}

/// The distances an exact sample of size `n` achieves against its own law: mean and the
/// 95% quantile of W1 and KS over `reps` seeded repetitions. This is the yardstick of a
/// sampler's result: no sampler of `n` points can beat it on average.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct SamplingNoise {
    pub n: usize,
    pub w1_mean: f64,
    pub w1_q95: f64,
    pub ks_mean: f64,
    pub ks_q95: f64,
}

/// Estimates [`SamplingNoise`] for samples of size `n` by Monte Carlo.
pub fn sampling_noise(
    target: &GaussianMixture,
    n: usize,
    reps: usize,
    rng: &mut dyn Rng,
) -> Result<SamplingNoise> {
    if reps < 2 {
        return Err(Error::param("reps", format!("must be >= 2, got {reps}")));
    }
    let (mut w, mut k) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for _ in 0..reps {
        let s = target.sample(n, rng).column(0).to_vec();
        w.push(wasserstein1(&s, target)?);
        k.push(ks_distance(&s, target)?);
    }
    Ok(SamplingNoise {
        n,
        w1_mean: mean(&w)?,
        ks_mean: mean(&k)?,
        w1_q95: quantile(&w, 0.95)?,
        ks_q95: quantile(&k, 0.95)?,
    })
}

/// The `q` quantile of `values`, interpolated linearly between the order statistics
/// `x_(⌊h⌋)` and `x_(⌈h⌉)` at `h = q (n - 1)` (0-based; Hyndman and Fan's type 7, numpy's
/// default), by `ndarray-stats`. Errors on an empty or non-finite input or `q` outside `[0, 1]`.
pub fn quantile(values: &[f64], q: f64) -> Result<f64> {
    use ndarray_stats::{interpolate::Linear, Quantile1dExt};
    use noisy_float::types::N64;
    if !(0.0..=1.0).contains(&q) {
        return Err(Error::param("q", format!("must lie in [0, 1], got {q}")));
    }
    crate::error::all_finite(values, "quantile input")?;
    let mut a: ndarray::Array1<N64> = values.iter().map(|&x| N64::new(x)).collect();
    a.quantile_mut(N64::new(q), &Linear)
        .map(|x| x.raw())
        .map_err(|_| Error::shape("quantile input", "at least one value", 0))
}

/// Mean and standard error (sample sd / sqrt(n)) of `xs` (at least 2 values).
pub fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (v / n).sqrt())
}

/// The arithmetic mean of `values` (`ndarray-stats`); an error when empty.
pub fn mean(values: &[f64]) -> Result<f64> {
    use ndarray_stats::SummaryStatisticsExt;
    let view = ndarray::ArrayView1::from(values);
    SummaryStatisticsExt::mean(&*view)
        .map_err(|_| Error::shape("mean input", "at least one value", 0))
}

/// Score error of `score` against the exact score of `p_t` at time `t` on a 1-D grid:
/// returns (root mean square weighted by `p_t`, maximum absolute error) over the grid.
pub fn score_error(
    score: &dyn ScoreFn,
    exact: &GaussianMixture,
    t: f64,
    grid: &[f64],
) -> Result<(f64, f64)> {
    check_1d(exact)?;
    let x = Array2::from_shape_vec((grid.len(), 1), grid.to_vec())
        .map_err(|_| Error::shape("grid", "1-D grid", grid.len()))?;
    let s = score.score(t, x.view())?;
    let e = exact.score(x.view())?;
    let p = exact.pdf(x.view())?;
    let (mut num, mut den, mut mx) = (0.0, 0.0, 0.0f64);
    for i in 0..grid.len() {
        let d = s[[i, 0]] - e[[i, 0]];
        num += p[i] * d * d;
        den += p[i];
        mx = mx.max(d.abs());
    }
    Ok(((num / den).sqrt(), mx))
}

/// The 1-D density recovered from a score on a grid: `p(x) ∝ exp(∫_{x_0}^x s)`, the
/// integral by the trapezoid rule, normalised to integrate to one on the grid.
/// (The seed uses a left Riemann sum `cumsum(s) dx`; the trapezoid rule is second order.)
pub fn density_from_score(grid: &[f64], scores: &[f64]) -> Result<Vec<f64>> {
    if grid.len() != scores.len() || grid.len() < 2 {
        return Err(Error::shape(
            "density_from_score",
            "grid and scores of equal length >= 2",
            format!("{} and {}", grid.len(), scores.len()),
        ));
    }
    crate::error::all_finite(scores, "scores")?;
    let mut logp = vec![0.0; grid.len()];
    for i in 1..grid.len() {
        logp[i] = logp[i - 1] + 0.5 * (grid[i] - grid[i - 1]) * (scores[i] + scores[i - 1]);
    }
    let mx = logp.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let un: Vec<f64> = logp.iter().map(|l| (l - mx).exp()).collect();
    let z = trapezoid(grid, &un)?;
    Ok(un.into_iter().map(|u| u / z).collect())
}
