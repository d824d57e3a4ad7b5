//! Annealed Langevin dynamics (Song and Ermon 2019, Algorithm 1) for a noise-conditional
//! score `s(x, σ)`: for each level `σ_1 > ... > σ_L`, `K` Langevin steps of size
//! `α_i = ε σ_i^2 / σ_L^2` targeting `p_{σ_i}`, each level starting where the previous stopped;
//! optionally a final denoising step `x ← x + σ_L^2 s(x, σ_L)` (Tweedie's formula; Song and
//! Ermon 2020). The score is a [`ScoreFn`] whose "time" argument is the level `σ`, as the
//! seed's network takes the input `[x, σ]`.
use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::grid_law::{GridLaw, Law1d};
use super::langevin::langevin_step;
use crate::error::{Error, Result};
use crate::score::ScoreFn;

/// Settings of [`annealed_langevin`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnealedLangevinConfig {
    /// The levels, strictly decreasing and positive.
    pub sigmas: Vec<f64>,
    /// Base step `ε`: the step at the last level.
    pub eps: f64,
    /// Langevin steps per level `K`.
    pub steps_per_level: usize,
    /// Apply the final denoising step.
    pub denoise: bool,
    /// Keep the state after every step.
    pub keep_paths: bool,
}

/// The geometric ladder `σ_i = σ_1 θ^(i-1)`, `θ = (σ_L/σ_1)^(1/(L-1))` (seed 001: 6 levels, 2 to 0.5).
pub fn geometric_levels(sigma_1: f64, sigma_l: f64, l: usize) -> Result<Vec<f64>> {
    crate::error::positive(sigma_1, "sigma_1")?;
    crate::error::positive(sigma_l, "sigma_L")?;
    if l < 2 || sigma_l >= sigma_1 {
        return Err(Error::param(
            "levels",
            format!("need L >= 2 and sigma_L < sigma_1, got L = {l}, {sigma_l} >= {sigma_1}"),
        ));
    }
    let theta = (sigma_l / sigma_1).powf(1.0 / (l - 1) as f64);
    Ok((0..l).map(|i| sigma_1 * theta.powi(i as i32)).collect())
}

/// The output of [`annealed_langevin`].
#[derive(Clone, Debug)]
pub struct AnnealedLangevinRun {
    /// The final states `[n, d]` (denoised if asked).
    pub samples: Array2<f64>,
    /// With `keep_paths`: the initial state and the state after each of the `L K` steps.
    pub paths: Option<Vec<Array2<f64>>>,
    /// Score evaluations: `L K` (+ 1 for denoising).
    pub n_score_evals: usize,
}

/// Runs annealed Langevin dynamics from `x_init`.
pub fn annealed_langevin(
    score: &dyn ScoreFn,
    x_init: Array2<f64>,
    config: &AnnealedLangevinConfig,
    rng: &mut dyn Rng,
) -> Result<AnnealedLangevinRun> {
    let sig = &config.sigmas;
    if sig.is_empty() {
        return Err(Error::param("sigmas", "need at least one level"));
    }
    for &s in sig {
        crate::error::positive(s, "sigma")?;
    }
    if sig.windows(2).any(|w| w[1] >= w[0]) {
        return Err(Error::param("sigmas", "levels must decrease strictly"));
    }
    crate::error::positive(config.eps, "eps")?;
    crate::error::all_finite(x_init.iter(), "initial states")?;
    let sigma_l = sig[sig.len() - 1];
    let mut x = x_init;
    let mut paths = config.keep_paths.then(|| vec![x.clone()]);
    let mut n_score_evals = 0;
    // ANCHOR: annealed_langevin_loop
    for &s in sig {
        let alpha = config.eps * s * s / (sigma_l * sigma_l);
        for _ in 0..config.steps_per_level {
            let g = score.score(s, x.view())?;
            n_score_evals += 1;
            langevin_step(&mut x, g.view(), alpha, rng)?;
            crate::error::all_finite(x.iter(), "annealed Langevin state")?;
            if let Some(p) = paths.as_mut() {
                p.push(x.clone());
            }
        }
    }
    // ANCHOR_END: annealed_langevin_loop
    if config.denoise {
        let g = score.score(sigma_l, x.view())?;
        crate::sde::check_same("score output", x.dim(), g.dim())?;
        n_score_evals += 1;
        x = x + g * (sigma_l * sigma_l);
    }
    Ok(AnnealedLangevinRun {
        samples: x,
        paths,
        n_score_evals,
    })
}

/// The exact law of [`annealed_langevin`]'s output for 1-D data, started from the law `start`
/// (quadrature on `start`'s grid, [`GridLaw`]): every Langevin step is the Gaussian kernel
/// `x -> N(x + (α_i/2) s(x, σ_i), α_i)`, and the optional denoising step the deterministic
/// map `x + σ_L^2 s(x, σ_L)` (nondecreasing for an exact score). No Monte Carlo error: it
/// separates the sampler's bias from the noise of a finite sample.
///
/// Errors as [`annealed_langevin`] does, if a step's `sqrt(α_i)` is below the grid step, or if
/// the denoising map decreases.
pub fn annealed_langevin_law_1d(
    score: &dyn ScoreFn,
    start: &GridLaw,
    config: &AnnealedLangevinConfig,
) -> Result<Law1d> {
    let sig = &config.sigmas;
    if sig.is_empty() || sig.windows(2).any(|w| w[1] >= w[0]) {
        return Err(Error::param("sigmas", "need strictly decreasing levels"));
    }
    crate::error::positive(config.eps, "eps")?;
    let sigma_l = sig[sig.len() - 1];
    let xs = start.grid();
    let col = Array2::from_shape_vec((xs.len(), 1), xs.clone())
        .map_err(|e| Error::param("grid", e.to_string()))?;
    let score_at = |s: f64| -> Result<Vec<f64>> {
        let g = score.score(s, col.view())?;
        crate::sde::check_same("score output", col.dim(), g.dim())?;
        Ok(g.column(0).to_vec())
    };
    let mut steps: Vec<(Vec<f64>, f64)> = vec![];
    for &s in sig {
        let alpha = config.eps * s * s / (sigma_l * sigma_l);
        let g = score_at(s)?;
        let m: Vec<f64> = xs
            .iter()
            .zip(&g)
            .map(|(x, g)| x + 0.5 * alpha * g)
            .collect();
        for _ in 0..config.steps_per_level {
            steps.push((m.clone(), alpha.sqrt()));
        }
    }
    if config.denoise {
        let g = score_at(sigma_l)?;
        let m = xs
            .iter()
            .zip(&g)
            .map(|(x, g)| x + sigma_l * sigma_l * g)
            .collect();
        steps.push((m, 0.0));
    }
    let Some((last_m, last_sd)) = steps.pop() else {
        return start.law();
    };
    let mut law = start.clone();
    for (m, sd) in &steps {
        law = law.step(m, *sd)?;
    }
    law.finish(&last_m, last_sd)
}
