//! Keeping the digits network's samples in range: the same EMA network sampled with its own
//! score and with its denoiser clipped to the data's box `[-1, 1]`
//! ([`ClippedDenoiser`], a no-op for the exact score), by ancestral sampling and by
//! DPM-Solver++(2M) at two step counts, each judged by the digit classifier.
use serde::{Deserialize, Serialize};

use super::digits_network::{Judge, Quality};
use crate::digits::{pixel_range, ClassifierConfig, Digits, DigitsModel, DELTA};
use crate::error::Result;
use crate::rng::seeded;
use crate::sampling::sigma::sigma_of_t;
use crate::sampling::{ClippedDenoiser, Sampler, Schedule};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// Samplers, their step counts and the samples.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClippingConfig {
    /// Ancestral steps (equal steps in `t` down to `t_eps`).
    pub ancestral_steps: usize,
    /// DPM-Solver++(2M) step counts (Karras grid down to `sigma(t_eps)`).
    pub ode_steps: Vec<usize>,
    pub n_samples: usize,
    pub t_eps: f64,
    pub classifier: ClassifierConfig,
    pub seed: u64,
}

impl ClippingConfig {
    /// The book's run (the network section's sampler settings and seed).
    pub fn book() -> Self {
        Self {
            ancestral_steps: 200,
            ode_steps: vec![40, 200],
            n_samples: 200,
            t_eps: 1e-3,
            classifier: ClassifierConfig::book(),
            seed: 31,
        }
    }
}

/// One sampler, with or without clipping.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClippingRow {
    pub sampler: String,
    pub clipped: bool,
    /// The smallest and largest pixel value of the samples.
    pub pixel_range: (f64, f64),
    /// The fraction of pixels outside `[-1, 1]` by more than `1e-9` (rounding of Tweedie's
    /// step, which returns the clipped denoiser only up to rounding).
    pub outside: f64,
    /// The fraction of pixels outside `[-1 - Δ, 1 + Δ]`, more than one grey level
    /// ([`DELTA`]) out.
    pub outside_level: f64,
    pub quality: Quality,
}

/// Samples `n` images with `score` from the prior, then Tweedie's step
/// `x_0 = (x + zeta^2 s(t, x)) / mu` at the last time of `ts` with the same score.
pub fn sample_tweedie(
    score: &dyn ScoreFn,
    sde: &dyn LinearSde,
    sampler: &Sampler,
    ts: &[f64],
    n: usize,
    seed: u64,
) -> Result<ndarray::Array2<f64>> {
    let mut rng = seeded(seed);
    let x = sde.sample_prior(n, 64, &mut rng);
    let (x, _) = sampler.run(sde, score, x, ts, &mut rng)?;
    let t = ts[ts.len() - 1];
    let s = score.score(t, x.view())?;
    Ok((&x + &(s * sde.kernel_var(t))) / sde.mean_factor(t))
}

/// Runs every sampler with `model` as it is and clipped to `[-1, 1]`.
pub fn run(model: &DigitsModel, config: &ClippingConfig) -> Result<Vec<ClippingRow>> {
    let digits = Digits::book()?;
    let (judge, _) = Judge::new(&digits, &config.classifier)?;
    let sde = model.sde;
    let clipped = ClippedDenoiser::new(model, sde, -1.0, 1.0)?;
    let mut samplers = vec![(
        format!("ancestral, {} steps", config.ancestral_steps),
        Sampler::Ancestral,
        Schedule::UniformT {
            t_min: config.t_eps,
        }
        .times(sde, config.ancestral_steps)?,
    )];
    for &k in &config.ode_steps {
        let karras = Schedule::Karras {
            rho: 7.0,
            sigma_min: sigma_of_t(sde, config.t_eps),
        };
        samplers.push((
            format!("DPM-Solver++(2M), {k} steps"),
            Sampler::DpmSolverPp2m,
            karras.times(sde, k)?,
        ));
    }
    let mut rows = vec![];
    for (name, sampler, ts) in &samplers {
        for (is_clipped, score) in [(false, model as &dyn ScoreFn), (true, &clipped)] {
            let x0 = sample_tweedie(score, sde, sampler, ts, config.n_samples, config.seed)?;
            let share = |over: f64| {
                x0.iter().filter(|v| v.abs() > 1.0 + over).count() as f64 / x0.len() as f64
            };
            rows.push(ClippingRow {
                sampler: name.clone(),
                clipped: is_clipped,
                pixel_range: pixel_range(x0.view()),
                outside: share(1e-9),
                outside_level: share(DELTA),
                quality: judge.quality(x0.view())?,
            });
        }
    }
    Ok(rows)
}
