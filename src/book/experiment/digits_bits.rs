//! Bits per dimension of the held-out digits: the diffusion network (its probability-flow
//! ODE, Hutchinson divergence) beside baselines that give the number a scale: the uniform
//! distribution over the 17 grey levels (exactly `log_2 17`), one full-covariance Gaussian,
//! and one Gaussian per class. Every continuous model is scored on the same dequantised test
//! images with the bound `-E log p(y) / (d ln 2) + 3` of [`crate::digits::bits_per_dim`]
//! (derived in the doc of the `digits::bits` module); the baselines are fitted to dequantised
//! training images. The network row costs one probability-flow integration of the whole test
//! batch (all images share the Dormand-Prince step size), timed.
use std::time::Instant;

use ndarray::{s, Array1};
use serde::{Deserialize, Serialize};

use crate::digits::{
    bits_per_dim, dequantise, flow_log_p, ClassMixtureBaseline, Digits, GaussianBaseline,
    CLASS_RIDGE, GREY_LEVELS,
};
use crate::error::{Error, Result};
use crate::rng::seeded;
use crate::sampling::OdeMethod;
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// What is scored and how.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BitsConfig {
    /// The first `n_test` test images (at least 2; the book: all 297).
    pub n_test: usize,
    /// Seeds the dequantisation of the training images, then of the test images.
    pub dequant_seed: u64,
    /// Seeds the network's Rademacher probes.
    pub probe_seed: u64,
    /// Where the flow starts: the network's training cut-off.
    pub t_min: f64,
    /// Dormand-Prince tolerances, `rtol = atol`.
    pub rtol: f64,
    /// Ridge added to each class covariance of the class mixture.
    pub class_ridge: f64,
}

impl BitsConfig {
    /// The book's run: all 297 test images, `t_min = 10^-3` (the digits network's `t_eps`),
    /// `rtol = atol = 10^-5` (Song et al. 2021), the ridge [`CLASS_RIDGE`].
    pub fn book() -> Self {
        Self {
            n_test: 297,
            dequant_seed: 41,
            probe_seed: 42,
            t_min: 1e-3,
            rtol: 1e-5,
            class_ridge: CLASS_RIDGE,
        }
    }
}

/// One model's test bits per dimension.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BitsRow {
    pub model: String,
    /// Mean over the test images of the bound on `-log_2 P(x) / d`.
    pub bpd: f64,
    /// Its standard error over images (0 for the uniform distribution, which is exact).
    pub se: f64,
}

/// The table and what the network's row cost.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BitsReport {
    pub config: BitsConfig,
    pub n_test: usize,
    /// Uniform, Gaussian, class mixture, then one row per network (in this order).
    pub rows: Vec<BitsRow>,
    /// Per network: the ODE's right-hand-side evaluations (one batch: all test images share
    /// the step size, so every image used this many).
    pub network_nfe: Vec<usize>,
    /// Per network: wall-clock seconds of its row.
    pub network_seconds: Vec<f64>,
}

/// Scores `n_test` test images under the three baselines and each named network.
pub fn run(
    models: &[(&str, &dyn ScoreFn)],
    sde: &dyn LinearSde,
    digits: &Digits,
    config: &BitsConfig,
) -> Result<BitsReport> {
    let n = config.n_test;
    if !(2..=digits.test.nrows()).contains(&n) {
        return Err(Error::param(
            "n_test",
            format!("must lie in 2..={}, got {n}", digits.test.nrows()),
        ));
    }
    let d = digits.test.ncols();
    let mut rng = seeded(config.dequant_seed);
    let train = dequantise(digits.train.view(), &mut rng)?;
    let test = dequantise(digits.test.slice(s![..n, ..]), &mut rng)?;
    let row = |model: &str, log_p: Array1<f64>| -> Result<BitsRow> {
        let (bpd, se) = bits_per_dim(&log_p.to_vec(), d)?;
        Ok(BitsRow {
            model: model.into(),
            bpd,
            se,
        })
    };
    let mut rows = vec![BitsRow {
        model: format!("uniform over {GREY_LEVELS} levels (exact)"),
        bpd: (GREY_LEVELS as f64).log2(),
        se: 0.0,
    }];
    let gauss = GaussianBaseline::fit(train.view(), 0.0)?;
    rows.push(row(
        "Gaussian, full covariance",
        gauss.log_pdf(test.view())?,
    )?);
    let mix = ClassMixtureBaseline::fit(train.view(), &digits.train_labels, config.class_ridge)?;
    rows.push(row(
        &format!("one Gaussian per class (ridge {:e})", config.class_ridge),
        mix.log_pdf(test.view())?,
    )?);
    let method = OdeMethod::Dopri5 {
        rtol: config.rtol,
        atol: config.rtol,
    };
    let (mut network_nfe, mut network_seconds) = (vec![], vec![]);
    for (name, model) in models {
        let start = Instant::now();
        let flow = flow_log_p(
            *model,
            sde,
            test.view(),
            config.t_min,
            config.probe_seed,
            &method,
        )?;
        network_seconds.push(start.elapsed().as_secs_f64());
        network_nfe.push(flow.n_evals);
        rows.push(row(name, flow.log_p)?);
    }
    Ok(BitsReport {
        config: config.clone(),
        n_test: n,
        rows,
        network_nfe,
        network_seconds,
    })
}
