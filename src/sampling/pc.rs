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
use super::grid_law::{GridLaw, Law1d};
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

/// The exact law of [`pc_sample`]'s output for 1-D data, started from the law `start` of the
/// states at `T`, by quadrature ([`GridLaw`]): every predictor and corrector step is a
/// Gaussian kernel `x -> N(m(x), s^2)` evaluated on `start`'s grid. The Langevin corrector's
/// step size uses batch means of `|z|` and `|s|`; here they are replaced by their large-batch
/// limits `E|Z| = sqrt(2/pi)` and `E|s(t, X)|` under the current law, so this is the law of
/// [`pc_sample`] as the number of samples grows.
///
/// Errors as [`pc_sample`] does, and if a kernel's standard deviation is below the grid step.
pub fn pc_law_1d(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    start: &GridLaw,
    config: &PcConfig,
) -> Result<Law1d> {
    let times = super::time_grid(sde, config.n_time_points, config.t_min)?;
    if let Some(c) = &config.corrector {
        c.validate()?;
    }
    let xs = start.grid();
    let col = Array2::from_shape_vec((xs.len(), 1), xs.clone())
        .map_err(|e| crate::Error::param("grid", e.to_string()))?;
    let score_at = |t: f64| -> Result<Vec<f64>> {
        let s = score.score(t, col.view())?;
        crate::sde::check_same("score output", col.dim(), s.dim())?;
        Ok(s.column(0).to_vec())
    };
    let mut law = start.clone();
    let mut pending: Option<(Vec<f64>, f64)> = None;
    let flush = |law: &mut GridLaw, pending: &mut Option<(Vec<f64>, f64)>| -> Result<()> {
        if let Some((m, sd)) = pending.take() {
            *law = law.step(&m, sd)?;
        }
        Ok(())
    };
    for k in (1..times.len()).rev() {
        let (t, t_prev) = (times[k], times[k - 1]);
        if let Some((c_x, c_s, c_z)) = config.predictor.coefficients(sde, t, t_prev)? {
            flush(&mut law, &mut pending)?;
            let s = score_at(t)?;
            let m = xs.iter().zip(&s).map(|(x, s)| c_x * x + c_s * s).collect();
            pending = Some((m, c_z));
        }
        if let Some(c) = &config.corrector {
            let (a, _) = transition(sde, t, t_prev)?;
            for _ in 0..c.n_steps {
                flush(&mut law, &mut pending)?;
                let s = score_at(t_prev)?;
                let abs: Vec<f64> = s.iter().map(|v| v.abs()).collect();
                let gn = law.expect_values(&abs);
                let zn = (2.0 / std::f64::consts::PI).sqrt();
                let eps = 2.0 * a * a * (c.snr * zn / gn).powi(2);
                let m = xs.iter().zip(&s).map(|(x, s)| x + eps * s).collect();
                pending = Some((m, (2.0 * eps).sqrt()));
            }
        }
    }
    if config.denoise {
        let (mu, v) = (sde.mean_factor(config.t_min), sde.kernel_var(config.t_min));
        if v > 0.0 {
            flush(&mut law, &mut pending)?;
            let s = score_at(config.t_min)?;
            let m = xs.iter().zip(&s).map(|(x, s)| (x + v * s) / mu).collect();
            pending = Some((m, 0.0));
        }
    }
    match pending {
        Some((m, sd)) => law.finish(&m, sd),
        None => law.law(),
    }
}
