//! `score-sde bench`: steps per second of the book's workloads on the fast paths.
//!
//! - A: the seed's VE training step (2-64-64-1 ReLU MLP, full batch 1024, seed DSM loss,
//!   Adam) on [`FusedTrainer`], ~26.4 MFLOP per step; also at width 128 and batch 4096.
//! - B: the seed's DDPM step (2-32-32-1, batch 1024, `K = 40` linear betas 0.02..0.4,
//!   loss `mean (eps_theta(x_k, k) - eps)^2`) on [`FusedTrainer`].
//! - C: reverse Euler-Maruyama, 256 paths x 199 steps, with the trained A network
//!   ([`NetScore`], tape-free forward); `steps_per_s` counts path-steps.
//! - D: an image-scale eps-prediction step (the shape of the digits chapter's network, the
//!   peers' workload D): 8x8 images (64 dims), VP SDE (beta 0.1 -> 20), Gaussian Fourier time
//!   features (16 frequencies, scale 16: 32 features), MLP 96-256-256-256-64 ReLU, batch 256,
//!   Adam 1e-3, loss `mean (eps_theta - eps)^2`, ~0.26 GFLOP per step.
//!
//! Each figure is the median of several timed repeats after a warm-up repeat. Every line
//! names the kernel family (`isa=`, [`Isa::active`]: set `SCORE_SDE_ISA` to compare) and, for
//! training steps, `gflops=` (the peers' count: 3 x the forward pass's multiply-adds x 2).
use std::time::Instant;

use crate::book::experiment::ve_seed::VeSeedConfig;
use crate::ddpm::eps_net::EpsBuffers;
use crate::ddpm::schedule::VarianceSchedule;
use crate::ddpm::StepFeature;
use crate::error::{Error, Result};
use crate::fast::{DsmBuffers, Float, FusedTrainer, Isa, SdeEpsBuffers, TimeFeatures};
use crate::loss::{dsm_batch, dsm_loss_and_grad};
use crate::mixture::GaussianMixture;
use crate::nn::{Activation, Adam, Mlp};
use crate::rng::seeded;
use crate::sampling::{reverse_euler_maruyama, ReverseSdeConfig};
use crate::score::NetScore;
use crate::sde::{LinearSde, Ve, Vp};
use rand::RngExt;

/// CPU seconds used so far by this process, all threads, exited ones included (Linux:
/// `utime + stime` of `/proc/self/stat`, in clock ticks of 10 ms); `None` where unavailable.
pub fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU seconds used so far by the calling thread (Linux: `/proc/thread-self/schedstat`,
/// nanoseconds); `None` where unavailable. For timing single-threaded kernels on a busy machine.
pub fn thread_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().next()?.parse::<u64>().ok()? as f64 * 1e-9)
}

/// A timing: the median wall time of the repeats and CPU time / wall time over them
/// (below `threads` when other work on the machine took the CPUs).
#[derive(Clone, Copy, Debug)]
struct Timing {
    secs: f64,
    cpu_over_wall: f64,
}

/// Median of `reps` timings of `f`, in seconds, after one warm-up call.
fn median_secs(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    f()?;
    let mut v = Vec::with_capacity(reps);
    let (c0, w0) = (cpu_secs(), Instant::now());
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64());
    }
    let wall = w0.elapsed().as_secs_f64();
    let cpu = cpu_secs().zip(c0).map_or(f64::NAN, |(c1, c0)| c1 - c0);
    v.sort_by(f64::total_cmp);
    Ok(Timing {
        secs: v[v.len() / 2],
        cpu_over_wall: cpu / wall,
    })
}

/// Repeats and steps per repeat.
#[derive(Clone, Copy, Debug)]
struct Plan {
    reps: usize,
    steps: usize,
}

/// A throughput and the CPU / wall ratio it was measured at.
#[derive(Clone, Copy, Debug)]
struct Rate {
    per_s: f64,
    cpu_over_wall: f64,
}

impl Rate {
    fn of(units: f64, t: Timing) -> Rate {
        Rate {
            per_s: units / t.secs,
            cpu_over_wall: t.cpu_over_wall,
        }
    }
}

/// Training FLOPs per step as the peers count them (`common.py::flops_per_step`): three times
/// the forward pass's `2 n Σ_l in_l out_l`.
fn flops_per_step(sizes: &[usize], n: usize) -> f64 {
    let fwd: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
    6.0 * (fwd * n) as f64
}

fn line(workload: &str, threads: usize, dtype: &str, r: Rate, flops: Option<f64>, extra: &str) {
    let isa = Isa::active().map_or("?", Isa::name);
    let gf = flops.map_or(String::new(), |f| {
        format!(" gflops={:.1}", f * r.per_s / 1e9)
    });
    println!(
        "workload={workload} threads={threads} dtype={dtype} steps_per_s={:.1} cpu_over_wall={:.2} isa={isa}{gf}{extra}",
        r.per_s, r.cpu_over_wall
    );
}

