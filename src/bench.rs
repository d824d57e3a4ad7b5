//! `score-sde bench`: steps per second of the book's workloads (a baseline on the tape;
//! the performance work replaces it with the fused paths).
use std::time::Instant;

use crate::error::Result;
use crate::experiment::ve_seed::VeSeedConfig;
use crate::loss::{dsm_batch, dsm_loss_and_grad};
use crate::mixture::GaussianMixture;
use crate::nn::{Activation, Adam, Mlp};
use crate::rng::seeded;
use crate::sampling::{reverse_euler_maruyama, ReverseSdeConfig};
use crate::score::NetScore;
use crate::sde::{LinearSde, Ve};

/// Median of `reps` timings of `f`, in seconds, after one warm-up call.
fn median_secs(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64());
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// Prints `workload=<A|C> threads=1 dtype=f64 steps_per_s=<x>`.
pub fn print_bench(quick: bool) -> Result<()> {
    let cfg = VeSeedConfig::seed_settings();
    let sde = Ve::seed();
    let mut rng = seeded(cfg.seed);
    let data = GaussianMixture::seed_ve().sample(cfg.n_data, &mut rng);
    let mut net = Mlp::new(&[2, 64, 64, 1], Activation::Relu, &mut rng)?;
    let mut adam = Adam::new(cfg.lr)?;
    let (reps, steps) = if quick { (3, 10) } else { (7, 100) };
    let a = median_secs(reps, || {
        for _ in 0..steps {
            let b = dsm_batch(&sde, data.view(), cfg.t_eps, &mut rng)?;
            let (_, g) = dsm_loss_and_grad(&net, &sde, cfg.weighting, &b)?;
            adam.step(net.parameters_mut(), &g)?;
        }
        Ok(())
    })?;
    println!(
        "workload=A threads=1 dtype=f64 steps_per_s={:.1}",
        steps as f64 / a
    );
    let c = median_secs(reps, || {
        let x = sde.sample_prior(256, 1, &mut rng);
        let conf = ReverseSdeConfig::default();
        reverse_euler_maruyama(&sde, &NetScore { net: &net }, x, &conf, &mut rng)?;
        Ok(())
    })?;
    println!(
        "workload=C threads=1 dtype=f64 steps_per_s={:.1}",
        256.0 * 199.0 / c
    );
    Ok(())
}
