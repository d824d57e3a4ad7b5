//! Small helpers for the evcxr notebooks in `notebooks/`, so that a notebook cell stays a
//! few lines: exact forward paths of a linear SDE and per-sample paths for
//! [`Chart::paths`](crate::book::plot::Chart::paths).
use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::error::{all_finite, Error, Result};
use crate::sde::LinearSde;

/// Paths of the forward SDE started at `x0` (time 0), recorded at the increasing `times`
/// in `[0, T]`, drawn with the exact Gaussian transition of a linear SDE:
/// `x_t | x_s ~ N(a x_s, (zeta(t)^2 - a^2 zeta(s)^2) I)` with `a = mu(t) / mu(s)`
/// (the kernel `p(t | 0)` composed with the inverse of `p(s | 0)`; no discretisation error).
///
/// Returns one `[n, d]` state per time. Errors if `times` is empty, not non-decreasing,
/// outside `[0, T]`, or `x0` is not finite.
pub fn forward_paths(
    sde: &dyn LinearSde,
    x0: ArrayView2<f64>,
    times: &[f64],
    rng: &mut dyn Rng,
) -> Result<Vec<Array2<f64>>> {
    all_finite(x0.iter(), "forward_paths: x0")?;
    if times.is_empty() {
        return Err(Error::param("times", "need at least one time"));
    }
    let t_max = sde.t_max();
    let mut s = 0.0;
    for &t in times {
        if !(t.is_finite() && t >= s && t <= t_max) {
            return Err(Error::param(
                "times",
                format!("must be non-decreasing in [0, {t_max}], got {t} after {s}"),
            ));
        }
        s = t;
    }
    let mut x = x0.to_owned();
    let mut out = Vec::with_capacity(times.len());
    let mut s = 0.0;
    for &t in times {
        if t > s {
            let a = sde.mean_factor(t) / sde.mean_factor(s);
            let v = (sde.kernel_var(t) - a * a * sde.kernel_var(s)).max(0.0);
            let sd = v.sqrt();
            x.mapv_inplace(|xi| a * xi + sd * rng.sample::<f64, _>(StandardNormal));
            s = t;
        }
        out.push(x.clone());
    }
    Ok(out)
}

/// Coordinate `dim` of a list of states `[n, d]` (one per time) regrouped per sample:
/// `result[i][j]` is sample `i` at time `j`, the layout of
/// [`Chart::paths`](crate::book::plot::Chart::paths).
pub fn per_sample(states: &[Array2<f64>], dim: usize) -> Result<Vec<Vec<f64>>> {
    let Some(first) = states.first() else {
        return Ok(Vec::new());
    };
    let (n, d) = first.dim();
    if dim >= d {
        return Err(Error::param(
            "dim",
            format!("must be < {d} (the state dimension), got {dim}"),
        ));
    }
    for s in states {
        if s.dim() != (n, d) {
            return Err(Error::shape(
                "per_sample: every state",
                format!("[{n}, {d}]"),
                format!("{:?}", s.shape()),
            ));
        }
    }
    Ok((0..n)
        .map(|i| states.iter().map(|s| s[[i, dim]]).collect())
        .collect())
}
