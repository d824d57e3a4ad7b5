//! Guided sampling against the tilted law in two dimensions (the guidance chapter): a 2-D
//! labelled mixture whose class boundary is diagonal, classifier-free guidance with exact
//! scores driving Euler-Maruyama (stochastic) and DPM-Solver++(2M) (deterministic) from the
//! exact `p_T(x | y)`, by Monte Carlo, against `q_w ∝ p_0(x | y) p_0(y | x)^w` normalised by
//! 2-D quadrature ([`TiltedLaw2d`]). Distances are sliced W1 over fixed directions, each
//! against the exact projected law of `q_w`, beside the noise floor of as many exact draws.
use std::time::Instant;

use ndarray::{arr2, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::{half_circle_angles, quantile, sliced_wasserstein1};
use crate::mixture::{GaussianMixture, LabelledMixture};
use crate::sampling::sigma::sigma_of_t;
use crate::sampling::{ClassifierFree, ConditionalScore, Sampler, Schedule, TiltedLaw2d};
use crate::score::ExactScore;
use crate::sde::{LinearSde, Vp};

/// The settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Guidance2dConfig {
    pub strengths: Vec<f64>,
    pub class: usize,
    /// Euler-Maruyama step counts (uniform in `t` on `[t_min, 1]`), coarse then fine.
    pub em_steps: [usize; 2],
    /// DPM-Solver++(2M) step counts (log-SNR grid to the same `t_min`), coarse then fine.
    pub ode_steps: [usize; 2],
    pub t_min: f64,
    /// Monte Carlo paths per run, and repetitions of the exact-draw noise floor.
    pub paths: usize,
    pub floor_reps: usize,
    /// Directions of the sliced W1.
    pub directions: usize,
    /// The quadrature box `[lo, hi]²`, its Gauss-Legendre panels per axis, and the projected
    /// CDFs' grid step.
    pub lo: f64,
    pub hi: f64,
    pub panels: usize,
    pub h: f64,
    pub seed: u64,
}

impl Guidance2dConfig {
    /// The chapter's settings.
    pub fn book() -> Self {
        Self {
            strengths: vec![0.0, 1.0, 2.0, 4.0],
            class: 0,
            em_steps: [100, 200],
            ode_steps: [50, 100],
            t_min: 1e-3,
            paths: 20_000,
            floor_reps: 10,
            directions: 32,
            lo: -8.0,
            hi: 8.0,
            panels: 32,
            h: 0.01,
            seed: 15,
        }
    }
}

/// Class 0: a major component at `(-2, -1)` (weight 0.3, sd `(0.5, 0.6)`) and a minor one at
/// `(0.5, 0)` (weight 0.2, sd 0.4); class 1: one component at `(1.5, 1.5)` (weight 0.5, sd
/// 0.6). The class boundary runs diagonally, so `p(y | x)` varies in both coordinates, and
/// the minor component lies nearer to it.
pub fn example() -> Result<LabelledMixture> {
    let mix = GaussianMixture::new(
        vec![0.3, 0.2, 0.5],
        arr2(&[[-2.0, -1.0], [0.5, 0.0], [1.5, 1.5]]),
        arr2(&[[0.5, 0.6], [0.4, 0.4], [0.6, 0.6]]),
    )?;
    LabelledMixture::new(mix, vec![0, 0, 1])
}

/// The index of the minor component within `p_0(x | y = 0)`.
pub const MINOR: usize = 1;

/// A law's summaries: sliced W1 to `q_w`, the minor component's share
/// `E[r_minor(X)]` (its responsibility under `p_0(x | y)`), the mean.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub sliced_w1: f64,
    pub minor_share: f64,
    pub mean: [f64; 2],
    pub cov: [[f64; 2]; 2],
}

/// One sampler at one step count.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub sampler: String,
    pub steps: usize,
    pub nfe: usize,
    pub summary: Summary,
    #[serde(skip)]
    pub samples: Array2<f64>,
}

/// One guidance strength.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub w: f64,
    /// `q_w`'s normaliser, minor share, mean and covariance (quadrature).
    pub z: f64,
    pub minor_share_tilted: f64,
    pub mean_tilted: [f64; 2],
    pub cov_tilted: [[f64; 2]; 2],
    /// The sliced W1 of `paths` exact draws of `q_w`: mean and 95% quantile over repetitions.
    pub floor_mean: f64,
    pub floor_q95: f64,
    /// Euler-Maruyama coarse, fine; DPM-Solver++(2M) coarse, fine.
    pub runs: Vec<Run>,
    /// The projected CDFs of `q_w` (for the figure).
    #[serde(skip)]
    pub projections: Vec<(Vec<f64>, Vec<f64>)>,
}

