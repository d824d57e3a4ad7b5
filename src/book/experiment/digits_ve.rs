//! The digits network under the VE SDE, the VP network trained in `f32`, and the same `f32`
//! network with SiLU hidden layers.
//!
//! The VE SDE `sigma(t) = sigma_min (sigma_max/sigma_min)^t` takes `sigma_max` by Song &
//! Ermon's (2020) technique 1, the largest Euclidean distance between two training images, and
//! `sigma_min = 0.01`. Its `x_t = x_0 + zeta(t) ε` grows to the scale `sigma_max`, so the network
//! sees `c_in(t) x_t` with `c_in(t) = 1/sqrt(s_d² + zeta(t)²)` (Karras et al. 2022), which has
//! unit variance at every `t`. Both networks are sampled from their EMA weights and judged by
//! the classifier exactly as [`digits_network`](super::digits_network) judges the VP `f64`
//! network, which is the third row of the comparison. The two `f32` networks, ReLU and SiLU
//! (same seed, so the same initial draw, minibatches, times and noise), are also scored by
//! their eps loss on the held-out test images, image by image.
use serde::{Deserialize, Serialize};

use super::digits_activation::held_out;
use super::digits_network::{sample, Judge, Quality};
use crate::digits::{
    largest_pairwise_distance, mean_pixel_variance, pixel_range, train_digits, ClassifierConfig,
    Digits, DigitsTrainConfig, Precision, Trained,
};
use crate::error::{Error, Result};
use crate::metrics::mean_se;
use crate::nn::Activation;
use crate::sampling::{Sampler, Schedule};
use crate::sde::{Geometric, LinearSde, Ve, Vp};

/// The two trainings and their sampling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsVeConfig {
    /// The book's training; the VE run turns on `input_scaling`, the VP run sets `F32`.
    pub train: DigitsTrainConfig,
    /// `sigma(0)` of the VE SDE.
    pub sigma_min: f64,
    pub n_samples: usize,
    /// Steps of each sampler (equal steps in `t` down to `t_eps`).
    pub steps: usize,
    pub classifier: ClassifierConfig,
    /// The sampling seed (the VP `f64` network's, so the `f32` row differs only in training).
    pub seed: u64,
    /// The held-out eps loss of the `f32` networks: each test image at this many equally
    /// spaced times, one noise draw each, from `held_out_seed`.
    pub held_out_times: usize,
    pub held_out_seed: u64,
}

impl DigitsVeConfig {
    /// The book's run.
    pub fn book() -> Self {
        Self {
            train: DigitsTrainConfig::book(),
            sigma_min: 0.01,
            n_samples: 200,
            steps: 200,
            classifier: ClassifierConfig::book(),
            seed: 31,
            held_out_times: 8,
            held_out_seed: 42,
        }
    }
}

/// One network and sampler, judged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VeRow {
    /// `VE` or `VP`.
    pub sde: String,
    /// `f64` or `f32`.
    pub precision: String,
    /// The hidden layers' activation, `relu` or `silu`.
    pub activation: String,
    pub sampler: String,
    /// Wall-clock seconds of the training (shared by the rows of one network).
    pub train_seconds: f64,
    /// Mean of the last ten recorded training losses.
    pub final_loss: f64,
    pub pixel_range: (f64, f64),
    /// The samples with a pixel beyond `±FAR` and the largest `|pixel|` of any sample.
    pub far: usize,
    pub largest_pixel: f64,
    pub quality: Quality,
    /// The verdict on the samples without the `far` ones (`None` if there are none, or fewer
    /// than two others).
    pub quality_near: Option<Quality>,
}

/// One network's eps loss on the held-out test images.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeldOut {
    pub activation: String,
    /// Mean and standard error over the test images.
    pub loss: (f64, f64),
    /// The per-image difference from the ReLU network's loss, mean and standard error.
    pub paired_difference: (f64, f64),
}

/// A pixel beyond `±FAR` is far outside the data's `[-1, 1]` (VP samples stay within `±3`).
pub const FAR: f64 = 4.0;

/// Everything the section shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsVeReport {
    pub config: DigitsVeConfig,
    /// `sigma_max`: the largest distance between two training images.
    pub sigma_max: f64,
    /// `s_d²`: the training images' mean per-pixel variance.
    pub data_var: f64,
    /// VE (ancestral, Euler-Maruyama), then VP `f32` with ReLU and with SiLU (ancestral); EMA
    /// weights throughout.
    pub rows: Vec<VeRow>,
    /// The held-out eps loss of the `f32` networks (EMA weights), ReLU then SiLU.
    pub held_out: Vec<HeldOut>,
    /// For each far sample of the VE ancestral run, at its largest final pixel: the prior
    /// draw there in units of `zeta(T)` (`x_T / zeta(T)`, which is `ε` up to `x_0/zeta(T)`) and
    /// the network's `ε_θ(x_T, T)` there.
    pub far_trace: Vec<(f64, f64)>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// The VE SDE of the digits: geometric `sigma` from `sigma_min` to the largest distance
/// between two rows of `train`, on `[0, 1]`.
pub fn digits_ve_sde(train: ndarray::ArrayView2<f64>, sigma_min: f64) -> Result<Ve<Geometric>> {
    let sigma_max = largest_pairwise_distance(train)?;
    Ve::new(Geometric::new(sigma_min, sigma_max)?, 1.0)
}