/// Workload A on the fused trainer: steps per second and the trained network.
fn bench_a<F: Float>(
    width: usize,
    batch: usize,
    threads: usize,
    plan: Plan,
) -> Result<(Rate, Mlp)> {
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let mut rng = seeded(cfg.seed);
    let data = GaussianMixture::seed_ve().sample(batch, &mut rng);
    let net = Mlp::new(&[2, width, width, 1], Activation::Relu, &mut rng)?;
    let mut tr = FusedTrainer::<F>::new(&net, &Adam::new(cfg.lr)?, batch, threads)?;
    let mut bufs = DsmBuffers::<F>::new(batch, 1);
    let secs = median_secs(plan.reps, || {
        for _ in 0..plan.steps {
            bufs.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut rng)?;
            tr.step(&bufs)?;
        }
        Ok(())
    })?;
    Ok((Rate::of(plan.steps as f64, secs), tr.net().to_mlp()))
}

/// Workload A on the tape (`dsm_loss_and_grad` + `Adam::step`), the path it replaces.
fn bench_a_tape(plan: Plan) -> Result<Rate> {
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let mut rng = seeded(cfg.seed);
    let data = GaussianMixture::seed_ve().sample(cfg.n_data, &mut rng);
    let mut net = Mlp::new(&[2, 64, 64, 1], Activation::Relu, &mut rng)?;
    let mut adam = Adam::new(cfg.lr)?;
    let secs = median_secs(plan.reps, || {
        for _ in 0..plan.steps {
            let b = dsm_batch(&sde, data.view(), cfg.t_eps, &mut rng)?;
            let (_, g) = dsm_loss_and_grad(&net, &sde, cfg.weighting, &b)?;
            adam.step(net.parameters_mut(), &g)?;
        }
        Ok(())
    })?;
    Ok(Rate::of(plan.steps as f64, secs))
}

/// Workload B: the DDPM eps-loss step on the draw of `train_eps_net` (raw step feature).
fn bench_b<F: Float>(threads: usize, plan: Plan) -> Result<Rate> {
    const N: usize = 1024;
    const K: usize = 40;
    let mut rng = seeded(11);
    let data = GaussianMixture::seed_ddpm().sample(N, &mut rng);
    let schedule = VarianceSchedule::linear(0.02, 0.4, K)?;
    let net = Mlp::new(&[2, 32, 32, 1], Activation::Relu, &mut rng)?;
    let mut tr = FusedTrainer::<F>::new(&net, &Adam::new(0.01)?, N, threads)?;
    let mut bufs = EpsBuffers::<F>::new(N, 1);
    let secs = median_secs(plan.reps, || {
        for _ in 0..plan.steps {
            bufs.draw(&schedule, data.view(), StepFeature::Raw, &mut rng)?;
            tr.residual_loss_and_grad(bufs.input(), &bufs.loss())?;
            tr.update()?;
        }
        Ok(())
    })?;
    Ok(Rate::of(plan.steps as f64, secs))
}

/// Workload C: path-steps per second of the seed's sampler driven by `net`.
fn bench_c(net: &Mlp, plan: Plan) -> Result<Rate> {
    let sde = Ve::seed();
    let mut rng = seeded(1);
    let conf = ReverseSdeConfig::default();
    let score = NetScore { net };
    let secs = median_secs(plan.reps, || {
        for _ in 0..plan.steps {
            let x = sde.sample_prior(256, 1, &mut rng);
            reverse_euler_maruyama(&sde, &score, x, &conf, &mut rng)?;
        }
        Ok(())
    })?;
    Ok(Rate::of(256.0 * 199.0 * plan.steps as f64, secs))
}

/// Workload D's widths: 64 pixels + 32 Fourier features in, three hidden layers of 256, 64 out.
pub const SIZES_D: [usize; 5] = [96, 256, 256, 256, 64];
/// Workload D's batch (the whole stand-in data set every step, as the peers do).
pub const BATCH_D: usize = 256;

/// Workload D: the eps-prediction step of an 8x8-image model on the VP SDE, with the
/// peers' ReLU or with SiLU hidden layers.
fn bench_d<F: Float>(threads: usize, plan: Plan, act: Activation) -> Result<Rate> {
    let mut rng = seeded(3);
    let data = ndarray::Array2::from_shape_simple_fn((BATCH_D, 64), || rng.random_range(-1.0..1.0));
    let features = TimeFeatures::gaussian_fourier(16, 16.0, &mut rng)?;
    let sde = Vp::song();
    let net = Mlp::new(&SIZES_D, act, &mut rng)?;
    let mut tr = FusedTrainer::<F>::new(&net, &Adam::new(1e-3)?, BATCH_D, threads)?;
    let mut bufs = SdeEpsBuffers::<F>::new(BATCH_D, 64, features);
    let secs = median_secs(plan.reps, || {
        for _ in 0..plan.steps {
            bufs.draw(&sde, data.view(), 1e-3, &mut rng)?;
            tr.step(&bufs)?;
        }
        Ok(())
    })?;
    Ok(Rate::of(plan.steps as f64, secs))
}

