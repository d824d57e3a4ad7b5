//! Nearest-neighbour distances in pixel space, the measure of memorisation: a sample that
//! sits much closer to a training image than held-out images do is a copy, not a new digit.
use ndarray::{ArrayView2, Axis};

use crate::error::{Error, Result};

/// For each row of `queries`, the index of the nearest row of `reference` and the Euclidean
/// distance to it (`|q|^2 + |r|^2 - 2 q·r`, one matrix product, clamped at zero).
pub fn nearest_neighbours(
    queries: ArrayView2<f64>,
    reference: ArrayView2<f64>,
) -> Result<(Vec<usize>, Vec<f64>)> {
    if reference.nrows() == 0 {
        return Err(Error::param("reference", "needs at least one row"));
    }
    if queries.ncols() != reference.ncols() {
        return Err(Error::shape(
            "nearest neighbours",
            reference.ncols(),
            queries.ncols(),
        ));
    }
    crate::error::all_finite(queries.iter(), "queries")?;
    crate::error::all_finite(reference.iter(), "reference")?;
    let r2 = reference.map_axis(Axis(1), |r| r.dot(&r));
    let g = queries.dot(&reference.t());
    let mut idx = Vec::with_capacity(queries.nrows());
    let mut dist = Vec::with_capacity(queries.nrows());
    for (q, gr) in queries.rows().into_iter().zip(g.rows()) {
        let q2 = q.dot(&q);
        let (mut best, mut best_d2) = (0, f64::INFINITY);
        for (j, (&gj, &rj)) in gr.iter().zip(r2.iter()).enumerate() {
            let d2 = q2 + rj - 2.0 * gj;
            if d2 < best_d2 {
                best = j;
                best_d2 = d2;
            }
        }
        idx.push(best);
        dist.push(best_d2.max(0.0).sqrt());
    }
    Ok((idx, dist))
}

/// The near-copy criterion: a sample whose nearest training image differs from it by less
/// than one grey level per pixel, root-mean-square (`1/8` on the `[-1, 1]` scale), that is
/// by less than `sqrt(64) / 8 = 1` in Euclidean distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NearCopy {
    /// The Euclidean threshold.
    pub threshold: f64,
}

impl NearCopy {
    /// One grey level RMS over `d` pixels on the `[-1, 1]` scale: `sqrt(d) / 8`.
    pub fn one_grey_level(d: usize) -> Self {
        Self {
            threshold: (d as f64).sqrt() / 8.0,
        }
    }
}

/// The fraction of `distances` (nearest-training-image distances) below the threshold.
/// Errors on an empty list.
pub fn near_copy_fraction(distances: &[f64], rule: NearCopy) -> Result<f64> {
    if distances.is_empty() {
        return Err(Error::param("distances", "needs at least one distance"));
    }
    let below = distances.iter().filter(|&&d| d < rule.threshold).count();
    Ok(below as f64 / distances.len() as f64)
}

/// The largest Euclidean distance between two rows of `x`, Song & Ermon's (2020) technique 1
/// for the VE `sigma_max` (every pair's distance then lies within the largest noise scale).
/// Errors on fewer than two rows or non-finite entries.
pub fn largest_pairwise_distance(x: ArrayView2<f64>) -> Result<f64> {
    if x.nrows() < 2 {
        return Err(Error::param("images", "needs at least two rows"));
    }
    crate::error::all_finite(x.iter(), "images")?;
    let mut best = 0.0_f64;
    for (i, a) in x.rows().into_iter().enumerate() {
        for b in x.rows().into_iter().skip(i + 1) {
            let d2: f64 = a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum();
            best = best.max(d2);
        }
    }
    Ok(best.sqrt())
}
