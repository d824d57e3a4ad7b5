//! Seed 004's numerical example end to end: the DDPM of the note on
//! `0.1 N(-3, 1) + 0.9 N(3, 1)` (1024 points, linear `beta` from 0.02 to 0.4, `K = 40`,
//! 2-32-32-1 ReLU network on `[x_k, k]`, Adam 0.01, 5000 steps of the simplified loss),
//! with beside it the exact noise predictor of the mixture ([`MixtureEpsOracle`]), which
//! separates the network's error from the error of the `K = 40` chain itself.
use ndarray::Array2;
use serde::{Deserialize, Serialize};

pub use crate::book::experiment::ddpm_exact::{
    entropy, eps_curves, eps_error, eps_step, excess_at, expected_posterior_var,
    reverse_variance_rows, x_grid, EpsError, EpsStep, LawSummary, ReverseVarianceRow,
};
use crate::book::experiment::ve_seed::SampleQuality;
use crate::ddpm::{
    ancestral_sample, ancestral_sample_path, seed_forward_chain, simple_loss, simulate_chain,
    train_eps_net, variational_bound, BoundTerms, EpsModel, EpsNet, MixtureEpsOracle,
    ReverseVariance, StepFeature, VarianceSchedule,
};
use crate::error::{Error, Result};
use crate::metrics::{mean_se, sampling_noise, SamplingNoise};
use crate::mixture::GaussianMixture;
use crate::progress::ProgressBar;
use crate::rng::seeded;
use crate::train::{TrainOptions, Training};

/// Settings of the experiment; [`DdpmSeedConfig::seed_settings`] are the seed note's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DdpmSeedConfig {
    pub seed: u64,
    pub n_data: usize,
    /// Linear schedule `beta_1 .. beta_K` in `K = num_steps` steps.
    pub beta_1: f64,
    pub beta_k: f64,
    pub num_steps: usize,
    pub hidden: Vec<usize>,
    pub lr: f64,
    pub steps: usize,
    /// How `k` enters the network (the seed: raw `k`).
    pub step_feature: StepFeature,
    /// Samples per sampler for the W1 / KS table.
    pub n_samples: usize,
    /// Repetitions of the Monte Carlo noise floor of `n_samples` exact draws (each costs one
    /// W1 quadrature over `n_samples` points).
    pub noise_reps: usize,
    /// Reverse paths kept for the figure.
    pub n_paths: usize,
    /// Steps `k` at which `eps_theta` is compared with `eps*` on a grid.
    pub eps_steps: Vec<usize>,
    /// Chain lengths of the oracle ladder (the schedule's `beta` range scaled by
    /// `num_steps / K`, so `sum_k beta_k` stays the same). Each rung is the exact law of the
    /// sampler by quadrature ([`ancestral_law_1d`]), with no Monte Carlo error.
    pub ladder: Vec<usize>,
    /// Independent repetitions of the step-by-step forward chain from fresh data, to show
    /// the spread of its final mean.
    pub chain_reps: usize,
    /// Independent repetitions of the exact-eps* samplers (`n_samples` each), to show the
    /// spread of `P(x < 0)` around the exact law.
    pub sample_reps: usize,
}

impl DdpmSeedConfig {
    /// The seed's settings (1024 points, `beta` 0.02 to 0.4, `K = 40`, 2-32-32-1 ReLU, raw
    /// `k`, Adam 0.01, 5000 steps), 10 000 samples per sampler for the tables.
    pub fn seed_settings() -> Self {
        Self {
            seed: 4004,
            n_data: 1024,
            beta_1: 0.02,
            beta_k: 0.4,
            num_steps: 40,
            hidden: vec![32, 32],
            lr: 0.01,
            steps: 5000,
            step_feature: StepFeature::Raw,
            n_samples: 10_000,
            noise_reps: 10,
            n_paths: 200,
            eps_steps: vec![1, 5, 10, 20, 40],
            ladder: vec![40, 80, 160, 320, 640],
            chain_reps: 200,
            sample_reps: 20,
        }
    }

