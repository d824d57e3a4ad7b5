//! A driver for `perf record` on workload C (reverse Euler-Maruyama, 256 paths x 199 steps,
//! tape-free network score): `N` runs, then the path-step rate quantiles.
//!
//! `cargo build --release --example profile_sampler && perf record ./target/release/examples/profile_sampler 400`
use score_sde::nn::{Activation, Mlp};
use score_sde::rng::seeded;
use score_sde::sampling::{reverse_euler_maruyama, ReverseSdeConfig};
use score_sde::score::NetScore;
use score_sde::sde::{LinearSde, Ve};
use std::time::Instant;

fn main() -> score_sde::Result<()> {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
        .max(1);
    let sde = Ve::seed();
    let mut rng = seeded(1);
    let net = Mlp::new(&[2, 64, 64, 1], Activation::Relu, &mut rng)?;
    let conf = ReverseSdeConfig::default();
    let score = NetScore { net: &net };
    let mut v = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        let x = sde.sample_prior(256, 1, &mut rng);
        reverse_euler_maruyama(&sde, &score, x, &conf, &mut rng)?;
        v.push(t.elapsed().as_secs_f64());
    }
    v.sort_by(f64::total_cmp);
    let ps = 256.0 * 199.0;
    println!(
        "p10_pathsteps/s {:.3e} p50 {:.3e}",
        ps / v[reps / 10],
        ps / v[reps / 2]
    );
    Ok(())
}
