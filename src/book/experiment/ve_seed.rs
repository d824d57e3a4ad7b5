//! Seed 000's numerical example end to end: train a score network on
//! `0.8 N(-1, 0.4^2) + 0.2 N(1, 0.3^2)` with the VE SDE `sigma(t) = sqrt(t)` and sample it with
//! reverse-time Euler-Maruyama; beside it the same sampler driven by the exact score and/or
//! started from the exact `p_T`, which separates network, discretisation and prior error.
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::loss::{dsm_batch, Weighting};
use crate::metrics::{
    density_from_score, ks_distance, sampling_noise, score_error, wasserstein1, SamplingNoise,
};
use crate::mixture::GaussianMixture;
use crate::nn::{Activation, Mlp};
use crate::progress::ProgressBar;
use crate::quadrature::linspace;
use crate::rng::seeded;
use crate::sampling::{reverse_euler_maruyama, ReverseSdeConfig, Trajectory};
use crate::score::{ExactScore, NetScore, ScoreFn};
use crate::sde::{LinearSde, SdeChoice};
use crate::train::{train_dsm, TrainOptions, Training};

/// Settings of the experiment; [`VeSeedConfig::seed_settings`] are the seed's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VeSeedConfig {
    pub seed: u64,
    pub sde: SdeChoice,
    pub n_data: usize,
    pub hidden: Vec<usize>,
    pub lr: f64,
    pub steps: usize,
    /// Training times are `t ~ U(t_eps, T)` (the seed: 0.001).
    pub t_eps: f64,
    pub weighting: Weighting,
    /// Paths drawn and plotted (the seed: 256).
    pub n_paths: usize,
    /// Paths used for the error table (more than the seed's, so that the table resolves
    /// differences smaller than the 256-path noise).
    pub eval_paths: usize,
    pub n_time_points: usize,
    /// Number of network snapshots kept during training (the seed keeps 80).
    pub snapshots: usize,
    /// Where the reverse SDE starts.
    pub prior: Prior,
}

/// The distribution the reverse SDE starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prior {
    /// The SDE's prior `N(0, zeta(T)^2)` (the seed: `N(0, 1)`).
    Sde,
    /// `N(mu(T) m, mu(T)^2 v + zeta(T)^2)` with the data's mean `m` and variance `v`: the
    /// Gaussian with the exact first two moments of `p_T`.
    MomentMatched,
}

impl VeSeedConfig {
    /// The seed's settings: VE `sigma(t) = sqrt(t)`, `T = 1`, 1024 points, 2-64-64-1 ReLU MLP,
    /// Adam 0.01, 2000 steps, the seed's loss, 256 paths of 200 time points from `N(0, 1)`.
    pub fn seed_settings() -> Self {
        Self {
            seed: 12345,
            sde: SdeChoice::SEED,
            n_data: 1024,
            hidden: vec![64, 64],
            lr: 0.01,
            steps: 2000,
            t_eps: 0.001,
            weighting: Weighting::Seed,
            n_paths: 256,
            eval_paths: 4096,
            n_time_points: 200,
            snapshots: 80,
            prior: Prior::Sde,
        }
    }

    /// The fix for the seed's prior mismatch: start the reverse SDE from the Gaussian with
    /// the first two moments of `p_T` ([`Prior::MomentMatched`]); all else as the seed.
    pub fn fixed_prior() -> Self {
        Self {
            prior: Prior::MomentMatched,
            ..Self::seed_settings()
        }
    }
}

/// Sample quality of one sampler run: distances to the target.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct SampleQuality {
    pub w1: f64,
    pub ks: f64,
    pub mean: f64,
    pub std: f64,
}

impl SampleQuality {
    /// W1, KS, mean and standard deviation of a 1-D sample against `target`.
    pub fn of(samples: &Array2<f64>, target: &GaussianMixture) -> Result<Self> {
        let s = samples.column(0).to_vec();
        let n = s.len() as f64;
        let mean = s.iter().sum::<f64>() / n;
        let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Ok(Self {
            w1: wasserstein1(&s, target)?,
            ks: ks_distance(&s, target)?,
            mean,
            std: var.sqrt(),
        })
    }
}

/// How far one training snapshot's score at `t = t_eps` is from the exact score of `p_t`:
/// RMS errors weighted by `p_t` in three regions (around the large mode, the transition
/// between the modes, around the small mode) and the `p_t`-weighted least-squares slope of
/// the fit and of the exact score on `[-3, 3]` (the "overall slope").
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitEvolution {
    pub step: usize,
    /// `x` in `[-1.6, -0.4)`: the large mode at -1 ± 1.5 sd.
    pub large_mode: f64,
    /// `x` in `[-0.4, 0.55)`: between the modes.
    pub transition: f64,
    /// `x` in `[0.55, 1.45)`: the small mode at 1 ± 1.5 sd.
    pub small_mode: f64,
    pub slope: f64,
    pub exact_slope: f64,
}