/// What `score-sde bench` runs.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// A handful of steps per figure (a smoke test), and no tape baseline.
    pub quick: bool,
    /// The workloads, any of `A`, `B`, `C`, `D` (C uses the network A trains, so it trains one).
    pub workloads: String,
    /// The thread counts of the multi-threaded configurations to run (1 and 2 by default).
    pub threads: Vec<usize>,
    /// The precisions of the training workloads, among `f64` and `f32` (C is `f64` only).
    pub dtypes: Vec<String>,
    /// Also run D with SiLU hidden layers (lines with `act=silu`).
    pub silu: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            quick: false,
            workloads: "ABCD".into(),
            threads: vec![1, 2],
            dtypes: vec!["f64".into(), "f32".into()],
            silu: false,
        }
    }
}

/// Prints one `workload=<A|B|C|D> threads=<n> dtype=<f64|f32> steps_per_s=<x>` line per
/// configuration, with `cpu_over_wall=`, `isa=` and, for training, `gflops=` (variants of A add
/// `width=` and `batch=`), then, unless `quick` or A is not asked for, the tape baseline as
/// `baseline=tape ...`. Errors on a workload letter other than A-D or a thread count of 0.
pub fn print_bench(opts: &BenchOptions) -> Result<()> {
    if let Some(c) = opts.workloads.chars().find(|c| !"ABCD".contains(*c)) {
        return Err(Error::param(
            "workloads",
            format!("letters among A, B, C, D, got {c:?}"),
        ));
    }
    if let Some(d) = opts.dtypes.iter().find(|d| *d != "f64" && *d != "f32") {
        return Err(Error::param("dtypes", format!("f64 or f32, got {d:?}")));
    }
    if opts.threads.contains(&0) {
        return Err(Error::param("threads", "must be >= 1"));
    }
    let quick = opts.quick;
    let has = |w: char| opts.workloads.contains(w);
    let (f64_, f32_) = (
        opts.dtypes.iter().any(|d| d == "f64"),
        opts.dtypes.iter().any(|d| d == "f32"),
    );
    let threads = &opts.threads;
    let d = if quick {
        Plan { reps: 1, steps: 2 }
    } else {
        Plan { reps: 5, steps: 40 }
    };
    let (a, b, c) = if quick {
        let p = Plan { reps: 1, steps: 5 };
        (p, p, Plan { reps: 1, steps: 1 })
    } else {
        (
            Plan {
                reps: 5,
                steps: 400,
            },
            Plan {
                reps: 5,
                steps: 1000,
            },
            Plan { reps: 5, steps: 20 },
        )
    };
    let fa = flops_per_step(&[2, 64, 64, 1], 1024);
    let fb = flops_per_step(&[2, 32, 32, 1], 1024);
    let fd = flops_per_step(&SIZES_D, BATCH_D);
    let mut trained = None;
    for &t in threads {
        if has('A') && f64_ {
            let (sps, net) = bench_a::<f64>(64, 1024, t, a)?;
            line("A", t, "f64", sps, Some(fa), "");
            trained.get_or_insert(net);
        }
        if has('A') && f32_ {
            let r = bench_a::<f32>(64, 1024, t, a)?.0;
            line("A", t, "f32", r, Some(fa), "");
        }
        if has('B') && f64_ {
            line("B", t, "f64", bench_b::<f64>(t, b)?, Some(fb), "");
        }
        if has('B') && f32_ {
            line("B", t, "f32", bench_b::<f32>(t, b)?, Some(fb), "");
        }
        let acts: &[(Activation, &str)] = if opts.silu {
            &[(Activation::Relu, ""), (Activation::Silu, " act=silu")]
        } else {
            &[(Activation::Relu, "")]
        };
        for &(act, tag) in acts {
            if has('D') && f64_ {
                line("D", t, "f64", bench_d::<f64>(t, d, act)?, Some(fd), tag);
            }
            if has('D') && f32_ {
                line("D", t, "f32", bench_d::<f32>(t, d, act)?, Some(fd), tag);
            }
        }
    }
    if has('C') && f64_ {
        let net = match trained {
            Some(net) => net,
            None => bench_a::<f64>(64, 1024, 1, a)?.1,
        };
        line("C", 1, "f64", bench_c(&net, c)?, None, "");
    }
    if has('A') && f64_ {
        let small = Plan {
            reps: a.reps,
            steps: (a.steps / 4).max(1),
        };
        for (width, batch) in [(128, 1024), (64, 4096)] {
            for &t in threads {
                let sps = bench_a::<f64>(width, batch, t, small)?.0;
                let extra = format!(" width={width} batch={batch}");
                let f = flops_per_step(&[2, width, width, 1], batch);
                line("A", t, "f64", sps, Some(f), &extra);
            }
        }
    }
    if !quick && has('A') && f64_ {
        let p = Plan {
            reps: 3,
            steps: 100,
        };
        let r = bench_a_tape(p)?;
        println!(
            "baseline=tape workload=A threads=1 dtype=f64 steps_per_s={:.1} cpu_over_wall={:.2}",
            r.per_s, r.cpu_over_wall
        );
    }
    Ok(())
}
