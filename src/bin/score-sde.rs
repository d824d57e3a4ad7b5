//! `score-sde`: run the book's experiments from the command line.
//!
//! Every failure prints one line `error: ...` to stderr and exits non-zero.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use score_sde::book::experiment::digits_run::{self, DigitsRunConfig};
use score_sde::book::experiment::ve_seed::{self, Prior, VeSeedConfig};
use score_sde::digits::DigitsTrainConfig;
use score_sde::loss::Weighting;
use score_sde::mixture::{GaussianMixture, LabelledMixture};
use score_sde::nn::weights_io;
use score_sde::progress;
use score_sde::rng::seeded;
use score_sde::sampling::{
    reverse_euler_maruyama, ClassifierGuided, ExactClassifier, ReverseSdeConfig, Sampler, Schedule,
};
use score_sde::score::{NetScore, ScoreFn};
use score_sde::sde::SdeChoice;
use score_sde::{Error, Result};

#[derive(Parser)]
#[command(
    name = "score-sde",
    version,
    about = "Score-based generative modeling through SDEs: the book's experiments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a score network on seed 000's mixture and sample it with the reverse SDE.
    Run {
        /// Random seed (data, initialisation, training noise, sampling noise).
        #[arg(long, default_value_t = 12345)]
        seed: u64,
        /// Adam steps (1 to 1,000,000).
        #[arg(long, default_value_t = 2000, value_parser = bounded(1, MAX_STEPS))]
        steps: usize,
        /// SDE: ve-sqrt[:T], ve-geometric[:SMIN:SMAX], vp[:BMIN:BMAX], sub-vp[:BMIN:BMAX].
        #[arg(long, default_value = "ve-sqrt")]
        sde: String,
        /// Where the reverse SDE starts.
        #[arg(long, value_enum, default_value_t = PriorArg::Sde)]
        prior: PriorArg,
        /// Loss weighting lambda(t).
        #[arg(long, value_enum, default_value_t = WeightingArg::Seed)]
        weighting: WeightingArg,
        /// Reverse-SDE paths drawn (and plotted), 2 to 100,000.
        #[arg(long, default_value_t = 256, value_parser = bounded(2, MAX_RUN_PATHS))]
        paths: usize,
        /// Output folder for metrics.json, weights.safetensors and figures.
        #[arg(long, default_value = "out/ve-seed")]
        out: PathBuf,
    },
    /// Sample a saved network with the reverse SDE and print W1/KS against the seed's target.
    Sample {
        /// A weights file written by `run`.
        #[arg(long)]
        weights: PathBuf,
        /// SDE the network was trained for (as for `run`).
        #[arg(long, default_value = "ve-sqrt")]
        sde: String,
        /// Reverse-SDE paths, 2 to 1,000,000 (two at least: the sample's std is reported).
        #[arg(long, default_value_t = 256, value_parser = bounded(2, MAX_SAMPLE_PATHS))]
        paths: usize,
        /// Points of the time grid, 2 to 10,000.
        #[arg(long, default_value_t = 200, value_parser = bounded(2, MAX_TIME_POINTS))]
        time_points: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Use this sampler (em, reverse-diffusion, ancestral, pc, ddim, ddim-eta1, euler,
        /// heun, heun-churn, dpm-solver-1, dpm-solver-2, dpm-solver-3, dpm-solver++2m, rk4,
        /// dopri5) on a grid of --steps steps, from the prior N(0, zeta(T)^2).
        #[arg(long)]
        sampler: Option<String>,
        /// Steps of the sampler's grid, 1 to 1,000,000 (default: time points - 1).
        #[arg(long, value_parser = bounded(1, MAX_STEPS))]
        steps: Option<usize>,
        /// Spacing of the sampler's grid: karras (rho = 7, down to sigma = 0) or uniform
        /// (equal steps in t down to 0).
        #[arg(long, default_value = "karras")]
        schedule: String,
        /// Sample class K of the seed's target, whose components are its classes (0: the
        /// mode at -1, 1: the mode at +1), by classifier guidance with the target's exact
        /// time-dependent classifier; W1 and KS are then against p0(x | K).
        #[arg(long)]
        class: Option<usize>,
        /// Classifier-guidance scale w >= 0 (needs --class; default 1: with an exact score,
        /// w = 1 samples p0(x | K)).
        #[arg(long)]
        guidance: Option<f64>,
    },
    /// Train the digits network (VP SDE, 8x8 images), sample it, and judge the samples.
    Digits {
        /// Train on the first N training images, 1 to 1500.
        #[arg(long, default_value_t = 1500, value_parser = bounded(1, 1500))]
        train_size: usize,
        /// Adam steps, 1 to 1,000,000.
        #[arg(long, default_value_t = 6000, value_parser = bounded(1, MAX_STEPS))]
        steps: usize,
        /// Images sampled, 2 to 10,000.
        #[arg(long, default_value_t = 64, value_parser = bounded(2, 10_000))]
        samples: usize,
        /// Sampler (as for `sample --sampler`).
        #[arg(long, default_value = "ancestral")]
        sampler: String,
        /// Steps of the sampler's grid, 1 to 100,000.
        #[arg(long, default_value_t = 200, value_parser = bounded(1, 100_000))]
        sampler_steps: usize,
        /// Spacing of the sampler's grid: uniform (equal steps in t) or karras.
        #[arg(long, default_value = "uniform")]
        schedule: String,
        /// Training threads, 1 to 256.
        #[arg(long, default_value_t = 2, value_parser = bounded(1, 256))]
        threads: usize,
        #[arg(long, default_value_t = 31)]
        seed: u64,
        /// Train the class-conditional network instead and sample this class, 0 to 9.
        #[arg(long, value_parser = bounded(0, 9))]
        class: Option<usize>,
        /// Classifier-free guidance strength w >= 0 for --class: (1 + w) s(x | y) - w s(x).
        #[arg(long, value_parser = non_negative)]
        guidance: Option<f64>,
        /// Also inpaint the lower halves of the first --samples test images (replacement and
        /// reconstruction guidance, with the network's unconditional score) and judge them.
        #[arg(long)]
        impute: bool,
        /// Output folder for metrics.json, the EMA weights, the time features and the grids.
        #[arg(long, default_value = "out/digits")]
        out: PathBuf,
    },
    /// Run every experiment of the book and write its figures and numbers.
    BookAssets {
        /// Output folder (the book reads book/src/generated).
        #[arg(long, default_value = "book/src/generated")]
        out: PathBuf,
    },
    /// Time a training step and a sampling step; one line per workload.
    Bench {
        /// Fewer repeats (for a smoke test).
        #[arg(long)]
        quick: bool,
        /// Workloads to run, letters among A, B, C, D.
        #[arg(long, default_value = "ABCD")]
        workloads: String,
        /// Thread counts to run, comma-separated, each 1 to 256.
        #[arg(long, default_value = "1,2", value_delimiter = ',', value_parser = bounded(1, 256))]
        threads: Vec<usize>,
        /// Precisions of the training workloads, comma-separated: f64, f32.
        #[arg(long, default_value = "f64,f32", value_delimiter = ',')]
        dtypes: Vec<String>,
        /// Also run workload D with SiLU hidden layers (lines with `act=silu`).
        #[arg(long)]
        silu: bool,
    },
}

