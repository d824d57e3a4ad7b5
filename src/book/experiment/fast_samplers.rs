//! The fast-samplers chapter's study: exact error against the number of score evaluations
//! (NFE) for every sampler, on seed 000's mixture `0.8 N(-1, 0.4^2) + 0.2 N(1, 0.3^2)` with the
//! VE SDE `sigma(t) = sqrt(t)`, with the exact score and with the seed's trained network.
//!
//! - Deterministic samplers: the exact output law by quadrature ([`MapLaw`]): `W1` and
//!   `KL(q || p_0)` where the map is monotone, the CDF in `x` where it folds.
//! - Stochastic samplers with Gaussian steps (Euler-Maruyama, reverse diffusion, ancestral,
//!   PC): the exact law on a grid ([`pc_law_1d`]), on their own uniform grid in `t`.
//! - EDM's churn sampler: Monte Carlo, with the noise floor of as many exact draws.
//!
//! Every run starts from the exact `p_T` and ends at `t = 0`, so only discretisation (and, for
//! the network, the network's error) remains; [`ErrorSources`] measures the other two.
use serde::{Deserialize, Serialize};

use crate::book::experiment::ve_seed::{train_network, VeSeedConfig};
use crate::error::Result;
use crate::mixture::GaussianMixture;
use crate::nn::Mlp;
use crate::rng::seeded;
use crate::sampling::{
    pc_law_1d, w1_between, GridLaw, LangevinCorrector, MapLaw, PcConfig, Predictor, Sampler,
    Schedule,
};
use crate::score::{ExactScore, NetScore, ScoreFn};
use crate::sde::{LinearSde, SqrtT, Ve};

/// Settings of the study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FastSamplersConfig {
    pub seed: u64,
    /// Step counts tried (each sampler keeps those within `max_nfe`).
    pub steps: Vec<usize>,
    /// Largest NFE with the exact score and with the network.
    pub max_nfe: usize,
    pub max_nfe_network: usize,
    /// The deterministic samplers' grid.
    pub schedule: Schedule,
    /// Gauss-Legendre panels of the exact law (8 nodes each).
    pub panels: usize,
    /// Paths of the Monte Carlo runs (churn).
    pub mc_paths: usize,
    /// Dopri5 tolerances tried.
    pub dopri5_tols: Vec<f64>,
}

impl FastSamplersConfig {
    /// The book's settings: Karras `rho = 7` down to `sigma = 0`, NFE up to 512 (exact) and
    /// 128 (network), 400 panels, 100,000 Monte Carlo paths.
    pub fn book() -> Self {
        Self {
            seed: 18,
            steps: vec![
                1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 80, 96, 128,
                192, 256, 384, 512,
            ],
            max_nfe: 512,
            max_nfe_network: 128,
            schedule: Schedule::Karras {
                rho: 7.0,
                sigma_min: 0.0,
            },
            panels: 400,
            mc_paths: 100_000,
            dopri5_tols: vec![1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10],
        }
    }

    /// A few steps only, for tests and the notebook's first look.
    pub fn quick() -> Self {
        Self {
            steps: vec![2, 4, 8, 16, 32, 64, 128],
            max_nfe: 512,
            max_nfe_network: 64,
            panels: 100,
            mc_paths: 20_000,
            dopri5_tols: vec![1e-3, 1e-6],
            ..Self::book()
        }
    }
}

/// One point of an error curve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Point {
    pub steps: usize,
    pub nfe: usize,
    pub w1: f64,
    /// `KL(q || p_0)` where the law is known with a density (monotone map).
    pub kl: Option<f64>,
    /// Whether the map was monotone (`None`: stochastic sampler).
    pub monotone: Option<bool>,
    /// For a folded map: the mass on the offending nodes and their range in `z`.
    #[serde(default)]
    pub folded: Option<(f64, f64, f64)>,
    /// Monte Carlo noise floor of the `W1` (95% quantile), for Monte Carlo points.
    pub noise_floor: Option<f64>,
}

/// The error curve of one sampler with one score.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Curve {
    pub sampler: String,
    /// "exact" or "network".
    pub score: String,
    /// How the law was computed: "map" (quadrature), "grid" (quadrature), "mc".
    pub method: String,
    pub points: Vec<Point>,
}

