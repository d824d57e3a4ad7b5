//! Training the digits network for the likelihood: the book network (VP, the first
//! `n_train` training images) trained three ways — on the lattice images with the eps loss
//! (the chapter's network), on dequantised images `x + Δ u` with the eps loss, and on
//! dequantised images with the likelihood weighting `λ = g²` by importance sampling of `t`
//! (`fast::LikelihoodTimes`) — each scored by the test bits per dimension of its EMA weights
//! exactly as [`digits_bits`](super::digits_bits) scores (the same dequantised test images,
//! probes and solver: the body of [`flow_log_p`](crate::digits::flow_log_p), kept open to
//! see where the worst image's cost comes from; the flow started at each of `t_mins`; with
//! the median over images and the number of images whose bound exceeds the uniform code
//! beside the mean), and its ancestral samples judged like the network section's
//! ([`Judge`](super::digits_network): class histogram, Fréchet distances in pixels and in
//! the classifier's features, beside the real-image floor). A network trained on `x + Δ u`
//! learns a law whose mean is the lattice's plus `Δ/2` in every pixel, so its samples are
//! judged both as drawn and shifted by `−Δ/2`.
//!
//! Where the likelihood-weighted network's worst test image goes ([`Runaway`]): its flow
//! recorded against `t` beside the dequantised eps network's on the same image
//! ([`flow_path`]), integrated again alone at tighter tolerances and with RK4, the image's
//! distance to its nearest training image, and how many training images run away too.
use std::time::Instant;

use ndarray::{s, Array2, ArrayView1};
use rand_distr::Distribution;
use serde::{Deserialize, Serialize};

use super::digits_bits::{self, BitsConfig, BitsRow};
use super::digits_network::{sample, Judge, Quality};
use crate::digits::{
    bits_per_dim, dequantise, nearest_neighbours, offset_bits, pixel_range, train_digits,
    ClassifierConfig, Digits, DigitsModel, DigitsTrainConfig, Precision, DELTA, GREY_LEVELS,
};
use crate::divergence::Probe;
use crate::error::{Error, Result};
use crate::fast::LikelihoodTimes;
use crate::likelihood::{flow_log_likelihood, DivergenceMethod};
use crate::metrics::quantile;
use crate::rng::seeded;
use crate::sampling::{flow_velocity, OdeMethod, Sampler, Schedule};
use crate::score::ScoreFn;
use crate::sde::{LinearSde, Vp};

/// The runs and how they are scored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsLikelihoodConfig {
    /// Training images (the first `n_train`).
    pub n_train: usize,
    /// The training settings shared by the three networks (their options are set per run).
    pub train: DigitsTrainConfig,
    /// Where the flow starts (the first is the training cut-off).
    pub t_mins: Vec<f64>,
    /// How bits per dimension are scored (its `t_min` is replaced by each of `t_mins`).
    pub bits: BitsConfig,
    pub n_samples: usize,
    /// Ancestral steps (equal steps in `t` down to `t_eps`).
    pub ancestral_steps: usize,
    pub classifier: ClassifierConfig,
    /// Seeds the samples and the floor's draws of real images.
    pub seed: u64,
}

impl DigitsLikelihoodConfig {
    /// The book's run: the network section's settings (`DigitsTrainConfig::book()`, 1500
    /// images, 200 ancestral samples of 200 steps, the same classifier and seed) and the
    /// bits section's starting times up to 0.03 (from 0.1 every network there is worse).
    pub fn book() -> Self {
        Self {
            n_train: 1500,
            // In f32, which tracks f64 (the digits chapter's f32 section) at half the cost.
            train: DigitsTrainConfig {
                precision: Precision::F32,
                ..DigitsTrainConfig::book()
            },
            t_mins: vec![1e-3, 1e-2, 3e-2],
            bits: BitsConfig::book(),
            n_samples: 200,
            ancestral_steps: 200,
            classifier: ClassifierConfig::book(),
            seed: 31,
        }
    }
}