/// [`FitEvolution`] of `net` at time `t` (a grid of 601 points on `[-3, 3]`).
pub fn fit_evolution(
    step: usize,
    net: &Mlp,
    target: &GaussianMixture,
    sde: &dyn LinearSde,
    t: f64,
) -> Result<FitEvolution> {
    let grid = crate::quadrature::linspace(-3.0, 3.0, 601);
    let col = column(&grid);
    let pt = target.diffused(sde, t)?;
    let exact = pt.score(col.view())?.column(0).to_vec();
    let fit = NetScore { net }.score(t, col.view())?.column(0).to_vec();
    let p = pt.pdf(col.view())?.to_vec();
    let region = |a: f64, b: f64| {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..grid.len() {
            if grid[i] >= a && grid[i] < b {
                num += p[i] * (fit[i] - exact[i]).powi(2);
                den += p[i];
            }
        }
        (num / den).sqrt()
    };
    let w: f64 = p.iter().sum();
    let mx = p.iter().zip(&grid).map(|(p, x)| p * x).sum::<f64>() / w;
    let slope = |y: &[f64]| {
        let my = p.iter().zip(y).map(|(p, y)| p * y).sum::<f64>() / w;
        let sxy: f64 = (0..grid.len())
            .map(|i| p[i] * (grid[i] - mx) * (y[i] - my))
            .sum();
        let sxx: f64 = (0..grid.len()).map(|i| p[i] * (grid[i] - mx).powi(2)).sum();
        sxy / sxx
    };
    Ok(FitEvolution {
        step,
        large_mode: region(-1.6, -0.4),
        transition: region(-0.4, 0.55),
        small_mode: region(0.55, 1.45),
        slope: slope(&fit),
        exact_slope: slope(&exact),
    })
}

/// The numbers of a run, written as JSON and quoted by the book.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VeSeedReport {
    pub config: VeSeedConfig,
    pub sde_name: String,
    /// Mean loss over the first and the last 100 steps.
    pub loss_first_100: f64,
    pub loss_last_100: f64,
    /// The seed's sampler with its `n_paths` paths: network score, prior start.
    pub seed_paths: SampleQuality,
    /// The error table, each with `eval_paths` paths. Network score, prior start.
    pub network_prior: SampleQuality,
    /// Network score, started from exact draws of `p_T`.
    pub network_exact_start: SampleQuality,
    /// Exact score, prior start: prior error + discretisation error.
    pub exact_prior: SampleQuality,
    /// Exact score, exact `p_T` start: discretisation error only.
    pub exact_exact_start: SampleQuality,
    /// What `n_paths` exact draws of the target achieve (the noise floor).
    pub noise_floor: SamplingNoise,
    /// The same for `eval_paths` draws.
    pub noise_floor_eval: SamplingNoise,
    /// Target mean and standard deviation.
    pub target_mean: f64,
    pub target_std: f64,
    /// Mean and standard deviation of `p_T` and of the prior.
    pub p_t_max_mean: f64,
    pub p_t_max_std: f64,
    pub prior_std: f64,
    /// `(t, weighted RMS, max)` score error of the network on `[-3, 3]`.
    pub score_errors: Vec<(f64, f64, f64)>,
    /// `∫ |p̂ - p_0| dx` of the density recovered from the network score at `t = t_eps`.
    pub recovered_density_l1: f64,
    /// Monte Carlo estimate of the training loss with the exact score of `p_t` in place of
    /// the network (the floor the training can reach), and its standard error.
    pub exact_loss: f64,
    pub exact_loss_se: f64,
    /// The fit at `t_eps` at the training snapshots 0, 4, 20, 40 and the last (steps 0,
    /// 100, 500, 1000, 2000 with the seed's settings).
    pub evolution: Vec<FitEvolution>,
    /// Seconds spent training and sampling (machine dependent; not part of reproducibility).
    pub train_seconds: f64,
    pub sample_seconds: f64,
}

/// Everything the chapter shows.
#[derive(Clone, Debug)]
pub struct VeSeedRun {
    pub target: GaussianMixture,
    pub data: Array2<f64>,
    pub training: Training,
    /// Network score from the prior, with paths.
    pub network_prior: Trajectory,
    pub exact_prior: Trajectory,
    /// Final samples of the error table (`eval_paths` each), in the order network/prior,
    /// network/exact `p_T`, exact/prior, exact/exact `p_T`.
    pub eval_samples: [Array2<f64>; 4],
    pub report: VeSeedReport,
}

