//! A driver for `perf record` on workload A (the seed's VE training step on the fused trainer):
//! `N` steps, then the step-rate quantiles (p10 = the 10% fastest steps, which show the code's
//! speed when the shared host leaves the core alone) and the mean.
//!
//! `cargo build --release --example profile_train && perf record ./target/release/examples/profile_train 3000`
//! (`F32=1` for the `f32` path).
use score_sde::book::experiment::ve_seed::VeSeedConfig;
use score_sde::fast::{DsmBuffers, FusedTrainer};
use score_sde::mixture::GaussianMixture;
use score_sde::nn::{Activation, Adam, Mlp};
use score_sde::rng::seeded;
use score_sde::sde::Ve;
use std::time::Instant;

fn main() -> score_sde::Result<()> {
    if std::env::var("F32").is_ok() {
        run::<f32>()
    } else {
        run::<f64>()
    }
}

fn run<F: score_sde::fast::Float>() -> score_sde::Result<()> {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
        .max(1);
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let mut rng = seeded(cfg.seed);
    let data = GaussianMixture::seed_ve().sample(1024, &mut rng);
    let net = Mlp::new(&[2, 64, 64, 1], Activation::Relu, &mut rng)?;
    let mut tr = FusedTrainer::<F>::new(&net, &Adam::new(cfg.lr)?, 1024, 1)?;
    let mut bufs = DsmBuffers::<F>::new(1024, 1);
    let mut v = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = Instant::now();
        bufs.draw(&sde, data.view(), cfg.t_eps, cfg.weighting, &mut rng)?;
        tr.step(&bufs)?;
        v.push(t.elapsed().as_secs_f64());
    }
    let mean = v.iter().sum::<f64>() / steps as f64;
    let slow = v.iter().filter(|&&x| x > 2.0 * mean).count();
    v.sort_by(f64::total_cmp);
    println!(
        "p10_steps/s {:.1} p50 {:.1} mean {:.1} p90 {:.1} slow_steps {}",
        1.0 / v[steps / 10],
        1.0 / v[steps / 2],
        1.0 / mean,
        1.0 / v[steps * 9 / 10],
        slow
    );
    Ok(())
}