    /// The schedule `linear(beta_1, beta_k, num_steps)`.
    pub fn schedule(&self) -> Result<VarianceSchedule> {
        VarianceSchedule::linear(self.beta_1, self.beta_k, self.num_steps)
    }
}

/// The bound of one (model, variance) pair, in nats per data point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundSummary {
    pub total: f64,
    pub total_se: f64,
    /// The decoder term `L_0`.
    pub l_0: f64,
    /// `sum_{k=2}^K L_{k-1}`.
    pub kl_sum: f64,
    /// The prior term `L_K`.
    pub l_prior: f64,
}

impl BoundSummary {
    fn of(b: &BoundTerms) -> Self {
        let k = b.terms.len() - 1;
        Self {
            total: b.total,
            total_se: b.total_se,
            l_0: b.terms[0],
            kl_sum: b.terms[1..k].iter().sum(),
            l_prior: b.terms[k],
        }
    }
}

/// Sample moments with their standard errors: `(estimate, SE)` pairs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub variance: (f64, f64),
    /// `P(x < 0)`, the mass of the small mode.
    pub frac_neg: (f64, f64),
    pub ks: f64,
}

impl Moments {
    /// Variance (SE from the fourth central moment), `P(x < 0)` (binomial SE) and the KS
    /// distance of a 1-D sample to `target`.
    pub fn of(x: &Array2<f64>, target: &GaussianMixture) -> Result<Self> {
        let xs = x.column(0).to_vec();
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        let m4 = xs.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
        let f = frac_neg(x);
        Ok(Self {
            variance: (v, ((m4 - v * v).max(0.0) / n).sqrt()),
            frac_neg: (f, (f * (1.0 - f) / n).sqrt()),
            ks: crate::metrics::ks_distance(&xs, target)?,
        })
    }
}

/// The oracle sampler at one chain length of the ladder: exact laws, no sampling.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LadderRow {
    pub num_steps: usize,
    pub beta_1: f64,
    pub beta_k: f64,
    pub alpha_bar_k: f64,
    /// `sigma_k^2 = beta_k`.
    pub beta: LawSummary,
    /// `sigma_k^2 = beta_tilde_k`.
    pub beta_tilde: LawSummary,
}

