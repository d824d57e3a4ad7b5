//! Guided sampling against its exact answers (the guidance chapter): a 1-D mixture whose
//! components are two classes, the exact law of Euler-Maruyama driven by classifier-free
//! guidance at several strengths (by quadrature, `pc_law_1d`: no Monte Carlo), and the tilted
//! law `p_0(x | y) p_0(y | x)^w` those scores describe at `t = 0`.
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::mixture::{GaussianMixture, LabelledMixture};
use crate::sampling::{
    pc_law_1d, tilted_law_1d, ClassifierFree, ConditionalScore, GridLaw, Law1d, PcConfig, Predictor,
};
use crate::score::ExactScore;
use crate::sde::{LinearSde, Vp};

/// The settings (everything is exact: no seed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GuidanceConfig {
    /// Classifier-free guidance strengths `w` (classifier guidance at scale `1 + w`).
    pub strengths: Vec<f64>,
    /// The class sampled.
    pub class: usize,
    /// Euler-Maruyama steps on `[t_min, 1]`, and the coarser count that shows convergence.
    pub steps: usize,
    pub coarse_steps: usize,
    pub t_min: f64,
    /// The quadrature grid `lo..hi` with spacing `h`.
    pub lo: f64,
    pub hi: f64,
    pub h: f64,
}

impl GuidanceConfig {
    /// The chapter's settings.
    pub fn book() -> Self {
        Self {
            strengths: vec![0.0, 0.5, 1.0, 2.0, 4.0],
            class: 0,
            steps: 200,
            coarse_steps: 100,
            t_min: 1e-3,
            lo: -9.0,
            hi: 9.0,
            h: 0.01,
        }
    }
}

/// Class 0: components at -2 (weight 0.3) and 0.5 (0.2); class 1: one at 2 (0.5).
pub fn example() -> Result<LabelledMixture> {
    let mix = GaussianMixture::new_1d(&[0.3, 0.2, 0.5], &[-2.0, 0.5, 2.0], &[0.5, 0.4, 0.6])?;
    LabelledMixture::new(mix, vec![0, 0, 1])
}

/// One guidance strength's results.
#[derive(Clone, Debug, Serialize)]
pub struct GuidedRow {
    pub w: f64,
    pub mean_guided: f64,
    pub mean_tilted: f64,
    pub sd_guided: f64,
    pub sd_tilted: f64,
    /// `P(X > -0.75)`: the mass of the class's component at 0.5 (the point halfway between -2
    /// and 0.5), under the guided law and the tilted law.
    pub upper_guided: f64,
    pub upper_tilted: f64,
    /// W1 between the guided sampler's law and the tilted law, at `steps` and `coarse_steps`.
    pub w1_tilted: f64,
    pub w1_tilted_coarse: f64,
    #[serde(skip)]
    pub guided: Law1d,
    /// The guided sampler's law at `coarse_steps`.
    #[serde(skip)]
    pub coarse: Law1d,
    #[serde(skip)]
    pub tilted: Law1d,
}

/// The whole experiment.
#[derive(Clone, Debug, Serialize)]
pub struct GuidanceReport {
    pub config: GuidanceConfig,
    pub rows: Vec<GuidedRow>,
}

/// Runs every strength.
pub fn run(config: &GuidanceConfig) -> Result<GuidanceReport> {
    let (p0, sde) = (example()?, Vp::song());
    let exact = ExactScore::new(p0.mixture(), &sde);
    let cond = ConditionalScore::new(&p0, &sde, config.class)?;
    let start = GridLaw::from_mixture(
        &cond.conditional().diffused(&sde, sde.t_max())?,
        config.lo,
        config.hi,
        config.h,
    )?;
    let law = |w: f64, steps: usize| -> Result<Law1d> {
        let guided = ClassifierFree {
            conditional: &cond,
            unconditional: &exact,
            guidance: w,
        };
        let mut cfg = PcConfig::predictor_only(Predictor::EulerMaruyama, steps + 1);
        cfg.t_min = config.t_min;
        pc_law_1d(&sde, &guided, &start, &cfg)
    };
    let split = -0.75;
    let mut rows = vec![];
    for &w in &config.strengths {
        let tilted = tilted_law_1d(&p0, config.class, w, config.lo, config.hi, config.h)?.law()?;
        let (guided, coarse) = (law(w, config.steps)?, law(w, config.coarse_steps)?);
        let to_tilted = |l: &Law1d| l.w1_to(|x| tilted.cdf(x), config.lo, config.hi);
        rows.push(GuidedRow {
            w,
            mean_guided: guided.mean(),
            mean_tilted: tilted.mean(),
            sd_guided: guided.variance().sqrt(),
            sd_tilted: tilted.variance().sqrt(),
            upper_guided: 1.0 - guided.cdf(split),
            upper_tilted: 1.0 - tilted.cdf(split),
            w1_tilted: to_tilted(&guided)?,
            w1_tilted_coarse: to_tilted(&coarse)?,
            guided,
            coarse,
            tilted,
        });
    }
    Ok(GuidanceReport {
        config: config.clone(),
        rows,
    })
}
