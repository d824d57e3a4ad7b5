//! The probability-flow ODE under classifier-free guidance, exactly (the guidance chapter):
//! the guided scores drive the deterministic sampler from the exact `p_T(x | y)`, and its
//! output law, a monotone map of the start law ([`MapLaw`]), is compared with the tilted law
//! `q_w` and with the exact law of guided Euler-Maruyama ([`super::guidance`]).
use serde::{Deserialize, Serialize};

use super::guidance::{example, GuidanceReport};
use crate::error::{Error, Result};
use crate::sampling::sigma::sigma_of_t;
use crate::sampling::{ClassifierFree, ConditionalScore, MapLaw, Sampler, Schedule, TiltedLaw};
use crate::score::ExactScore;
use crate::sde::{LinearSde, Vp};

/// The deterministic sampler's settings (exact: no seed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlowConfig {
    pub sampler: Sampler,
    /// Steps on the log-SNR grid from `T` to the Euler-Maruyama run's `t_min`, and the coarser
    /// count whose distance to the finer one measures the discretisation error.
    pub steps: usize,
    pub coarse_steps: usize,
    /// Gauss-Legendre panels of [`MapLaw`] (8 nodes each).
    pub panels: usize,
}

impl FlowConfig {
    /// The chapter's settings: DPM-Solver++(2M), 100 and 50 steps.
    pub fn book() -> Self {
        Self {
            sampler: Sampler::DpmSolverPp2m,
            steps: 100,
            coarse_steps: 50,
            panels: 200,
        }
    }
}

/// One guidance strength: the ODE's law against the tilted law and the SDE's law.
#[derive(Clone, Debug, Serialize)]
pub struct FlowRow {
    pub w: f64,
    /// `W1` and `KL(ODE || q_w)` of the ODE's law at `steps` to the tilted law.
    pub w1_tilted: f64,
    pub kl_tilted: f64,
    /// `W1` of the guided Euler-Maruyama law (its `steps`) to the tilted law, for comparison.
    pub w1_tilted_em: f64,
    /// `W1` between the ODE's law and the Euler-Maruyama law.
    pub w1_ode_em: f64,
    /// The discretisation errors, each estimated by the distance between a run and one at
    /// half the steps: `W1(ODE_N, ODE_{N/2})` and `W1(EM_N, EM_{N/2})`.
    pub ode_error: f64,
    pub em_error: f64,
    pub mean_ode: f64,
    /// `P(X > -0.75)` under the ODE's law (the class's component at 0.5).
    pub upper_ode: f64,
    /// Map values `T(z_j)` and weights, for the figure.
    #[serde(skip)]
    pub law: MapLaw,
}

/// The study.
#[derive(Clone, Debug, Serialize)]
pub struct FlowReport {
    pub config: FlowConfig,
    /// `W1` of the unguided (`w = 0`) ODE at `steps` and `coarse_steps` to its exact answer
    /// `p_{t_min}(x | y)`: the discretisation error itself.
    pub w1_conditional: f64,
    pub w1_conditional_coarse: f64,
    /// NFE of one run at `steps`.
    pub nfe: usize,
    pub rows: Vec<FlowRow>,
}

/// Runs the guided probability-flow ODE for every strength of `em` (the Euler-Maruyama study,
/// whose grid, class and end time it shares).
pub fn run(config: &FlowConfig, em: &GuidanceReport) -> Result<FlowReport> {
    let (p0, sde) = (example()?, Vp::song());
    let g = &em.config;
    let exact = ExactScore::new(p0.mixture(), &sde);
    let cond = ConditionalScore::new(&p0, &sde, g.class)?;
    let start = cond.conditional().diffused(&sde, sde.t_max())?;
    let schedule = Schedule::LogSnr {
        sigma_min: sigma_of_t(&sde, g.t_min),
    };
    let map = |w: f64, steps: usize| -> Result<MapLaw> {
        let guided = ClassifierFree {
            conditional: &cond,
            unconditional: &exact,
            guidance: w,
        };
        let ts = schedule.times(&sde, steps)?;
        let law = MapLaw::of(&config.sampler, &sde, &guided, &start, &ts, config.panels)?;
        if let Some((mass, lo, hi)) = law.folded() {
            return Err(Error::param(
                "guided flow",
                format!("w = {w}, {steps} steps: the map folds mass {mass:e} on z in [{lo}, {hi}]"),
            ));
        }
        Ok(law)
    };
    let target = cond.conditional().diffused(&sde, g.t_min)?;
    let (fine0, coarse0) = (map(0.0, config.steps)?, map(0.0, config.coarse_steps)?);
    let mut rows = vec![];
    for row in &em.rows {
        let w = row.w;
        let (law, coarse) = (map(w, config.steps)?, map(w, config.coarse_steps)?);
        let tilted = TiltedLaw::new(&p0, g.class, w, g.lo, g.hi)?;
        let total: f64 = law.weight.iter().sum();
        let expect = |f: &dyn Fn(f64) -> f64| -> f64 {
            law.weight
                .iter()
                .zip(&law.t)
                .map(|(p, &x)| p * f(x))
                .sum::<f64>()
                / total
        };
        rows.push(FlowRow {
            w,
            w1_tilted: law.w1_to_law(&row.tilted)?,
            kl_tilted: law
                .kl_to_density(|x| tilted.pdf(x))?
                .ok_or_else(|| Error::param("guided flow", "a monotone map has a KL"))?,
            w1_tilted_em: row.w1_tilted,
            w1_ode_em: law.w1_to_law(&row.guided)?,
            ode_error: law.w1_to_map(&coarse)?,
            em_error: row.guided.w1_to(|x| row.coarse.cdf(x), g.lo, g.hi)?,
            mean_ode: expect(&|x| x),
            upper_ode: expect(&|x| if x > -0.75 { 1.0 } else { 0.0 }),
            law,
        });
    }
    Ok(FlowReport {
        config: config.clone(),
        w1_conditional: fine0.w1_to(&target)?,
        w1_conditional_coarse: coarse0.w1_to(&target)?,
        nfe: fine0.nfe,
        rows,
    })
}