/// Batches of the exact-score loss estimate (each the size of the data set).
pub const EXACT_LOSS_BATCHES: usize = 50;

/// The training loss of `config` evaluated with the exact score of `p_t` in place of the
/// network, averaged over `batches` fresh draws of `(t_n, z_n)`: the floor of the
/// denoising loss (its minimum over all score functions). Returns the mean and its
/// standard error over batches.
pub fn exact_score_loss(
    sde: &dyn LinearSde,
    target: &GaussianMixture,
    data: ArrayView2<f64>,
    config: &VeSeedConfig,
    batches: usize,
    rng: &mut dyn rand::Rng,
) -> Result<(f64, f64)> {
    if batches < 2 {
        return Err(crate::error::Error::param("batches", "need at least 2"));
    }
    let (n, d) = data.dim();
    let c = config.weighting.normaliser(n, d);
    let mut values = Vec::with_capacity(batches);
    for _ in 0..batches {
        let batch = dsm_batch(sde, data, config.t_eps, rng)?;
        let mut total = 0.0;
        for (i, &t) in batch.t.iter().enumerate() {
            let x = batch.input.slice(ndarray::s![i..i + 1, ..d]);
            let s = target.diffused(sde, t)?.score(x)?;
            let zeta = batch.zeta[[i, 0]];
            let w = config.weighting.lambda(sde, t) / (zeta * zeta);
            for j in 0..d {
                total += w * (zeta * s[[0, j]] + batch.noise[[i, j]]).powi(2);
            }
        }
        values.push(c * total);
    }
    let m = values.iter().sum::<f64>() / batches as f64;
    let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (batches - 1) as f64;
    Ok((m, (var / batches as f64).sqrt()))
}

/// Grid of the seed's figures: 200 points on `[-3, 3]`.
pub fn x_grid() -> Vec<f64> {
    linspace(-3.0, 3.0, 200)
}

/// Draws the seed's data set and trains its network, in this order from `rng` (so a run
/// from `seeded(config.seed)` gives the chapter's network; the fast-samplers chapter reuses it).
pub fn train_network(
    config: &VeSeedConfig,
    rng: &mut crate::rng::SeededRng,
    progress: Option<ProgressBar>,
) -> Result<(Array2<f64>, Training)> {
    let sde = config.sde.build()?;
    let sde: &dyn LinearSde = sde.as_ref();
    let data = GaussianMixture::seed_ve().sample(config.n_data, rng);

    // ANCHOR: ve_seed_training
    let mut sizes = vec![2];
    sizes.extend(&config.hidden);
    sizes.push(1);
    let net = Mlp::new(&sizes, Activation::Relu, rng)?;
    let opts = TrainOptions {
        snapshot_every: Some((config.steps / config.snapshots.max(1)).max(1)),
        progress,
        ..TrainOptions::new(config.steps, config.lr)
    };
    let training = train_dsm(
        net,
        &opts,
        rng,
        sde,
        data.view(),
        config.t_eps,
        config.weighting,
    )?;
    // ANCHOR_END: ve_seed_training
    Ok((data, training))
}