/// The whole experiment.
#[derive(Clone, Debug, Serialize)]
pub struct Guidance2dReport {
    pub config: Guidance2dConfig,
    pub angles: Vec<f64>,
    pub rows: Vec<Row>,
    pub seconds: f64,
}

fn summary(
    x: ArrayView2<f64>,
    conditional: &GaussianMixture,
    angles: &[f64],
    cdfs: &[(Vec<f64>, Vec<f64>)],
) -> Result<Summary> {
    let n = x.nrows() as f64;
    let m = x.mean_axis(Axis(0)).unwrap_or_default();
    let d = &x - &m;
    let c = d.t().dot(&d) / (n - 1.0);
    Ok(Summary {
        sliced_w1: sliced_wasserstein1(x, angles, cdfs)?,
        minor_share: conditional.responsibilities(x)?.column(MINOR).sum() / n,
        mean: [m[0], m[1]],
        cov: [[c[[0, 0]], c[[0, 1]]], [c[[1, 0]], c[[1, 1]]]],
    })
}

/// Runs every strength.
pub fn run(config: &Guidance2dConfig) -> Result<Guidance2dReport> {
    let clock = Instant::now();
    let (p0, sde) = (example()?, Vp::song());
    let exact = ExactScore::new(p0.mixture(), &sde);
    let cond = ConditionalScore::new(&p0, &sde, config.class)?;
    let conditional = cond.conditional().clone();
    let start = conditional.diffused(&sde, sde.t_max())?;
    let angles = half_circle_angles(config.directions);
    let mut rng = crate::rng::seeded(config.seed);
    let em_grid = |steps: usize| {
        let mut ts = crate::quadrature::linspace(config.t_min, sde.t_max(), steps + 1);
        ts.reverse();
        ts
    };
    let ode_grid = |steps: usize| {
        Schedule::LogSnr {
            sigma_min: sigma_of_t(&sde, config.t_min),
        }
        .times(&sde, steps)
    };
    let mut rows = vec![];
    for &w in &config.strengths {
        let law = TiltedLaw2d::new(&p0, config.class, w, config.lo, config.hi, config.panels)?;
        let cdfs = law.projected_cdfs(&angles, config.h)?;
        let mut floor = vec![];
        for _ in 0..config.floor_reps {
            let draws = law.sample(&p0, config.class, config.paths, &mut rng)?;
            floor.push(sliced_wasserstein1(draws.view(), &angles, &cdfs)?);
        }
        let guided = ClassifierFree {
            conditional: &cond,
            unconditional: &exact,
            guidance: w,
        };
        let mut runs = vec![];
        let plan = [
            (
                Sampler::EulerMaruyama,
                config.em_steps[0],
                em_grid(config.em_steps[0]),
            ),
            (
                Sampler::EulerMaruyama,
                config.em_steps[1],
                em_grid(config.em_steps[1]),
            ),
            (
                Sampler::DpmSolverPp2m,
                config.ode_steps[0],
                ode_grid(config.ode_steps[0])?,
            ),
            (
                Sampler::DpmSolverPp2m,
                config.ode_steps[1],
                ode_grid(config.ode_steps[1])?,
            ),
        ];
        for (sampler, steps, ts) in plan {
            let x = start.sample(config.paths, &mut rng);
            let (out, nfe) = sampler.run(&sde, &guided, x, &ts, &mut rng)?;
            runs.push(Run {
                sampler: match sampler {
                    Sampler::EulerMaruyama => "Euler-Maruyama".into(),
                    _ => "DPM-Solver++(2M)".into(),
                },
                steps,
                nfe,
                summary: summary(out.view(), &conditional, &angles, &cdfs)?,
                samples: out,
            });
        }
        let share =
            law.expectation(|x| Ok(conditional.responsibilities(x)?.column(MINOR).to_owned()))?;
        rows.push(Row {
            w,
            z: law.normaliser(),
            minor_share_tilted: share,
            mean_tilted: law.mean(),
            cov_tilted: law.covariance(),
            floor_mean: crate::metrics::mean(&floor)?,
            floor_q95: quantile(&floor, 0.95)?,
            runs,
            projections: cdfs,
        });
    }
    Ok(Guidance2dReport {
        config: config.clone(),
        angles,
        rows,
        seconds: clock.elapsed().as_secs_f64(),
    })
}
