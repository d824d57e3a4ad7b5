//! The seed's DDPM example (seed 004) with the digits chapter's recipe: the step fed as `k/K`
//! instead of the raw `k`, and an EMA of the weights (with warm-up). Each variant is trained
//! from several seeds (data, initialisation and training noise), and each trained network's
//! ancestral sampler (`sigma_k^2 = beta_k`) is measured by its **exact** law
//! ([`LawSummary`], quadrature): W1 to the target against the exact `eps*`'s W1.
use serde::{Deserialize, Serialize};

use super::ddpm_exact::LawSummary;
use crate::ddpm::{train_eps_net, EpsNet, MixtureEpsOracle, ReverseVariance, StepFeature};
use crate::error::{Error, Result};
use crate::mixture::GaussianMixture;
use crate::rng::seeded;
use crate::train::TrainOptions;

use super::ddpm_seed::DdpmSeedConfig;

/// The seed's settings, the seeds, and the EMA decay.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DdpmRecipeConfig {
    /// Data size, schedule, network, learning rate and steps (the seed's).
    pub base: DdpmSeedConfig,
    /// One training run per seed and step feature.
    pub seeds: Vec<u64>,
    pub ema_decay: f64,
}

impl DdpmRecipeConfig {
    /// The seed's settings, 8 seeds (the seed experiment's 4004 first), EMA decay 0.999.
    pub fn book() -> Self {
        Self {
            base: DdpmSeedConfig::seed_settings(),
            seeds: vec![4004, 1, 2, 3, 4, 5, 6, 7],
            ema_decay: 0.999,
        }
    }
}

/// One variant over the seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecipeRow {
    pub variant: String,
    /// Exact-law W1 of each seed's network, in the order of the seeds.
    pub w1: Vec<f64>,
    /// Median of `w1 / exact_w1`.
    pub median_ratio: f64,
    /// Seeds whose network is within twice the exact `eps*`'s W1.
    pub within_2x: usize,
}

/// The exact `eps*`'s W1 and one row per variant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DdpmRecipeReport {
    pub config: DdpmRecipeConfig,
    pub exact_w1: f64,
    pub rows: Vec<RecipeRow>,
}

/// Trains every (step feature, seed) once; the raw weights and their EMA give two variants.
pub fn run(config: &DdpmRecipeConfig) -> Result<DdpmRecipeReport> {
    if config.seeds.is_empty() {
        return Err(Error::param("seeds", "need at least one"));
    }
    let b = &config.base;
    let schedule = b.schedule()?;
    let k_max = schedule.num_steps();
    let target = GaussianMixture::seed_ddpm();
    let oracle = MixtureEpsOracle::from_mixture(&schedule, &target)?;
    let law_w1 = |m: &dyn crate::ddpm::EpsModel| {
        LawSummary::of(&schedule, m, ReverseVariance::Beta, &target).map(|s| s.w1)
    };
    let exact_w1 = law_w1(&oracle)?;
    let mut rows = vec![];
    for (feature, name) in [(StepFeature::Raw, "raw k"), (StepFeature::Scaled, "k / K")] {
        let (mut plain, mut ema) = (vec![], vec![]);
        for &seed in &config.seeds {
            let mut rng = seeded(seed);
            let data = target.sample(b.n_data, &mut rng);
            let init = EpsNet::init(1, &b.hidden, feature, k_max, &mut rng)?;
            let opts = TrainOptions {
                ema_decay: Some(config.ema_decay),
                ..TrainOptions::new(b.steps, b.lr)
            };
            let t = train_eps_net(&schedule, &init, data.view(), &opts, &mut rng)?;
            let averaged = t
                .ema
                .clone()
                .ok_or_else(|| Error::param("ema", "training kept no average"))?;
            plain.push(law_w1(&EpsNet::new(t.net, feature, k_max)?)?);
            ema.push(law_w1(&EpsNet::new(averaged, feature, k_max)?)?);
        }
        for (w1, weights) in [(plain, "raw weights"), (ema, "EMA weights")] {
            rows.push(row(format!("{name}, {weights}"), w1, exact_w1)?);
        }
    }
    Ok(DdpmRecipeReport {
        config: config.clone(),
        exact_w1,
        rows,
    })
}

fn row(variant: String, w1: Vec<f64>, exact: f64) -> Result<RecipeRow> {
    let ratios: Vec<f64> = w1.iter().map(|w| w / exact).collect();
    Ok(RecipeRow {
        variant,
        median_ratio: crate::metrics::quantile(&ratios, 0.5)?,
        within_2x: ratios.iter().filter(|&&r| r <= 2.0).count(),
        w1,
    })
}
