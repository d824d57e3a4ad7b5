//! Euler-Maruyama for the reverse-time SDE `dX = [f X - g^2 ∇log p_t] dt + g dW̄`.
//!
//! On the grid `t_0 = t_min < ... < t_{N-1} = T` (`N` time points, `N - 1` steps, as in the
//! seed), one step from `t_k` down to `t_{k-1}` is
//! `x ← x - [f(t_k) x - g(t_k)^2 s(t_k, x)] Δt + g(t_k) sqrt(Δt) z`, `z ~ N(0, I)`.
//! The score is never evaluated at `t_min`.
use ndarray::{Array2, Zip};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::error::{Error, Result};
use crate::progress::ProgressBar;
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// Settings of [`reverse_euler_maruyama`].
#[derive(Clone, Debug)]
pub struct ReverseSdeConfig {
    /// Number of time points `N` (the seed: 200, i.e. 199 steps).
    pub n_time_points: usize,
    /// The final time `t_min` (the seed: 0).
    pub t_min: f64,
    /// Keep every intermediate state (for path plots).
    pub keep_paths: bool,
    /// An optional progress bar, advanced once per step.
    pub progress: Option<ProgressBar>,
}

impl Default for ReverseSdeConfig {
    fn default() -> Self {
        Self {
            n_time_points: 200,
            t_min: 0.0,
            keep_paths: false,
            progress: None,
        }
    }
}

/// The result of a reverse-time run.
#[derive(Clone, Debug)]
pub struct Trajectory {
    /// The time grid `t_0 < ... < t_{N-1}`, increasing.
    pub times: Vec<f64>,
    /// Final states at `t_min`, `[n, d]`.
    pub samples: Array2<f64>,
    /// With `keep_paths`, the states at each time, same order as `times`.
    pub paths: Option<Vec<Array2<f64>>>,
}

/// Runs the reverse SDE from the states `x_t_max` (e.g. prior draws) down to `t_min`.
pub fn reverse_euler_maruyama(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    x_t_max: Array2<f64>,
    config: &ReverseSdeConfig,
    rng: &mut dyn Rng,
) -> Result<Trajectory> {
    let times = super::time_grid(sde, config.n_time_points, config.t_min)?;
    let n_t = times.len();
    crate::error::all_finite(x_t_max.iter(), "initial states")?;
    let mut x = x_t_max;
    let mut paths = config.keep_paths.then(|| vec![x.clone()]);
    // ANCHOR: reverse_em_loop
    for k in (1..n_t).rev() {
        let (t, dt) = (times[k], times[k] - times[k - 1]);
        let s = score.score(t, x.view())?;
        if s.dim() != x.dim() {
            return Err(Error::shape(
                "score output",
                format!("{:?}", x.dim()),
                format!("{:?}", s.dim()),
            ));
        }
        let (f, g) = (sde.drift_coef(t), sde.diffusion(t));
        let (g2dt, gsq) = (g * g * dt, g * dt.sqrt());
        Zip::from(&mut x).and(&s).for_each(|xi, &si| {
            let z: f64 = rng.sample(StandardNormal);
            *xi += -f * *xi * dt + g2dt * si + gsq * z;
        });
        if x.iter().any(|v| !v.is_finite()) {
            return Err(diverged(times[k - 1], n_t));
        }
        if let Some(p) = paths.as_mut() {
            p.push(x.clone());
        }
        if let Some(pb) = &config.progress {
            pb.inc(1);
        }
    }
    // ANCHOR_END: reverse_em_loop
    if let Some(p) = paths.as_mut() {
        p.reverse();
    }
    Ok(Trajectory {
        times,
        samples: x,
        paths,
    })
}

/// The error of a reverse Euler-Maruyama run whose states overflowed at time `t`.
fn diverged(t: f64, n_t: usize) -> Error {
    Error::NonFinite {
        what: format!(
            "the reverse Euler-Maruyama states at t = {t}: the scheme diverged ({n_t} time \
             points are too few for this SDE's f dt and g^2 dt, or the score overflowed)"
        ),
    }
}