/// One trained network: its options, loss, bits per dimension and samples.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LikelihoodRow {
    pub name: String,
    pub dequantise: bool,
    pub likelihood_weighting: bool,
    /// Mean of the last ten recorded training losses (the weighted one under the likelihood
    /// weighting: not comparable across rows).
    pub final_loss: f64,
    /// Per starting time: `(t_min, bpd, se)` of the EMA weights.
    pub bits: Vec<(f64, f64, f64)>,
    /// Per starting time: the median over test images of the per-image bound.
    pub median: Vec<f64>,
    /// Per starting time: how many test images cost more than the uniform code
    /// (`log_2 17` bits per dimension).
    pub above_uniform: Vec<usize>,
    /// Per starting time, for the test image with the largest bound: the share of its
    /// `−log p` that is the prior term `−log π(x(T))` (the rest is the flow's divergence
    /// integral), and `|x(T)|`, where the flow carried it (prior draws have
    /// `|x(T)| ≈ 8`).
    pub worst_prior_share: Vec<f64>,
    pub worst_x_end: Vec<f64>,
    /// Per starting time: the index (among the test images) of the image with the largest
    /// bound.
    #[serde(default)]
    pub worst_image: Vec<usize>,
    /// The ODE's right-hand-side evaluations per starting time.
    pub nfe: Vec<usize>,
    /// Ancestral EMA samples judged by the classifier, as drawn.
    pub quality: Quality,
    /// The same samples shifted by `−Δ/2` (dequantised training only).
    pub quality_shifted: Option<Quality>,
    pub pixel_range: (f64, f64),
    /// Wall-clock seconds of the training.
    pub train_seconds: f64,
}

/// Everything the subsection shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsLikelihoodReport {
    pub config: DigitsLikelihoodConfig,
    /// Uniform, one Gaussian, one Gaussian per class ([`digits_bits`]'s first three rows).
    pub baselines: Vec<BitsRow>,
    /// Lattice + eps loss, dequantised + eps loss, dequantised + likelihood weighting.
    pub rows: Vec<LikelihoodRow>,
    /// The floor: [`FLOOR_DRAWS`](super::digits_network::FLOOR_DRAWS) sets of `n_samples` real
    /// training images, judged alike ([`Judge::floor`]).
    pub real: Vec<Quality>,
    /// Where the likelihood-weighted network's worst test image (at the first starting time)
    /// goes, beside the dequantised eps network.
    #[serde(default)]
    pub runaway: Option<Runaway>,
}

/// `|x(T)|` beyond which a flow is said to run away: prior draws have `|x| ≈ 8 ± 0.7`
/// (`√64` and the chi distribution's spread), so 20 is far outside them.
pub const RUNAWAY: f64 = 20.0;

/// Noise draws per training image for [`Runaway::trained_max_norm`].
pub const TRAINING_DRAWS: usize = 4;

/// The times at which [`Runaway::path`] records the flow (from the first starting time).
pub const PATH_TIMES: [f64; 8] = [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0];

/// One point of a flow's path: `t`, `|x(t)|` and the radial gain `γ = ε·x/|x|²` of
/// `ε = −ζ(t) s(t, x)`. The probability-flow velocity `f x − ½ g² s` has radial part
/// `(f + ½ g² γ/ζ) |x|`; for VP, `½ β (γ/ζ − 1) |x|`: `|x|` grows while `γ > ζ`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct PathPoint {
    pub t: f64,
    pub norm: f64,
    pub gain: f64,
}

/// The radial gain `γ = −ζ(t) s(t, x)·x/|x|²` of `score` at each row of `x`.
pub fn radial_gain(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    t: f64,
    x: ndarray::ArrayView2<f64>,
) -> Result<Vec<f64>> {
    let s = score.score(t, x)?;
    let zeta = sde.kernel_std(t);
    Ok(x.rows()
        .into_iter()
        .zip(s.rows())
        .map(|(x, s)| -zeta * s.dot(&x) / x.dot(&x))
        .collect())
}

