//! The sliced Wasserstein-1 distance of a 2-D sample to a law known through its projections:
//! `SW1 = (1/K) Σ_j W1(θ_j·X_n, θ_j·X)` over `K` fixed directions `θ_j = (cos φ_j, sin φ_j)`,
//! `φ_j = π j / K` (half a circle suffices: `W1` of `-θ·X` equals that of `θ·X`). Each 1-D `W1`
//! is `∫ |F_n(u) - F(u)| du` against a CDF given on a grid and linear between its nodes,
//! integrated in closed form (no quadrature error beyond the CDF's own).
use ndarray::ArrayView2;

use crate::error::{Error, Result};

/// The `K` angles `φ_j = π j / K`, `j = 0..K` (`j = 0` and, for even `K`, `j = K/2` are the
/// coordinate axes).
pub fn half_circle_angles(k: usize) -> Vec<f64> {
    (0..k)
        .map(|j| std::f64::consts::PI * j as f64 / k as f64)
        .collect()
}

/// `∫ |g|` over `[a, b]` for `g` linear from `ga` at `a` to `gb` at `b`.
fn abs_linear(a: f64, b: f64, ga: f64, gb: f64) -> f64 {
    let len = b - a;
    if ga * gb >= 0.0 {
        0.5 * len * (ga.abs() + gb.abs())
    } else {
        0.5 * len * (ga * ga + gb * gb) / (ga.abs() + gb.abs())
    }
}

/// `W1 = ∫ |F_n(u) - F(u)| du` between a 1-D sample and the CDF `F` through `(xs, cdf)`,
/// linear between nodes, 0 below `xs[0]` and 1 above the last node. Exact for that `F`: on
/// each interval between consecutive nodes and sample points `F_n` is constant and `F - F_n`
/// linear. Errors unless `xs` increases, `cdf` is finite and nondecreasing in `[0, 1]`, and the
/// sample is non-empty and finite.
pub fn wasserstein1_to_cdf(samples: &[f64], xs: &[f64], cdf: &[f64]) -> Result<f64> {
    if xs.len() != cdf.len() || xs.len() < 2 {
        return Err(Error::shape(
            "grid CDF",
            "nodes and values of equal length >= 2",
            format!("{} and {}", xs.len(), cdf.len()),
        ));
    }
    crate::error::all_finite(xs, "CDF nodes")?;
    crate::error::all_finite(cdf, "CDF values")?;
    if xs.windows(2).any(|w| w[1] <= w[0])
        || cdf.windows(2).any(|w| w[1] < w[0])
        || cdf[0] < 0.0
        || cdf[cdf.len() - 1] > 1.0 + 1e-9
    {
        return Err(Error::param(
            "grid CDF",
            "nodes must increase and values be nondecreasing in [0, 1]",
        ));
    }
    let v = super::sorted_finite(samples)?;
    let n = v.len() as f64;
    let (first, last) = (xs[0], xs[xs.len() - 1]);
    let interp = |x: f64| -> f64 {
        let k = (xs.partition_point(|&g| g <= x) - 1).min(xs.len() - 2);
        cdf[k] + (cdf[k + 1] - cdf[k]) * (x - xs[k]) / (xs[k + 1] - xs[k])
    };
    // F(a+) and F(b-): F is 0 below the grid and 1 above it, linear between the nodes.
    let right_of = |a: f64| {
        if a < first {
            0.0
        } else if a >= last {
            1.0
        } else {
            interp(a)
        }
    };
    let left_of = |b: f64| {
        if b <= first {
            0.0
        } else if b > last {
            1.0
        } else {
            interp(b)
        }
    };
    // Breakpoints: every node and every sample point; between two, F_n is constant and F
    // linear. Below the first and above the last both CDFs agree (0, then 1).
    let mut points: Vec<f64> = xs.iter().chain(&v).copied().collect();
    points.sort_by(f64::total_cmp);
    points.dedup();
    let mut total = 0.0;
    let mut count = 0usize; // sample points <= the interval's left end
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        while count < v.len() && v[count] <= a {
            count += 1;
        }
        let level = count as f64 / n;
        total += abs_linear(a, b, right_of(a) - level, left_of(b) - level);
    }
    Ok(total)
}

/// `(1/K) Σ_j W1(θ_j·X_n, F_j)` for a sample `[n, 2]`, angles `φ_j` and the projected law's
/// CDF for each (as [`wasserstein1_to_cdf`] takes it).
pub fn sliced_wasserstein1(
    samples: ArrayView2<f64>,
    angles: &[f64],
    cdfs: &[(Vec<f64>, Vec<f64>)],
) -> Result<f64> {
    if samples.ncols() != 2 {
        return Err(Error::shape(
            "sample",
            "[n, 2]",
            format!("{:?}", samples.dim()),
        ));
    }
    if angles.is_empty() || angles.len() != cdfs.len() {
        return Err(Error::shape(
            "sliced W1",
            "one CDF per angle, at least one",
            format!("{} angles, {} CDFs", angles.len(), cdfs.len()),
        ));
    }
    let mut total = 0.0;
    for (&phi, (xs, cdf)) in angles.iter().zip(cdfs) {
        let (c, s) = (phi.cos(), phi.sin());
        let proj: Vec<f64> = samples
            .rows()
            .into_iter()
            .map(|r| c * r[0] + s * r[1])
            .collect();
        total += wasserstein1_to_cdf(&proj, xs, cdf)?;
    }
    Ok(total / angles.len() as f64)
}