impl Curve {
    /// The fewest NFE from which on every point of the curve has `W1 < level`.
    pub fn nfe_below(&self, level: f64) -> Option<usize> {
        let mut best = None;
        for p in self.points.iter().rev() {
            if p.w1 < level {
                best = Some(p.nfe);
            } else {
                break;
            }
        }
        best
    }

    /// Least-squares slope of `-log W1` against `log NFE` over the points with `W1` in
    /// `[lo, hi]` (`None` with fewer than 3 such points): the empirical order.
    pub fn order(&self, lo: f64, hi: f64) -> Option<f64> {
        let pts: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.w1 >= lo && p.w1 <= hi)
            .map(|p| ((p.nfe as f64).ln(), p.w1.ln()))
            .collect();
        if pts.len() < 3 {
            return None;
        }
        let n = pts.len() as f64;
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        Some(-sxy / sxx)
    }
}

/// The three error sources, each alone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorSources {
    /// `W1` of the exact flow (RK4, `reference_steps` Karras steps) from `N(0, zeta(T)^2)`
    /// instead of `p_T`, exact score: the prior mismatch.
    pub prior_w1: f64,
    pub prior_kl: f64,
    /// The same flow from the exact `p_T` (what remains is discretisation).
    pub reference_w1: f64,
    pub reference_steps: usize,
    /// `(t_min, W1(p_{t_min}, p_0))`: the cut-off alone (the exact flow ends at `p_{t_min}`).
    pub t_min: Vec<(f64, f64)>,
}

/// Everything the chapter shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FastSamplersReport {
    pub config: FastSamplersConfig,
    pub curves: Vec<Curve>,
    pub sources: ErrorSources,
    /// The network's error floor: `W1` of the exact flow (RK4, `reference_steps`) with the
    /// network's score from the exact `p_T`.
    pub network_flow_w1: f64,
    /// The same `W1` by the CDF in `x` ([`MapLaw::w1_by_cdf`], 20,000 points): the two
    /// routes' agreement on a network's map.
    pub network_flow_w1_cdf: f64,
    /// How far the quadrature is resolved: a few runs (exact score) with `panels` and with
    /// `2 panels`.
    pub resolution: Vec<ResolutionCheck>,
}

/// One sampler run's exact `W1` and KL with `panels / 4`, `panels` and `2 panels` Gauss-Legendre
/// panels (`steps` 0: the adaptive Dopri5 at tolerance 1e-6).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResolutionCheck {
    pub sampler: String,
    pub steps: usize,
    /// With a quarter of the panels, with `panels`, with twice as many.
    pub w1: [f64; 3],
    pub kl: [f64; 3],
}

/// The deterministic samplers of the study (DDIM = DPM-Solver-1 = Euler in sigma, shown once).
pub fn deterministic_samplers() -> Vec<Sampler> {
    vec![
        Sampler::Euler,
        Sampler::Heun,
        Sampler::DpmSolver { order: 2 },
        Sampler::DpmSolver { order: 3 },
        Sampler::DpmSolverPp2m,
        Sampler::Rk4,
    ]
}

/// The label of a sampler in the study.
pub fn study_label(s: &Sampler) -> String {
    match s {
        Sampler::Euler => "Euler = DDIM = DPM-Solver-1".into(),
        Sampler::Ancestral => "ancestral = DDIM eta=1".into(),
        other => other.label(),
    }
}

/// NFE of `n` steps ending at `sigma = 0` (the last step of Heun and of the singlestep
/// solvers is first order).
pub fn nfe_of(s: &Sampler, n: usize) -> usize {
    match s {
        Sampler::Heun | Sampler::HeunChurn { .. } => 2 * n - 1,
        Sampler::DpmSolver { order } => order * (n - 1) + 1,
        Sampler::Rk4 => 4 * n,
        _ => n,
    }
}