/// The probability flow of one point `x0` from `times[0]` through each of `times`
/// (increasing), each piece integrated by `method`: `|x(t)|` and the radial gain at each time.
pub fn flow_path(
    sde: &dyn LinearSde,
    score: &dyn ScoreFn,
    x0: ArrayView1<f64>,
    times: &[f64],
    method: &OdeMethod,
) -> Result<Vec<PathPoint>> {
    if times
        .windows(2)
        .any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
    {
        return Err(Error::param("times", "must be increasing"));
    }
    let mut x = x0.to_owned().insert_axis(ndarray::Axis(0));
    let mut out = Vec::with_capacity(times.len());
    for (k, &t) in times.iter().enumerate() {
        out.push(PathPoint {
            t,
            norm: x.row(0).dot(&x.row(0)).sqrt(),
            gain: radial_gain(sde, score, t, x.view())?[0],
        });
        if let Some(&next) = times.get(k + 1) {
            x = method
                .solve(|t, y| flow_velocity(sde, score, t, y), t, next, x)?
                .y;
        }
    }
    Ok(out)
}

/// The share of the likelihood-weighting time density's mass above `t` (the table's CDF,
/// linear between its nodes).
pub fn q_above(times: &LikelihoodTimes, t: f64) -> f64 {
    let (nodes, c) = (times.nodes(), times.cumulative());
    let k = nodes.partition_point(|&n| n <= t).clamp(1, nodes.len() - 1) - 1;
    let u = ((t - nodes[k]) / (nodes[k + 1] - nodes[k])).clamp(0.0, 1.0);
    1.0 - (c[k] + u * (c[k + 1] - c[k])) / times.mass()
}

/// The likelihood-weighted network's worst test image at the first starting time, followed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Runaway {
    /// Its index among the test images and its class.
    pub image: usize,
    pub class: u8,
    /// The share of test images whose nearest training image (of the `n_train`, on the
    /// lattice) is nearer than this image's.
    pub nearest_share: f64,
    /// `|x(T)|` of the image integrated alone, and the right-hand-side evaluations: Dopri5 at
    /// the bits tolerance, Dopri5 at `1e-8`, RK4 with 2000 steps.
    pub solvers: Vec<(String, f64, usize)>,
    /// Its path at the first starting time and [`PATH_TIMES`], under the weighted network and
    /// under the dequantised eps network.
    pub path_weighted: Vec<PathPoint>,
    pub path_eps: Vec<PathPoint>,
    /// `ζ(t)` at the path's times.
    pub zeta: Vec<f64>,
    /// The radial gain at `T` of each network (weighted, eps) at `10^5` times the unit vector
    /// along the weighted flow's `x(T)`: how the network extrapolates in that direction.
    pub far_gain: (f64, f64),
    /// How many of the first `n_test` training images (dequantised) and of the test images
    /// end beyond [`RUNAWAY`] (weighted, eps), integrated without the divergence.
    pub train_runaways: (usize, usize),
    pub test_runaways: (usize, usize),
    pub n_test: usize,
    /// The share of the training times drawn above `t = 0.5` under the likelihood weighting.
    pub q_above_half: f64,
    /// The largest `|x(t)|` of training draws `μ(t) x0 + ζ(t) z` ([`TRAINING_DRAWS`] per
    /// dequantised training image at each of the path's times): the region the networks
    /// were trained on.
    #[serde(default)]
    pub trained_max_norm: f64,
    /// Wall-clock seconds of all of the above (the networks already trained).
    #[serde(default)]
    pub seconds: f64,
}

/// The three trainings: name, dequantise, likelihood weighting.
pub const RUNS: [(&str, bool, bool); 3] = [
    ("lattice images, eps loss", false, false),
    ("dequantised images, eps loss", true, false),
    ("dequantised images, likelihood weighting", true, true),
];