/// Trains and times one network.
fn timed(
    train: ndarray::ArrayView2<f64>,
    sde: &dyn LinearSde,
    config: &DigitsTrainConfig,
) -> Result<(Trained, f64)> {
    let t0 = std::time::Instant::now();
    let trained = train_digits(train, sde, config, None)?;
    Ok((trained, t0.elapsed().as_secs_f64()))
}

/// Runs both trainings (VE first, then VP in `f32`, one after the other on this thread) and
/// judges their samples.
pub fn run(config: &DigitsVeConfig) -> Result<DigitsVeReport> {
    let t0 = std::time::Instant::now();
    let digits = Digits::book()?;
    let train = digits.train.view();
    let ve = digits_ve_sde(train, config.sigma_min)?;
    let vp = Vp::song();
    let (judge, _) = Judge::new(&digits, &config.classifier)?;
    let ve_config = DigitsTrainConfig {
        input_scaling: true,
        ..config.train.clone()
    };
    let f32_config = DigitsTrainConfig {
        precision: Precision::F32,
        ..config.train.clone()
    };
    let silu_config = DigitsTrainConfig {
        activation: Activation::Silu,
        ..f32_config.clone()
    };
    let t_eps = config.train.t_eps;
    let (mut rows, mut far_trace, mut per_image) = (vec![], vec![], vec![]);
    let runs: [(&dyn LinearSde, &str, &DigitsTrainConfig, &[Sampler]); 3] = [
        (
            &ve,
            "VE",
            &ve_config,
            &[Sampler::Ancestral, Sampler::EulerMaruyama],
        ),
        (&vp, "VP", &f32_config, &[Sampler::Ancestral]),
        (&vp, "VP", &silu_config, &[Sampler::Ancestral]),
    ];
    for (sde, name, train_config, samplers) in runs {
        let (trained, seconds) = timed(train, sde, train_config)?;
        let model = trained.model(&trained.ema, sde);
        if name == "VP" {
            let score = (config.held_out_times, t_eps, config.held_out_seed);
            let test = digits.test.view();
            let loss = held_out(&trained.ema, &trained.features, sde, test, score)?;
            per_image.push((train_config.activation, loss));
        }
        let ts = Schedule::UniformT { t_min: t_eps }.times(sde, config.steps)?;
        for sampler in samplers {
            let x0 = sample(&model, sde, sampler, &ts, config.n_samples, config.seed)?;
            let near: Vec<usize> = (0..x0.nrows())
                .filter(|&i| x0.row(i).iter().all(|p| p.abs() <= FAR))
                .collect();
            let far = x0.nrows() - near.len();
            let quality_near = match (far, near.len()) {
                (0, _) | (_, 0..=1) => None,
                _ => Some(judge.quality(x0.select(ndarray::Axis(0), &near).view())?),
            };
            if name == "VE" && *sampler == Sampler::Ancestral {
                far_trace = trace(&model, sde, &x0, config)?;
            }
            let (lo, hi) = pixel_range(x0.view());
            rows.push(VeRow {
                sde: name.into(),
                precision: match train_config.precision {
                    Precision::F64 => "f64",
                    Precision::F32 => "f32",
                }
                .into(),
                activation: train_config.activation.name().into(),
                sampler: format!("{}, {} steps", sampler.label(), config.steps),
                train_seconds: seconds,
                final_loss: trained.final_loss(),
                pixel_range: (lo, hi),
                far,
                largest_pixel: lo.abs().max(hi.abs()),
                quality: judge.quality(x0.view())?,
                quality_near,
            });
        }
    }
    let relu_loss = match per_image.first() {
        Some((Activation::Relu, loss)) => loss.clone(),
        _ => {
            return Err(Error::param(
                "digits VE run",
                "the ReLU f32 network comes first",
            ))
        }
    };
    let held_out = per_image
        .iter()
        .map(|(activation, loss)| {
            let diff: Vec<f64> = loss.iter().zip(&relu_loss).map(|(a, b)| a - b).collect();
            HeldOut {
                activation: activation.name().into(),
                loss: mean_se(loss),
                paired_difference: mean_se(&diff),
            }
        })
        .collect();
    Ok(DigitsVeReport {
        config: config.clone(),
        held_out,
        far_trace,
        sigma_max: ve.scale().sigma_max(),
        data_var: mean_pixel_variance(train),
        rows,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// For each sample of `x0` with a pixel beyond `±FAR`, at its largest pixel `j`: the prior
/// draw `x_T` (the sampler's, regenerated from the seed) there over `zeta(T)`, and
/// `ε_θ(x_T, T)` there.
fn trace(
    model: &crate::digits::DigitsModel,
    sde: &dyn LinearSde,
    x0: &ndarray::Array2<f64>,
    config: &DigitsVeConfig,
) -> Result<Vec<(f64, f64)>> {
    let x_t = sde.sample_prior(config.n_samples, 64, &mut crate::rng::seeded(config.seed));
    let t = sde.t_max();
    let eps = model.eps(t, x_t.view())?;
    let mut out = vec![];
    for (i, row) in x0.rows().into_iter().enumerate() {
        let (j, p) =
            row.iter().enumerate().fold(
                (0, 0.0_f64),
                |b, (j, &p)| if p.abs() > b.1 { (j, p.abs()) } else { b },
            );
        if p > FAR {
            out.push((x_t[[i, j]] / sde.kernel_std(t), eps[[i, j]]));
        }
    }
    Ok(out)
}