/// One deterministic sampler's curve.
#[allow(clippy::too_many_arguments)]
pub fn map_curve(
    s: &Sampler,
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    score_name: &str,
    p0: &GaussianMixture,
    start: &GaussianMixture,
    schedule: &Schedule,
    steps: &[usize],
    max_nfe: usize,
    panels: usize,
) -> Result<Curve> {
    let mut points = Vec::new();
    for &n in steps.iter().filter(|&&n| nfe_of(s, n) <= max_nfe) {
        let ts = schedule.times(sde, n)?;
        let law = MapLaw::of(s, sde, score, start, &ts, panels)?;
        points.push(Point {
            steps: n,
            nfe: law.nfe,
            w1: law.w1_to(p0)?,
            kl: law.kl_to(p0)?,
            monotone: Some(law.is_monotone()),
            folded: law.folded(),
            noise_floor: None,
        });
    }
    Ok(Curve {
        sampler: study_label(s),
        score: score_name.into(),
        method: "map".into(),
        points,
    })
}

/// Runs the study; `net` is the seed's network (trained here when `None`).
pub fn run(config: &FastSamplersConfig, net: Option<&Mlp>) -> Result<FastSamplersReport> {
    let sde = Ve::new(SqrtT, 1.0)?;
    let p0 = GaussianMixture::seed_ve();
    let p_t = p0.diffused(&sde, 1.0)?;
    let exact = ExactScore::new(&p0, &sde);
    let trained;
    let net = match net {
        Some(n) => n,
        None => {
            let cfg = VeSeedConfig::seed_settings();
            trained = train_network(&cfg, &mut seeded(cfg.seed), None)?.1.net;
            &trained
        }
    };
    let net_score = NetScore { net };
    let c = config;
    let mut curves = Vec::new();
    for s in deterministic_samplers() {
        curves.push(map_curve(
            &s,
            &sde,
            &exact,
            "exact",
            &p0,
            &p_t,
            &c.schedule,
            &c.steps,
            c.max_nfe,
            c.panels,
        )?);
        curves.push(map_curve(
            &s,
            &sde,
            &net_score,
            "network",
            &p0,
            &p_t,
            &c.schedule,
            &c.steps,
            c.max_nfe_network,
            c.panels,
        )?);
    }
    curves.push(dopri5_curve(&sde, &exact, &p0, &p_t, c)?);
    for p in [
        Predictor::EulerMaruyama,
        Predictor::ReverseDiffusion,
        Predictor::Ancestral,
    ] {
        curves.push(grid_curve(&sde, &exact, &p0, &p_t, p, None, c)?);
    }
    let corrector = LangevinCorrector {
        snr: 0.16,
        n_steps: 1,
    };
    curves.push(grid_curve(
        &sde,
        &exact,
        &p0,
        &p_t,
        Predictor::ReverseDiffusion,
        Some(corrector),
        c,
    )?);
    curves.push(churn_curve(&sde, &exact, &p0, &p_t, c)?);

    let reference_steps = 256;
    let ts = Schedule::Karras {
        rho: 7.0,
        sigma_min: 0.0,
    }
    .times(&sde, reference_steps)?;
    let prior = GaussianMixture::new_1d(&[1.0], &[0.0], &[sde.prior_var().sqrt()])?;
    let from_prior = MapLaw::of(&Sampler::Rk4, &sde, &exact, &prior, &ts, c.panels)?;
    let reference = MapLaw::of(&Sampler::Rk4, &sde, &exact, &p_t, &ts, c.panels)?;
    let t_min = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
        .iter()
        .map(|&t| Ok((t, w1_between(&p0.diffused(&sde, t)?, &p0)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut resolution = vec![];
    for (s, n) in [
        (Sampler::Euler, 64),
        (Sampler::Heun, 32),
        (Sampler::DpmSolverPp2m, 24),
        (Sampler::Rk4, 64),
        (Sampler::Dopri5 { tol: 1e-6 }, 0),
    ] {
        let ts = match s {
            Sampler::Dopri5 { .. } => vec![sde.t_max(), 0.0],
            _ => c.schedule.times(&sde, n)?,
        };
        let at = |panels: usize| -> Result<(f64, f64)> {
            let law = MapLaw::of(&s, &sde, &exact, &p_t, &ts, panels)?;
            Ok((law.w1_to(&p0)?, law.kl_to(&p0)?.unwrap_or(f64::NAN)))
        };
        let (q, a, b) = (at((c.panels / 4).max(1))?, at(c.panels)?, at(2 * c.panels)?);
        resolution.push(ResolutionCheck {
            sampler: study_label(&s),
            steps: n,
            w1: [q.0, a.0, b.0],
            kl: [q.1, a.1, b.1],
        });
    }
    let network_flow = MapLaw::of(&Sampler::Rk4, &sde, &net_score, &p_t, &ts, c.panels)?;
    Ok(FastSamplersReport {
        config: config.clone(),
        curves,
        sources: ErrorSources {
            prior_w1: from_prior.w1_to(&p0)?,
            prior_kl: from_prior.kl_to(&p0)?.unwrap_or(f64::NAN),
            reference_w1: reference.w1_to(&p0)?,
            reference_steps,
            t_min,
        },
        network_flow_w1: network_flow.w1_to(&p0)?,
        network_flow_w1_cdf: network_flow.w1_by_cdf(&p0, 20_000)?,
        resolution,
    })
}

pub fn dopri5_curve(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    p0: &GaussianMixture,
    start: &GaussianMixture,
    c: &FastSamplersConfig,
) -> Result<Curve> {
    let ts = [sde.t_max(), 0.0];
    let mut points = Vec::new();
    for &tol in &c.dopri5_tols {
        let law = MapLaw::of(&Sampler::Dopri5 { tol }, sde, score, start, &ts, c.panels)?;
        points.push(Point {
            steps: 0,
            nfe: law.nfe,
            w1: law.w1_to(p0)?,
            kl: law.kl_to(p0)?,
            monotone: Some(law.is_monotone()),
            folded: law.folded(),
            noise_floor: None,
        });
    }
    points.sort_by_key(|p| p.nfe);
    Ok(Curve {
        sampler: "Dopri5 (adaptive)".into(),
        score: "exact".into(),
        method: "map".into(),
        points,
    })
}

/// A predictor(-corrector) sampler's exact law on the uniform grid in `t` down to 0 (its
/// step counts and NFE limit from `c`).
pub fn grid_curve(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    p0: &GaussianMixture,
    start: &GaussianMixture,
    predictor: Predictor,
    corrector: Option<LangevinCorrector>,
    c: &FastSamplersConfig,
) -> Result<Curve> {
    let grid = GridLaw::from_mixture(start, -8.0, 8.0, 0.01)?;
    let mut points = Vec::new();
    let per_step = 1 + usize::from(corrector.is_some());
    for &n in c.steps.iter().filter(|&&n| per_step * n <= c.max_nfe) {
        let cfg = PcConfig {
            corrector,
            ..PcConfig::predictor_only(predictor, n + 1)
        };
        let law = pc_law_1d(sde, score, &grid, &cfg)?;
        points.push(Point {
            steps: n,
            nfe: cfg.score_evals(),
            w1: law.w1_to_mixture(p0)?,
            kl: None,
            monotone: None,
            folded: None,
            noise_floor: None,
        });
    }
    let label = match (predictor, corrector) {
        (Predictor::Ancestral, _) => study_label(&Sampler::Ancestral),
        (p, None) => p.name().into(),
        (p, Some(_)) => format!("PC ({} + Langevin)", p.name()),
    };
    Ok(Curve {
        sampler: label,
        score: "exact".into(),
        method: "grid".into(),
        points,
    })
}

/// EDM's churn sampler (`S_churn = 1`, Karras grid) by Monte Carlo with `mc_paths` paths.
fn churn_curve(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    p0: &GaussianMixture,
    start: &GaussianMixture,
    c: &FastSamplersConfig,
) -> Result<Curve> {
    let s = Sampler::HeunChurn { s_churn: 1.0 };
    let mut rng = seeded(c.seed);
    let floor = crate::metrics::sampling_noise(p0, c.mc_paths, 8, &mut rng)?;
    let mut points = Vec::new();
    for &n in c
        .steps
        .iter()
        .filter(|&&n| n >= 2 && n.is_power_of_two() && nfe_of(&s, n) <= c.max_nfe.min(256))
    {
        let ts = c.schedule.times(sde, n)?;
        let x = start.sample(c.mc_paths, &mut rng);
        let (out, nfe) = s.run(sde, score, x, &ts, &mut rng)?;
        points.push(Point {
            steps: n,
            nfe,
            w1: crate::metrics::wasserstein1(&out.column(0).to_vec(), p0)?,
            kl: None,
            monotone: None,
            folded: None,
            noise_floor: Some(floor.w1_q95),
        });
    }
    Ok(Curve {
        sampler: s.label(),
        score: "exact".into(),
        method: "mc".into(),
        points,
    })
}
