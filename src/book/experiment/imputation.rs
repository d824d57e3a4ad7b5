//! Imputation against its exact answer (the guidance chapter): a 2-D mixture, its second
//! coordinate observed, and the law of the first coordinate under three samplers of the same
//! Euler-Maruyama grid: the exact conditional score (exact law by quadrature), Song's
//! replacement method (exact law by quadrature over its fresh draws, `replacement_law_1d`) and
//! reconstruction guidance (Monte Carlo, with the noise floor of the same number of exact
//! draws).
use ndarray::{arr2, Array2};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::{sampling_noise, wasserstein1, SamplingNoise};
use crate::mixture::GaussianMixture;
use crate::quadrature::linspace;
use crate::sampling::{
    pc_law_1d, replacement_law_1d, GridLaw, Law1d, Observation, PcConfig, Predictor,
    ReconstructionGuided, Sampler,
};
use crate::score::ExactScore;
use crate::sde::{LinearSde, Vp};

/// The settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImputationConfig {
    /// The observed value of the second coordinate.
    pub observed: f64,
    /// Euler-Maruyama step counts on `[t_min, 1]`.
    pub steps: Vec<usize>,
    pub t_min: f64,
    /// Quadrature grid of the first coordinate, and Gauss-Hermite nodes for the replacement's
    /// fresh draw.
    pub lo: f64,
    pub hi: f64,
    pub h: f64,
    pub nodes: usize,
    /// Reconstruction-guidance scales, and its Monte Carlo sample size.
    pub scales: Vec<f64>,
    pub paths: usize,
    pub seed: u64,
}

impl ImputationConfig {
    /// The chapter's settings.
    pub fn book() -> Self {
        Self {
            observed: 1.0,
            steps: vec![25, 50, 100, 200],
            t_min: 1e-3,
            lo: -7.0,
            hi: 7.0,
            h: 0.02,
            nodes: 24,
            scales: vec![1.0, 4.0],
            paths: 10_000,
            seed: 14,
        }
    }
}

/// Four components at `(±2, ±2)` with sd 0.5: weight 0.35 on the diagonal `(-2, -2)`,
/// `(2, 2)`, 0.15 off it. The coordinates are correlated: the observed one says which mode
/// the other is in.
pub fn example() -> Result<GaussianMixture> {
    GaussianMixture::new(
        vec![0.35, 0.35, 0.15, 0.15],
        arr2(&[[-2.0, -2.0], [2.0, 2.0], [-2.0, 2.0], [2.0, -2.0]]),
        Array2::from_elem((4, 2), 0.5),
    )
}

/// A guided path whose observed coordinate ends further than this from `a` (one component
/// standard deviation) has left the observation.
pub const OFF_OBSERVATION: f64 = 0.5;

/// Reconstruction guidance at one scale, by Monte Carlo.
#[derive(Clone, Debug, Serialize)]
pub struct GuidedRun {
    pub scale: f64,
    /// W1 of the first coordinate's sample to the exact conditional.
    pub w1: f64,
    pub upper: f64,
    /// Root-mean-square of `x_2 - a`, and the fraction of paths with `|x_2 - a|` above
    /// [`OFF_OBSERVATION`].
    pub observed_rmse: f64,
    pub off_observation: f64,
}

/// One step count's results.
#[derive(Clone, Debug, Serialize)]
pub struct ImputationRow {
    pub steps: usize,
    /// W1 to the exact conditional `p_0(x_1 | x_2 = a)`, and `P(x_1 > 0)`.
    pub w1_exact: f64,
    pub upper_exact: f64,
    pub w1_replacement: f64,
    pub upper_replacement: f64,
    pub guided: Vec<GuidedRun>,
    #[serde(skip)]
    pub replacement: Law1d,
    #[serde(skip)]
    pub guided_samples: Vec<Vec<f64>>,
}