/// The numbers of a run, written as JSON and quoted by the book.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DdpmSeedReport {
    pub config: DdpmSeedConfig,
    /// `alpha_bar_K` of the schedule.
    pub alpha_bar_k: f64,
    /// Exact mean and standard deviation of `p_K`, the law of `x_K`.
    pub p_k_mean: f64,
    pub p_k_std: f64,
    /// Mean and standard deviation of `x_K` simulated step by step from the data.
    pub chain_k_mean: f64,
    pub chain_k_std: f64,
    /// `z = (chain_k_mean - sqrt(alpha_bar_K) mean(x_0)) / (chain_k_std / sqrt(n))`: how
    /// many standard errors the simulated mean is from its expectation given the data.
    pub chain_k_mean_z: f64,
    /// The same `z` over `chain_reps` independent repetitions (fresh data and noise): its
    /// mean, its standard deviation, and the largest `|z|`.
    pub chain_z_reps_mean: f64,
    pub chain_z_reps_sd: f64,
    pub chain_z_reps_max_abs: f64,
    /// The seed's chain: its last state is `X_{K-1}`; its empirical variance, the variance
    /// predicted by its recursion `v_j = (1 - beta_j) v_{j-1} + beta_j^2`, and the
    /// variance of the correct chain at the same step (`alpha_bar v_0 + 1 - alpha_bar`).
    pub seed_chain_last_var: f64,
    pub seed_chain_recursion_var: f64,
    pub correct_var_same_step: f64,
    /// Target mean, standard deviation, `P(x < 0)` and differential entropy (nats).
    pub target_mean: f64,
    pub target_std: f64,
    pub target_frac_neg: f64,
    pub target_entropy: f64,
    /// Mean training loss over the first and the last 100 steps.
    pub loss_first_100: f64,
    pub loss_last_100: f64,
    /// The same loss with the exact `eps*` on the training data (the floor no predictor of
    /// `eps` from `(x_k, k)` beats): mean over 100 draws and its standard error.
    pub oracle_loss: f64,
    pub oracle_loss_se: f64,
    /// The network's excess over that floor without Monte Carlo noise:
    /// `1/K sum_k int p_k(x) (eps_theta(x, k) - eps*(x, k))^2 dx` (trapezoid on [`x_grid`]).
    pub excess_loss: f64,
    pub eps_errors: Vec<EpsError>,
    /// The switching step of `eps*` and the network's version of it, at `k = 1, 2, 5`.
    pub eps_steps: Vec<EpsStep>,
    /// The terms `L_0 .. L_K` of the exact-eps* bound (`sigma^2 = beta`) and their standard
    /// errors over the data points.
    pub bound_oracle_terms: Vec<f64>,
    pub bound_oracle_term_se: Vec<f64>,
    /// Ancestral samples, `n_samples` each.
    pub net_beta: SampleQuality,
    pub net_beta_tilde: SampleQuality,
    pub oracle_beta: SampleQuality,
    pub oracle_beta_tilde: SampleQuality,
    /// Variance and `P(x < 0)` of the same four samples, in the same order.
    pub sample_moments: Vec<Moments>,
    /// What `n_samples` exact draws of the target achieve.
    pub noise_floor: SamplingNoise,
    /// The exact laws of the four samplers above (quadrature), in the same order.
    pub sample_laws: Vec<LawSummary>,
    /// `P(x < 0)` of the two exact-eps* samplers over `sample_reps` further independent runs
    /// of `n_samples` each (`sigma^2 = beta`, then `beta_tilde`): mean and standard deviation.
    pub oracle_frac_reps: Vec<(f64, f64)>,
    /// The bound on the training data, network and oracle, both variances, with the same
    /// noise for all four. The `beta_tilde` bounds use [`ReverseVariance::BetaTildeClipped`]
    /// (`sigma_1^2 = beta_tilde_2`): with `beta_tilde_1 = 0` the decoder term is infinite.
    pub bound_net_beta: BoundSummary,
    pub bound_oracle_beta: BoundSummary,
    pub bound_net_beta_tilde: BoundSummary,
    pub bound_oracle_beta_tilde: BoundSummary,
    /// Mean and standard error of the per-point difference network - oracle of the bound
    /// (`sigma^2 = beta`); the oracle minimises every term, so it is `>= 0` in expectation.
    pub bound_gap_beta: f64,
    pub bound_gap_beta_se: f64,
    /// Mean of `-ln p_0(x_0)` over the training data and its SE, and the per-point
    /// difference oracle bound (`sigma^2 = beta`) minus `-ln p_0(x_0)` with its SE.
    pub data_nll: f64,
    pub data_nll_se: f64,
    pub oracle_bound_minus_nll: f64,
    pub oracle_bound_minus_nll_se: f64,
    pub ladder: Vec<LadderRow>,
    /// The two parts of the true reverse kernel's variance at a few steps of the schedule.
    pub reverse_variance: Vec<ReverseVarianceRow>,
    /// Seconds spent training and in the rest (machine dependent, not reproducible).
    pub train_seconds: f64,
    pub eval_seconds: f64,
}

/// Everything the chapter shows.
#[derive(Clone, Debug)]
pub struct DdpmSeedRun {
    pub target: GaussianMixture,
    pub schedule: VarianceSchedule,
    pub oracle: MixtureEpsOracle,
    pub data: Array2<f64>,
    pub training: Training,
    pub model: EpsNet,
    /// The forward chain `[x_0, ..., x_K]` simulated step by step from the data.
    pub forward_chain: Vec<Array2<f64>>,
    /// The seed's chain `[X_0, ..., X_{K-1}]` from the data.
    pub seed_chain: Vec<Array2<f64>>,
    /// Reverse paths `[x_0, ..., x_K]` of the network sampler (`sigma^2 = beta`).
    pub reverse_paths: Vec<Array2<f64>>,
    pub net_beta: Array2<f64>,
    pub net_beta_tilde: Array2<f64>,
    pub oracle_beta: Array2<f64>,
    pub oracle_beta_tilde: Array2<f64>,
    /// Bound terms `L_0 .. L_K` (`sigma^2 = beta`) of the network and of the oracle.
    pub bound_net: BoundTerms,
    pub bound_oracle: BoundTerms,
    pub report: DdpmSeedReport,
}