/// Trains and scores the three networks.
pub fn run(config: &DigitsLikelihoodConfig) -> Result<DigitsLikelihoodReport> {
    if config.t_mins.is_empty() {
        return Err(Error::param("t_mins", "needs at least one starting time"));
    }
    let digits = Digits::book()?;
    let sde = Vp::song();
    let train = digits.train_subset(config.n_train)?;
    let t_eps = config.train.t_eps;
    let ancestral = Schedule::UniformT { t_min: t_eps }.times(&sde, config.ancestral_steps)?;
    let (judge, _) = Judge::new(&digits, &config.classifier)?;
    let real = judge.floor(&digits, config.n_samples, config.seed)?;
    let baselines = digits_bits::run(&[], &sde, &digits, &config.bits)?.rows;
    // The test images of `digits_bits::run`: the same seed, training images first.
    let n_test = config.bits.n_test;
    let mut deq = seeded(config.bits.dequant_seed);
    let train_deq = dequantise(digits.train.view(), &mut deq)?;
    let test = dequantise(digits.test.slice(s![..n_test, ..]), &mut deq)?;
    let method = OdeMethod::Dopri5 {
        rtol: config.bits.rtol,
        atol: config.bits.rtol,
    };
    let uniform = (GREY_LEVELS as f64).log2();
    let per_dim = test.ncols() as f64 * std::f64::consts::LN_2;
    let mut rows = vec![];
    let mut nets = vec![];
    for (name, dequantise, likelihood_weighting) in RUNS {
        let c = DigitsTrainConfig {
            dequantise,
            likelihood_weighting,
            ..config.train.clone()
        };
        let start = Instant::now();
        let trained = train_digits(train.view(), &sde, &c, None)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let model = trained.model(&trained.ema, &sde);
        let (mut bits, mut median, mut above_uniform, mut nfe) = (vec![], vec![], vec![], vec![]);
        let (mut worst_prior_share, mut worst_x_end, mut worst_image) = (vec![], vec![], vec![]);
        for &t_min in &config.t_mins {
            let flow = flow_log_likelihood(
                &sde,
                &model,
                test.view(),
                t_min,
                &method,
                DivergenceMethod::Hutchinson(Probe::Rademacher),
                &mut seeded(config.bits.probe_seed),
            )?;
            let prior = sde.prior_log_density(flow.x_end.view());
            let log_p = flow.log_p(&prior)?;
            let (bpd, se) = bits_per_dim(&log_p.to_vec(), test.ncols())?;
            let each: Vec<f64> = log_p
                .iter()
                .map(|lp| -lp / per_dim + offset_bits())
                .collect();
            let worst = (0..each.len())
                .max_by(|&a, &b| each[a].total_cmp(&each[b]))
                .unwrap_or(0);
            worst_image.push(worst);
            worst_prior_share.push(prior[worst] / log_p[worst]);
            worst_x_end.push(flow.x_end.row(worst).dot(&flow.x_end.row(worst)).sqrt());
            bits.push((t_min, bpd, se));
            median.push(quantile(&each, 0.5)?);
            above_uniform.push(each.iter().filter(|&&b| b > uniform).count());
            nfe.push(flow.n_evals);
        }
        let x0 = sample(
            &model,
            &sde,
            &Sampler::Ancestral,
            &ancestral,
            config.n_samples,
            config.seed,
        )?;
        let quality_shifted = if dequantise {
            Some(judge.quality((&x0 - 0.5 * DELTA).view())?)
        } else {
            None
        };
        rows.push(LikelihoodRow {
            name: name.into(),
            dequantise,
            likelihood_weighting,
            final_loss: trained.final_loss(),
            bits,
            median,
            above_uniform,
            worst_prior_share,
            worst_x_end,
            worst_image,
            nfe,
            quality: judge.quality(x0.view())?,
            quality_shifted,
            pixel_range: pixel_range(x0.view()),
            train_seconds,
        });
        nets.push(trained);
    }
    // RUNS: [1] is the dequantised eps network, [2] the likelihood-weighted one.
    let image = rows[2].worst_image[0];
    let ctx = RunawayContext {
        sde: &sde,
        weighted: &nets[2].model(&nets[2].ema, &sde),
        eps: &nets[1].model(&nets[1].ema, &sde),
        t_min: config.t_mins[0],
        method: &method,
    };
    let runaway = runaway(
        &ctx,
        image,
        &digits,
        train.view(),
        train_deq.slice(s![..config.n_train, ..]).view(),
        test.view(),
        t_eps,
    )?;
    Ok(DigitsLikelihoodReport {
        config: config.clone(),
        baselines,
        rows,
        real,
        runaway: Some(runaway),
    })
}

/// The two networks [`runaway`] compares and how it integrates.
struct RunawayContext<'a> {
    sde: &'a Vp,
    weighted: &'a DigitsModel<'a>,
    eps: &'a DigitsModel<'a>,
    t_min: f64,
    method: &'a OdeMethod,
}