/// The whole experiment.
#[derive(Clone, Debug, Serialize)]
pub struct ImputationReport {
    pub config: ImputationConfig,
    /// `P(x_1 > 0)` under the conditional and under the first coordinate's marginal.
    pub upper_conditional: f64,
    pub upper_marginal: f64,
    /// The noise floor of W1 for `paths` exact draws of the conditional.
    pub floor: SamplingNoise,
    pub rows: Vec<ImputationRow>,
    #[serde(skip)]
    pub conditional: GaussianMixture,
}

/// Runs every step count.
pub fn run(config: &ImputationConfig) -> Result<ImputationReport> {
    let (p0, sde) = (example()?, Vp::song());
    let a = config.observed;
    let observation = Observation::new(2, vec![1], arr2(&[[a]]))?;
    let conditional = p0.condition(&[1], &[a])?;
    let joint = ExactScore::new(&p0, &sde);
    let exact = ExactScore::new(&conditional, &sde);
    let start = GridLaw::from_mixture(
        &conditional.diffused(&sde, sde.t_max())?,
        config.lo,
        config.hi,
        config.h,
    )?;
    let mut rng = crate::rng::seeded(config.seed);
    let floor = sampling_noise(&conditional, config.paths, 20, &mut rng)?;
    let upper = |law: &Law1d| 1.0 - law.cdf(0.0);
    let mut rows = vec![];
    for &steps in &config.steps {
        let mut pc = PcConfig::predictor_only(Predictor::EulerMaruyama, steps + 1);
        pc.t_min = config.t_min;
        let exact_law = pc_law_1d(&sde, &exact, &start, &pc)?;
        let replacement =
            replacement_law_1d(&sde, &joint, &observation, &start, &pc, config.nodes)?;
        let mut ts = linspace(config.t_min, sde.t_max(), steps + 1);
        ts.reverse();
        let mut guided = vec![];
        let mut guided_samples = vec![];
        for &scale in &config.scales {
            let score = ReconstructionGuided {
                score: &joint,
                sde: &sde,
                observation: &observation,
                scale,
            };
            let x = p0
                .diffused(&sde, sde.t_max())?
                .sample(config.paths, &mut rng);
            let (out, _) = Sampler::EulerMaruyama.run(&sde, &score, x, &ts, &mut rng)?;
            guided.push(guided_run(&out, a, scale, &conditional)?);
            guided_samples.push(out.column(0).to_vec());
        }
        rows.push(ImputationRow {
            steps,
            w1_exact: exact_law.w1_to_mixture(&conditional)?,
            upper_exact: upper(&exact_law),
            w1_replacement: replacement.w1_to_mixture(&conditional)?,
            upper_replacement: upper(&replacement),
            guided,
            replacement,
            guided_samples,
        });
    }
    Ok(ImputationReport {
        config: config.clone(),
        upper_conditional: 1.0 - conditional.cdf_1d(0.0)?,
        upper_marginal: 1.0
            - GaussianMixture::new(
                p0.weights().to_vec(),
                p0.means()
                    .column(0)
                    .to_owned()
                    .insert_axis(ndarray::Axis(1)),
                p0.stds().column(0).to_owned().insert_axis(ndarray::Axis(1)),
            )?
            .cdf_1d(0.0)?,
        floor,
        rows,
        conditional,
    })
}

/// W1 and `P(x_1 > 0)` of the first coordinate, and how far the second ended from `a`.
fn guided_run(
    out: &Array2<f64>,
    a: f64,
    scale: f64,
    conditional: &GaussianMixture,
) -> Result<GuidedRun> {
    let x1 = out.column(0).to_vec();
    let n = x1.len() as f64;
    let miss: Vec<f64> = out.column(1).iter().map(|y| (y - a).abs()).collect();
    Ok(GuidedRun {
        scale,
        w1: wasserstein1(&x1, conditional)?,
        upper: x1.iter().filter(|x| **x > 0.0).count() as f64 / n,
        observed_rmse: (miss.iter().map(|m| m * m).sum::<f64>() / n).sqrt(),
        off_observation: miss.iter().filter(|m| **m > OFF_OBSERVATION).count() as f64 / n,
    })
}