/// Runs the experiment. `progress` (if any) gets one tick per training step and per
/// sampling step.
pub fn run(config: &VeSeedConfig, progress: Option<ProgressBar>) -> Result<VeSeedRun> {
    let sde = config.sde.build()?;
    let sde: &dyn LinearSde = sde.as_ref();
    let target = GaussianMixture::seed_ve();
    let mut rng = seeded(config.seed);
    let t0 = std::time::Instant::now();
    let (data, training) = train_network(config, &mut rng, progress.clone())?;
    let train_seconds = t0.elapsed().as_secs_f64();

    let t1 = std::time::Instant::now();
    let net_score = NetScore { net: &training.net };
    let exact = ExactScore::new(&target, sde);
    let p_t = target.diffused(sde, sde.t_max())?;
    let draw_prior = |n: usize, rng: &mut crate::rng::SeededRng| match config.prior {
        Prior::Sde => sde.sample_prior(n, 1, rng),
        Prior::MomentMatched => {
            let (mu, z2) = (sde.mean_factor(sde.t_max()), sde.kernel_var(sde.t_max()));
            let m = data.column(0).mean().unwrap_or(0.0);
            let v = data.column(0).var(1.0);
            let s = (mu * mu * v + z2).sqrt() / z2.sqrt();
            sde.sample_prior(n, 1, rng).mapv(|x| mu * m + s * x)
        }
    };
    let run_one =
        |score: &dyn ScoreFn, x: Array2<f64>, keep: bool, rng: &mut crate::rng::SeededRng| {
            let cfg = ReverseSdeConfig {
                n_time_points: config.n_time_points,
                keep_paths: keep,
                progress: progress.clone(),
                ..Default::default()
            };
            reverse_euler_maruyama(sde, score, x, &cfg, rng)
        };
    // The seed's run: n_paths paths kept for the figures, network and exact score from the
    // same prior draws.
    let x_prior = draw_prior(config.n_paths, &mut rng);
    let network_prior = run_one(&net_score, x_prior.clone(), true, &mut rng)?;
    let exact_prior = run_one(&exact, x_prior, true, &mut rng)?;
    // The error table at eval_paths: {network, exact} score x {prior, exact p_T} start.
    let x_prior = draw_prior(config.eval_paths, &mut rng);
    let x_exact = p_t.sample(config.eval_paths, &mut rng);
    let [a, b, c, d] = [
        run_one(&net_score, x_prior.clone(), false, &mut rng)?,
        run_one(&net_score, x_exact.clone(), false, &mut rng)?,
        run_one(&exact, x_prior, false, &mut rng)?,
        run_one(&exact, x_exact, false, &mut rng)?,
    ]
    .map(|tr| tr.samples);
    let table = [a, b, c, d];
    let sample_seconds = t1.elapsed().as_secs_f64();

    let grid = x_grid();
    let score_errors = [config.t_eps, 0.1, 0.5, 1.0]
        .iter()
        .map(|&f| {
            let t = if f == config.t_eps {
                f
            } else {
                f * sde.t_max()
            };
            let (rms, max) = score_error(&net_score, &target.diffused(sde, t)?, t, &grid)?;
            Ok((t, rms, max))
        })
        .collect::<Result<Vec<_>>>()?;
    let recovered = recovered_density(&training.net, config.t_eps)?;
    let truth = target.pdf(column(&grid).view())?;
    let l1 = crate::quadrature::trapezoid(
        &grid,
        &recovered
            .iter()
            .zip(truth.iter())
            .map(|(a, b)| (a - b).abs())
            .collect::<Vec<_>>(),
    )?;

    let noise_floor = sampling_noise(
        &target,
        config.n_paths,
        200,
        &mut seeded(config.seed ^ 0x5eed),
    )?;
    let noise_floor_eval = sampling_noise(
        &target,
        config.eval_paths,
        50,
        &mut seeded(config.seed ^ 0xe7a1),
    )?;
    let (exact_loss, exact_loss_se) = exact_score_loss(
        sde,
        &target,
        data.view(),
        config,
        EXACT_LOSS_BATCHES,
        &mut seeded(config.seed ^ 0x1055),
    )?;
    let n_snap = training.snapshots.len();
    let evolution = [0, 4, 20, 40, n_snap.saturating_sub(1)]
        .iter()
        .filter_map(|&i| training.snapshots.get(i))
        .map(|(step, net)| fit_evolution(*step, net, &target, sde, config.t_eps))
        .collect::<Result<Vec<_>>>()?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let report = VeSeedReport {
        config: config.clone(),
        sde_name: sde.name(),
        loss_first_100: mean(&training.losses[..100.min(training.losses.len())]),
        loss_last_100: mean(&training.losses[training.losses.len().saturating_sub(100)..]),
        seed_paths: SampleQuality::of(&network_prior.samples, &target)?,
        network_prior: SampleQuality::of(&table[0], &target)?,
        network_exact_start: SampleQuality::of(&table[1], &target)?,
        exact_prior: SampleQuality::of(&table[2], &target)?,
        exact_exact_start: SampleQuality::of(&table[3], &target)?,
        noise_floor,
        noise_floor_eval,
        target_mean: target.mean()[0],
        target_std: target.variance()[0].sqrt(),
        p_t_max_mean: p_t.mean()[0],
        p_t_max_std: p_t.variance()[0].sqrt(),
        prior_std: sde.prior_var().sqrt(),
        score_errors,
        recovered_density_l1: l1,
        exact_loss,
        exact_loss_se,
        evolution,
        train_seconds,
        sample_seconds,
    };
    Ok(VeSeedRun {
        target,
        data,
        training,
        network_prior,
        exact_prior,
        eval_samples: table,
        report,
    })
}

/// `[n, 1]` column from a slice.
pub fn column(v: &[f64]) -> Array2<f64> {
    Array2::from_shape_vec((v.len(), 1), v.to_vec()).expect("n x 1")
}

/// The density recovered from the network's score at time `t` on [`x_grid`]
/// (integrate the score, exponentiate, normalise), as in the seed's "Results".
pub fn recovered_density(net: &Mlp, t: f64) -> Result<Vec<f64>> {
    let grid = x_grid();
    let s = NetScore { net }.score(t, column(&grid).view())?;
    density_from_score(&grid, s.column(0).as_slice().expect("contiguous"))
}