const MAX_STEPS: u64 = 1_000_000;
const MAX_RUN_PATHS: u64 = 100_000;
const MAX_SAMPLE_PATHS: u64 = 1_000_000;
const MAX_TIME_POINTS: u64 = 10_000;

/// A `usize` argument in `lo..=hi`: clap rejects anything else (negative, huge, not a number)
/// with one `error:` line and exit code 2, before any work or allocation.
fn bounded(lo: u64, hi: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(lo..=hi)
}

/// A finite `f64 >= 0` (clap rejects NaN, infinities and negative values before any work).
fn non_negative(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(w) if w.is_finite() && w >= 0.0 => Ok(w),
        _ => Err(format!("must be a finite number >= 0, got {s:?}")),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum PriorArg {
    Sde,
    MomentMatched,
}

#[derive(Clone, Copy, ValueEnum)]
enum WeightingArg {
    Seed,
    KernelVariance,
    Likelihood,
    Unit,
}

/// Rust ignores SIGPIPE, so `println!` into a closed pipe (`score-sde bench | head`) panics.
/// Restore the default action: the process ends quietly, like any Unix filter.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread is spawned; only resets a signal
    // disposition to its default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return ExitCode::SUCCESS;
            }
            let text = e.to_string();
            let first = match e.kind() {
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    "error: a command is needed: run, sample, digits, book-assets or bench"
                }
                _ => text.lines().next().unwrap_or("error: invalid arguments"),
            };
            eprintln!("{first} (see score-sde --help)");
            return ExitCode::from(2);
        }
    };
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Run {
            seed,
            steps,
            sde,
            prior,
            weighting,
            paths,
            out,
        } => {
            let config = VeSeedConfig {
                seed,
                steps,
                sde: SdeChoice::parse(&sde)?,
                prior: match prior {
                    PriorArg::Sde => Prior::Sde,
                    PriorArg::MomentMatched => Prior::MomentMatched,
                },
                weighting: match weighting {
                    WeightingArg::Seed => Weighting::Seed,
                    WeightingArg::KernelVariance => Weighting::KernelVariance,
                    WeightingArg::Likelihood => Weighting::Likelihood,
                    WeightingArg::Unit => Weighting::Unit,
                },
                n_paths: paths,
                ..VeSeedConfig::seed_settings()
            };
            run(&config, &out)
        }
        Command::Sample {
            weights,
            sde,
            paths,
            time_points,
            seed,
            sampler,
            steps,
            schedule,
            class,
            guidance,
        } => {
            let guide = Guide::parse(class, guidance)?;
            if sampler.is_some() || steps.is_some() {
                let choice = FastChoice {
                    sampler: Sampler::parse(sampler.as_deref().unwrap_or("em"))?,
                    steps: steps.unwrap_or(time_points - 1),
                    schedule: parse_schedule(&schedule)?,
                };
                sample_with(&weights, &sde, paths, seed, &choice, guide)
            } else {
                sample(&weights, &sde, paths, time_points, seed, guide)
            }
        }
        Command::Digits {
            train_size,
            steps,
            samples,
            sampler,
            sampler_steps,
            schedule,
            threads,
            seed,
            class,
            guidance,
            impute,
            out,
        } => {
            let book = DigitsRunConfig::book();
            let config = DigitsRunConfig {
                n_train: train_size,
                train: DigitsTrainConfig {
                    steps,
                    threads,
                    ..book.train
                },
                n_samples: samples,
                sampler,
                sampler_steps,
                schedule,
                seed,
                class,
                guidance,
                impute,
                ..book
            };
            digits(&config, &out)
        }
        Command::BookAssets { out } => {
            let t = std::time::Instant::now();
            score_sde::book::figures::write_all(&out, Some(progress::bar(0, "book")))?;
            println!(
                "book assets written to {} in {:.1} s",
                out.display(),
                t.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Bench {
            quick,
            workloads,
            threads,
            dtypes,
            silu,
        } => bench(score_sde::book::bench::BenchOptions {
            quick,
            workloads,
            threads,
            dtypes,
            silu,
        }),
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn run(config: &VeSeedConfig, out: &Path) -> Result<()> {
    let total = config.steps + (2 + 4) * (config.n_time_points - 1);
    let pb = progress::bar(total as u64, "ve-seed");
    let result = ve_seed::run(config, Some(pb.clone()))?;
    pb.finish_and_clear();
    // Only a finished run writes: a failure leaves no folder behind.
    create_dir(out)?;
    write(
        &out.join("metrics.json"),
        &serde_json::to_string_pretty(&result.report)?,
    )?;
    weights_io::save(&result.training.net, out.join("weights.safetensors"))?;
    score_sde::book::figures::ve_seed::write_figures(
        &result,
        None,
        score_sde::book::figures::ve_seed::Out {
            dir: &out.join("figures"),
            png: true,
        },
    )?;
    let r = &result.report;
    println!(
        "sde={} steps={} loss_last_100={:.4}",
        r.sde_name, config.steps, r.loss_last_100
    );
    println!(
        "seed sampler ({} paths): W1={:.4} KS={:.4}  (noise floor of {} exact draws: W1 {:.4}, KS {:.4})",
        config.n_paths, r.seed_paths.w1, r.seed_paths.ks, config.n_paths, r.noise_floor.w1_mean, r.noise_floor.ks_mean
    );
    println!(
        "error table ({} paths; floor W1 {:.4}):",
        config.eval_paths, r.noise_floor_eval.w1_mean
    );
    for (name, q) in [
        ("network score, prior start", r.network_prior),
        ("network score, exact p_T start", r.network_exact_start),
        ("exact score, prior start", r.exact_prior),
        ("exact score, exact p_T start", r.exact_exact_start),
    ] {
        println!(
            "  {name:<32} W1={:.4} KS={:.4} mean={:+.3} std={:.3}",
            q.w1, q.ks, q.mean, q.std
        );
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// `sample --class K --guidance W`: classifier guidance towards one of the seed target's
/// components, with the target's exact classifier `p_t(y | x)`.
#[derive(Clone, Copy)]
struct Guide {
    class: usize,
    scale: f64,
}

impl Guide {
    /// Checks the flags before any work: `--guidance` needs `--class`, the class must be one of
    /// the target's, and the scale finite and `>= 0`.
    fn parse(class: Option<usize>, guidance: Option<f64>) -> Result<Option<Self>> {
        let Some(class) = class else {
            return match guidance {
                Some(_) => Err(Error::param("guidance", "needs --class")),
                None => Ok(None),
            };
        };
        let classes = seed_classes()?.n_classes();
        if class >= classes {
            return Err(Error::param(
                "class",
                format!("the target has classes 0..{classes}, got {class}"),
            ));
        }
        let scale = guidance.unwrap_or(1.0);
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(Error::param(
                "guidance",
                format!("must be finite and >= 0, got {scale}"),
            ));
        }
        Ok(Some(Self { class, scale }))
    }
}

/// The seed target with each component its own class.
fn seed_classes() -> Result<LabelledMixture> {
    let p0 = GaussianMixture::seed_ve();
    let labels = (0..p0.n_components()).collect();
    LabelledMixture::new(p0, labels)
}

/// Runs `f` with the network's score, guided when asked, and the law it should sample.
fn with_guide<R>(
    net: &score_sde::nn::Mlp,
    sde: &dyn score_sde::sde::LinearSde,
    guide: Option<Guide>,
    f: impl FnOnce(&dyn ScoreFn, &GaussianMixture) -> Result<R>,
) -> Result<R> {
    let score = NetScore { net };
    let Some(g) = guide else {
        return f(&score, &GaussianMixture::seed_ve());
    };
    let labelled = seed_classes()?;
    let classifier = ExactClassifier { p0: &labelled, sde };
    let guided = ClassifierGuided {
        score: &score,
        classifier: &classifier,
        class: g.class,
        scale: g.scale,
    };
    f(&guided, &labelled.conditional(g.class)?)
}

fn sample(
    weights: &Path,
    sde: &str,
    paths: usize,
    time_points: usize,
    seed: u64,
    guide: Option<Guide>,
) -> Result<()> {
    let net = load_score_net(weights)?;
    let sde = SdeChoice::parse(sde)?.build()?;
    let mut rng = seeded(seed);
    let x = sde.sample_prior(paths, 1, &mut rng);
    let cfg = ReverseSdeConfig {
        n_time_points: time_points,
        progress: Some(progress::bar(
            time_points.saturating_sub(1) as u64,
            "sampling",
        )),
        ..Default::default()
    };
    let q = with_guide(&net, sde.as_ref(), guide, |score, target| {
        let tr = reverse_euler_maruyama(sde.as_ref(), score, x, &cfg, &mut rng)?;
        ve_seed::SampleQuality::of(&tr.samples, target)
    })?;
    print_guide(guide);
    println!(
        "paths={paths} W1={:.4} KS={:.4} mean={:+.3} std={:.3}",
        q.w1, q.ks, q.mean, q.std
    );
    Ok(())
}

/// A sampler from [`Sampler`] on a grid of `steps` steps.
struct FastChoice {
    sampler: Sampler,
    steps: usize,
    schedule: Schedule,
}

fn parse_schedule(name: &str) -> Result<Schedule> {
    match name {
        "karras" => Ok(Schedule::Karras {
            rho: 7.0,
            sigma_min: 0.0,
        }),
        "uniform" => Ok(Schedule::UniformT { t_min: 0.0 }),
        other => Err(Error::param(
            "schedule",
            format!("unknown schedule {other:?}; one of karras, uniform"),
        )),
    }
}

fn load_score_net(weights: &Path) -> Result<score_sde::nn::Mlp> {
    let net = weights_io::load(weights)?;
    if net.input_dim() != 2 || net.output_dim() != 1 {
        return Err(Error::WeightsFile(format!(
            "{}: a score network of a 1-D target has sizes [2, ..., 1], found {:?}",
            weights.display(),
            net.sizes()
        )));
    }
    Ok(net)
}

fn sample_with(
    weights: &Path,
    sde: &str,
    paths: usize,
    seed: u64,
    choice: &FastChoice,
    guide: Option<Guide>,
) -> Result<()> {
    let sde = SdeChoice::parse(sde)?.build()?;
    let ts = choice.schedule.times(sde.as_ref(), choice.steps)?;
    let net = load_score_net(weights)?;
    let mut rng = seeded(seed);
    let x = sde.sample_prior(paths, 1, &mut rng);
    let (q, nfe) = with_guide(&net, sde.as_ref(), guide, |score, target| {
        let (out, nfe) = choice.sampler.run(sde.as_ref(), score, x, &ts, &mut rng)?;
        Ok((ve_seed::SampleQuality::of(&out, target)?, nfe))
    })?;
    print_guide(guide);
    println!(
        "sampler={} steps={} nfe={nfe} paths={paths} W1={:.4} KS={:.4} mean={:+.3} std={:.3}",
        choice.sampler.label(),
        choice.steps,
        q.w1,
        q.ks,
        q.mean,
        q.std
    );
    Ok(())
}

/// One line naming the guidance, when there is one (the metrics line follows).
fn print_guide(guide: Option<Guide>) {
    if let Some(g) = guide {
        println!(
            "classifier guidance: class {} scale {} (W1 and KS against p0(x | class))",
            g.class, g.scale
        );
    }
}

fn digits(config: &DigitsRunConfig, out: &Path) -> Result<()> {
    config.validate()?;
    let pb = progress::bar(config.train.steps as u64, "digits");
    let r = digits_run::run(config, Some(pb.clone()))?;
    pb.finish_and_clear();
    // Only a finished run writes: a failure leaves no folder behind.
    create_dir(out)?;
    write(
        &out.join("metrics.json"),
        &serde_json::to_string_pretty(&r.report)?,
    )?;
    weights_io::save(&r.trained.ema, out.join("weights_ema.safetensors"))?;
    let w = match &r.trained.features {
        score_sde::fast::TimeFeatures::GaussianFourier { w } => w.clone(),
        score_sde::fast::TimeFeatures::Raw => vec![],
    };
    write(
        &out.join("time_features.json"),
        &serde_json::to_string(&serde_json::json!({ "gaussian_fourier_w": w }))?,
    )?;
    use score_sde::book::plot::ImageGrid;
    let clipped = r.samples.mapv(|p| p.clamp(-1.0, 1.0));
    ImageGrid::new(clipped.clone(), 8, 8, (-1.0, 1.0))?.save(out.join("samples"))?;
    ImageGrid::pairs(clipped.view(), r.nearest.view(), 8, 8, (-1.0, 1.0))?
        .save(out.join("nearest_pairs"))?;
    let q = &r.report;
    println!(
        "trained on {} images, {} steps in {:.0} s (final loss {:.4}); {} samples ({}, {} steps) in {:.1} s",
        config.n_train,
        config.train.steps,
        q.train_seconds,
        q.final_loss,
        config.n_samples,
        config.sampler,
        config.sampler_steps,
        q.sample_seconds
    );
    println!(
        "nearest training image: median {:.2} (test images {:.2}); near-copies {:.0}%; pixel range [{:.2}, {:.2}]",
        q.sample_nn_median,
        q.test_nn_median,
        100.0 * q.near_copies,
        q.pixel_range.0,
        q.pixel_range.1
    );
    println!(
        "classifier (test accuracy {:.1}%): classes {:?}, mean confidence {:.3}",
        100.0 * q.classifier_accuracy,
        q.samples.classes.histogram,
        q.samples.classes.mean_confidence
    );
    println!(
        "Fréchet² to the test images: pixels {:.2}, features {:.2} (as many real images: {:.2}, {:.2})",
        q.samples.fd_pixels, q.samples.fd_features, q.floor.fd_pixels, q.floor.fd_features
    );
    if let Some(g) = &q.guided {
        println!(
            "class {} at guidance w = {}: {:.0}% classified as {}, mean probability of the class {:.3}",
            g.class,
            g.guidance,
            100.0 * g.accuracy,
            g.class,
            g.confidence
        );
    }
    for row in q.inpainting.iter().flatten() {
        println!(
            "inpainting, lower half from {}: {:.1}% classified as the test label, lower-half RMS error {:.3}",
            row.method,
            100.0 * row.accuracy,
            row.rmse_lower
        );
    }
    println!("wrote {}", out.display());
    Ok(())
}

fn bench(opts: score_sde::book::bench::BenchOptions) -> Result<()> {
    score_sde::book::bench::print_bench(&opts)
}