/// Follows test image `image` ([`Runaway`]).
fn runaway(
    c: &RunawayContext,
    image: usize,
    digits: &Digits,
    train: ndarray::ArrayView2<f64>,
    train_deq: ndarray::ArrayView2<f64>,
    test: ndarray::ArrayView2<f64>,
    t_eps: f64,
) -> Result<Runaway> {
    let start = Instant::now();
    let n_test = test.nrows();
    let x0 = test.slice(s![image..image + 1, ..]);
    let norm = |v: ArrayView1<f64>| v.dot(&v).sqrt();
    let end = |score: &dyn ScoreFn, x: ndarray::ArrayView2<f64>, method: &OdeMethod| {
        method
            .solve(
                |t, y| flow_velocity(c.sde, score, t, y),
                c.t_min,
                c.sde.t_max(),
                x.to_owned(),
            )
            .map(|sol| (sol.y, sol.n_evals))
    };
    let (mut solvers, mut ends) = (vec![], vec![]);
    for (label, method) in [
        ("Dopri5, bits tolerance", *c.method),
        (
            "Dopri5, 1e-8",
            OdeMethod::Dopri5 {
                rtol: 1e-8,
                atol: 1e-8,
            },
        ),
        ("RK4, 2000 steps", OdeMethod::Rk4 { n_steps: 2000 }),
    ] {
        let (y, nfe) = end(c.weighted, x0, &method)?;
        solvers.push((label.to_string(), norm(y.row(0)), nfe));
        ends.push(y);
    }
    let fine = OdeMethod::Dopri5 {
        rtol: 1e-8,
        atol: 1e-8,
    };
    let times: Vec<f64> = std::iter::once(c.t_min)
        .chain(PATH_TIMES.iter().copied().filter(|&t| t > c.t_min))
        .collect();
    let path_weighted = flow_path(c.sde, c.weighted, x0.row(0), &times, &fine)?;
    let path_eps = flow_path(c.sde, c.eps, x0.row(0), &times, &fine)?;
    let zeta = times.iter().map(|&t| c.sde.kernel_std(t)).collect();
    // Along the direction of x(T) from the Dopri5 1e-8 integration.
    let far: Array2<f64> = &ends[1] * (1e5 / norm(ends[1].row(0)));
    let t_max = c.sde.t_max();
    let far_gain = (
        radial_gain(c.sde, c.weighted, t_max, far.view())?[0],
        radial_gain(c.sde, c.eps, t_max, far.view())?[0],
    );
    let count = |score: &dyn ScoreFn, x: ndarray::ArrayView2<f64>| -> Result<usize> {
        let (y, _) = end(score, x, c.method)?;
        Ok(y.rows().into_iter().filter(|r| norm(*r) > RUNAWAY).count())
    };
    let first = train_deq.slice(s![..n_test.min(train_deq.nrows()), ..]);
    let train_runaways = (count(c.weighted, first)?, count(c.eps, first)?);
    let mut rng = seeded(51);
    let mut trained_max_norm = 0.0f64;
    for &t in &times {
        let (mu, zeta) = (c.sde.mean_factor(t), c.sde.kernel_std(t));
        for _ in 0..TRAINING_DRAWS {
            for x in train_deq.rows() {
                let sq: f64 = x
                    .iter()
                    .map(|&v| {
                        let z: f64 = rand_distr::StandardNormal.sample(&mut rng);
                        (mu * v + zeta * z).powi(2)
                    })
                    .sum();
                trained_max_norm = trained_max_norm.max(sq.sqrt());
            }
        }
    }
    let test_runaways = (count(c.weighted, test)?, count(c.eps, test)?);
    let lattice = digits.test.slice(s![..n_test, ..]);
    let (_, dist) = nearest_neighbours(lattice, train)?;
    let nearest_share = dist.iter().filter(|&&d| d < dist[image]).count() as f64 / n_test as f64;
    let times_q = LikelihoodTimes::new(c.sde, t_eps)?;
    Ok(Runaway {
        image,
        class: digits.test_labels[image],
        nearest_share,
        solvers,
        path_weighted,
        path_eps,
        zeta,
        far_gain,
        train_runaways,
        test_runaways,
        n_test,
        q_above_half: q_above(&times_q, 0.5),
        trained_max_norm,
        seconds: start.elapsed().as_secs_f64(),
    })
}
