//! Predictor-corrector sampling in the order of Song et al. (2020), Algorithm 1: on the grid
//! `t_min = t_0 < ... < t_{N-1} = T`, for `k = N-1, ..., 1` one predictor step from `t_k` to
//! `t_{k-1}` (score at `t_k`), then the corrector's Langevin steps at `t_{k-1}`; optionally a
//! final denoising step by Tweedie's formula at `t_min`,
//! `x ← (x + zeta(t_min)^2 s(t_min, x)) / mu(t_min)` = `E[x_0 | x_{t_min}]` for the exact score.
//! (The reference code `score_sde` runs the corrector *before* the predictor at each time.)
use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::corrector::LangevinCorrector;
use super::predictor::{transition, Predictor};
use super::Trajectory;
use crate::error::Result;
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// Settings of [`pc_sample`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PcConfig {
    /// Number of time points `N` (`N - 1` predictor steps).
    pub n_time_points: usize,
    /// The final time `t_min >= 0`.
    pub t_min: f64,
    pub predictor: Predictor,
    /// `None`: predictor only.
    pub corrector: Option<LangevinCorrector>,
    /// Apply Tweedie's denoising step at `t_min` (a no-op when `zeta(t_min) = 0`).
    pub denoise: bool,
    /// Keep the state after each predictor-corrector step.
    pub keep_paths: bool,
}

impl PcConfig {
    /// `n_time_points` points on `[0, T]`, the given predictor, no corrector, no denoising.
    pub fn predictor_only(predictor: Predictor, n_time_points: usize) -> Self {
        Self {
            n_time_points,
            t_min: 0.0,
            predictor,
            corrector: None,
            denoise: false,
            keep_paths: false,
        }
    }

    /// Score evaluations of one run: `(N - 1) (p + M) + denoise`, with `p = 1` for a
    /// predictor that uses the score and `M` corrector steps.
    pub fn score_evals(&self) -> usize {
        let m = self.corrector.map_or(0, |c| c.n_steps);
        let p = usize::from(self.predictor.uses_score());
        self.n_time_points.saturating_sub(1) * (p + m) + usize::from(self.denoise)
    }
}

/// Runs the predictor-corrector sampler from the states `x_t_max` down to `t_min`.
pub fn pc_sample(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    x_t_max: Array2<f64>,
    config: &PcConfig,
    rng: &mut dyn Rng,
) -> Result<Trajectory> {
    let times = super::time_grid(sde, config.n_time_points, config.t_min)?;
    let n_t = times.len();
    if let Some(c) = &config.corrector {
        c.validate()?;
    }
    crate::error::all_finite(x_t_max.iter(), "initial states")?;
    let mut x = x_t_max;
    let mut paths = config.keep_paths.then(|| vec![x.clone()]);
    for k in (1..n_t).rev() {
        let (t, t_prev) = (times[k], times[k - 1]);
        if config.predictor.uses_score() {
            let s = score.score(t, x.view())?;
            config
                .predictor
                .step(sde, &mut x, s.view(), t, t_prev, rng)?;
        }
        if let Some(c) = &config.corrector {
            let (a, _) = transition(sde, t, t_prev)?;
            c.correct(score, t_prev, a * a, &mut x, rng)?;
        }
        crate::error::all_finite(x.iter(), "sampler state")?;
        if let Some(p) = paths.as_mut() {
            p.push(x.clone());
        }
    }
    if config.denoise {
        let (mu, v) = (sde.mean_factor(config.t_min), sde.kernel_var(config.t_min));
        if v > 0.0 {
            let s = score.score(config.t_min, x.view())?;
            crate::sde::check_same("score output", x.dim(), s.dim())?;
            x = (x + s * v) / mu;
        }
    }
    if let Some(p) = paths.as_mut() {
        p.reverse();
    }
    Ok(Trajectory {
        times,
        samples: x,
        paths,
    })
}