fn frac_neg(x: &Array2<f64>) -> f64 {
    x.iter().filter(|&&v| v < 0.0).count() as f64 / x.len() as f64
}

fn mean_var(x: &Array2<f64>) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    (
        m,
        x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0),
    )
}

/// Runs the experiment. `progress` (if any) gets one tick per training step.
pub fn run(config: &DdpmSeedConfig, progress: Option<ProgressBar>) -> Result<DdpmSeedRun> {
    if config.n_data < 2 || config.n_samples < 2 {
        return Err(Error::param(
            "n_data",
            "need at least 2 data points and samples",
        ));
    }
    let schedule = config.schedule()?;
    let k_max = schedule.num_steps();
    let target = GaussianMixture::seed_ddpm();
    let oracle = MixtureEpsOracle::from_mixture(&schedule, &target)?;
    let mut rng = seeded(config.seed);
    let data = target.sample(config.n_data, &mut rng);

    // Training (the seed's network, optimiser and loss).
    let t0 = std::time::Instant::now();
    let init = EpsNet::init(1, &config.hidden, config.step_feature, k_max, &mut rng)?;
    let opts = TrainOptions {
        progress,
        ..TrainOptions::new(config.steps, config.lr)
    };
    let training = train_eps_net(&schedule, &init, data.view(), &opts, &mut rng)?;
    let model = EpsNet::new(training.net.clone(), config.step_feature, k_max)?;
    let train_seconds = t0.elapsed().as_secs_f64();

    let t1 = std::time::Instant::now();
    // The loss floor: the same loss with the exact eps, on the training data.
    let mut rng = seeded(config.seed ^ 0x1055);
    let floor: Vec<f64> = (0..100)
        .map(|_| simple_loss(&schedule, &oracle, data.view(), &mut rng))
        .collect::<Result<_>>()?;
    let (oracle_loss, oracle_loss_se) = mean_se(&floor);
    let excess_loss = (1..=k_max)
        .map(|k| excess_at(&model, &oracle, k))
        .sum::<Result<f64>>()?
        / k_max as f64;
    let eps_errors = config
        .eps_steps
        .iter()
        .map(|&k| eps_error(&model, &oracle, k))
        .collect::<Result<Vec<_>>>()?;

    // Forward chains from the data: the correct one and the seed's code.
    let mut rng = seeded(config.seed ^ 0xc4a1);
    let forward_chain = simulate_chain(&schedule, data.view(), &mut rng)?;
    let seed_chain = seed_forward_chain(&schedule, data.view(), &mut rng)?;
    let (chain_k_mean, chain_k_var) = mean_var(&forward_chain[k_max]);
    let (data_mean, _) = mean_var(&data);
    let ab_k = schedule.alpha_bar(k_max)?;
    let z_of = |x_k: &Array2<f64>, m0: f64| {
        let (m, v) = mean_var(x_k);
        (m - ab_k.sqrt() * m0) / (v / x_k.len() as f64).sqrt()
    };
    let chain_k_mean_z = z_of(&forward_chain[k_max], data_mean);
    let mut rng_reps = seeded(config.seed ^ 0xc4a2);
    let zs = (0..config.chain_reps)
        .map(|_| {
            let d = target.sample(config.n_data, &mut rng_reps);
            let path = simulate_chain(&schedule, d.view(), &mut rng_reps)?;
            Ok(z_of(&path[k_max], mean_var(&d).0))
        })
        .collect::<Result<Vec<f64>>>()?;
    let (chain_z_reps_mean, chain_z_reps_sd) = if zs.len() >= 2 {
        let (m, se) = mean_se(&zs);
        (m, se * (zs.len() as f64).sqrt())
    } else {
        (f64::NAN, f64::NAN)
    };
    let chain_z_reps_max_abs = zs.iter().fold(0.0f64, |a, z| a.max(z.abs()));
    let (_, v0) = mean_var(&data);
    let last = seed_chain.len() - 1;
    let mut v = v0;
    for j in 1..=last {
        let b = schedule.beta(j)?;
        v = (1.0 - b) * v + b * b;
    }
    let ab_last = schedule.alpha_bar(last)?;
    let (p_k_mean, p_k_var) = oracle.marginal_mean_var(k_max)?;

    // Ancestral sampling, network and oracle, both variances.
    let mut rng = seeded(config.seed ^ 0x5a3e);
    let n = config.n_samples;
    let reverse_paths = ancestral_sample_path(
        &schedule,
        &model,
        ReverseVariance::Beta,
        config.n_paths,
        1,
        &mut rng,
    )?;
    let mut draw =
        |m: &dyn EpsModel, v: ReverseVariance| ancestral_sample(&schedule, m, v, n, 1, &mut rng);
    let net_beta = draw(&model, ReverseVariance::Beta)?;
    let net_beta_tilde = draw(&model, ReverseVariance::BetaTilde)?;
    let oracle_beta = draw(&oracle, ReverseVariance::Beta)?;
    let oracle_beta_tilde = draw(&oracle, ReverseVariance::BetaTilde)?;
    let noise_floor = sampling_noise(
        &target,
        n,
        config.noise_reps,
        &mut seeded(config.seed ^ 0xf100),
    )?;
    let sample_laws = vec![
        LawSummary::of(&schedule, &model, ReverseVariance::Beta, &target)?,
        LawSummary::of(&schedule, &model, ReverseVariance::BetaTilde, &target)?,
        LawSummary::of(&schedule, &oracle, ReverseVariance::Beta, &target)?,
        LawSummary::of(&schedule, &oracle, ReverseVariance::BetaTilde, &target)?,
    ];
    let mut rng_reps = seeded(config.seed ^ 0x5a3f);
    let oracle_frac_reps = [ReverseVariance::Beta, ReverseVariance::BetaTilde]
        .iter()
        .map(|&v| {
            let fr = (0..config.sample_reps)
                .map(|_| {
                    ancestral_sample(&schedule, &oracle, v, n, 1, &mut rng_reps)
                        .map(|x| frac_neg(&x))
                })
                .collect::<Result<Vec<f64>>>()?;
            if fr.len() < 2 {
                return Ok((f64::NAN, f64::NAN));
            }
            let (m, se) = mean_se(&fr);
            Ok((m, se * (fr.len() as f64).sqrt()))
        })
        .collect::<Result<Vec<_>>>()?;

    // The bound on the training data, the same noise for every model and variance.
    let bound = |m: &dyn EpsModel, v: ReverseVariance| {
        variational_bound(
            &schedule,
            m,
            data.view(),
            v,
            1,
            &mut seeded(config.seed ^ 0xb0d),
        )
    };
    let bound_net = bound(&model, ReverseVariance::Beta)?;
    let bound_oracle = bound(&oracle, ReverseVariance::Beta)?;
    let bound_net_tilde = bound(&model, ReverseVariance::BetaTildeClipped)?;
    let bound_oracle_tilde = bound(&oracle, ReverseVariance::BetaTildeClipped)?;
    let gap: Vec<f64> = bound_net
        .per_point
        .iter()
        .zip(&bound_oracle.per_point)
        .map(|(a, b)| a - b)
        .collect();
    let (gap_mean, gap_se) = mean_se(&gap);
    let nll: Vec<f64> = target.log_pdf(data.view())?.iter().map(|l| -l).collect();
    let (data_nll, data_nll_se) = mean_se(&nll);
    let slack: Vec<f64> = bound_oracle
        .per_point
        .iter()
        .zip(&nll)
        .map(|(b, l)| b - l)
        .collect();
    let (slack_mean, slack_se) = mean_se(&slack);

    // The oracle ladder: the same beta range spread over more, smaller steps; exact laws.
    let ladder = config
        .ladder
        .iter()
        .map(|&kk| {
            let scale = k_max as f64 / kk as f64;
            let (b1, bk) = (config.beta_1 * scale, config.beta_k * scale);
            let s = VarianceSchedule::linear(b1, bk, kk)?;
            let o = MixtureEpsOracle::from_mixture(&s, &target)?;
            Ok(LadderRow {
                num_steps: kk,
                beta_1: b1,
                beta_k: bk,
                alpha_bar_k: s.alpha_bar(kk)?,
                beta: LawSummary::of(&s, &o, ReverseVariance::Beta, &target)?,
                beta_tilde: LawSummary::of(&s, &o, ReverseVariance::BetaTilde, &target)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let eval_seconds = t1.elapsed().as_secs_f64();

    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let losses = &training.losses;
    let report = DdpmSeedReport {
        config: config.clone(),
        alpha_bar_k: schedule.alpha_bar(k_max)?,
        p_k_mean,
        p_k_std: p_k_var.sqrt(),
        chain_k_mean,
        chain_k_std: chain_k_var.sqrt(),
        chain_k_mean_z,
        chain_z_reps_mean,
        chain_z_reps_sd,
        chain_z_reps_max_abs,
        seed_chain_last_var: mean_var(&seed_chain[last]).1,
        seed_chain_recursion_var: v,
        correct_var_same_step: ab_last * v0 + 1.0 - ab_last,
        target_mean: target.mean()[0],
        target_std: target.variance()[0].sqrt(),
        target_frac_neg: target.cdf_1d(0.0)?,
        target_entropy: entropy(&target)?,
        loss_first_100: mean(&losses[..100.min(losses.len())]),
        loss_last_100: mean(&losses[losses.len().saturating_sub(100)..]),
        oracle_loss,
        oracle_loss_se,
        excess_loss,
        eps_errors,
        eps_steps: [1, 2, 5]
            .iter()
            .map(|&k| eps_step(&model, &oracle, k))
            .collect::<Result<Vec<_>>>()?,
        bound_oracle_terms: bound_oracle.terms.clone(),
        bound_oracle_term_se: bound_oracle.term_se.clone(),
        net_beta: SampleQuality::of(&net_beta, &target)?,
        net_beta_tilde: SampleQuality::of(&net_beta_tilde, &target)?,
        oracle_beta: SampleQuality::of(&oracle_beta, &target)?,
        oracle_beta_tilde: SampleQuality::of(&oracle_beta_tilde, &target)?,
        sample_moments: [&net_beta, &net_beta_tilde, &oracle_beta, &oracle_beta_tilde]
            .iter()
            .map(|x| Moments::of(x, &target))
            .collect::<Result<Vec<_>>>()?,
        noise_floor,
        sample_laws,
        oracle_frac_reps,
        bound_net_beta: BoundSummary::of(&bound_net),
        bound_oracle_beta: BoundSummary::of(&bound_oracle),
        bound_net_beta_tilde: BoundSummary::of(&bound_net_tilde),
        bound_oracle_beta_tilde: BoundSummary::of(&bound_oracle_tilde),
        bound_gap_beta: gap_mean,
        bound_gap_beta_se: gap_se,
        data_nll,
        data_nll_se,
        oracle_bound_minus_nll: slack_mean,
        oracle_bound_minus_nll_se: slack_se,
        ladder,
        reverse_variance: reverse_variance_rows(&schedule, &target, &[1, 2, 3, 5, 10, 20, 30, 40])?,
        train_seconds,
        eval_seconds,
    };
    Ok(DdpmSeedRun {
        target,
        schedule,
        oracle,
        data,
        training,
        model,
        forward_chain,
        seed_chain,
        reverse_paths,
        net_beta,
        net_beta_tilde,
        oracle_beta,
        oracle_beta_tilde,
        bound_net,
        bound_oracle,
        report,
    })
}
