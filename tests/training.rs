//! Losses and training on the seed's problem.
use ndarray::Array2;
use score_sde::book::experiment::ve_seed::{self, VeSeedConfig};
use score_sde::loss::{dsm_batch, dsm_loss_and_grad, smld_loss_and_grad, Weighting};
use score_sde::mixture::GaussianMixture;
use score_sde::nn::{Activation, Mlp};
use score_sde::rng::seeded;
use score_sde::score::{ExactScore, ScoreFn};
use score_sde::sde::{LinearSde, Ve, Vp};

/// The tape loss equals the formula evaluated directly with the inference path:
/// Seed = mean (zeta s + z)^2, KernelVariance = 1/(2N) Σ zeta^2 |s + z/zeta|^2, and so on.
/// Tolerance 1e-12 relative: the same arithmetic in a different order.
#[test]
fn dsm_loss_matches_its_formula() {
    let mut rng = seeded(1);
    let sde = Vp::song();
    let x0 = GaussianMixture::seed_ve().sample(64, &mut rng);
    let net = Mlp::new(&[2, 16, 1], Activation::Silu, &mut rng).unwrap();
    let b = dsm_batch(&sde, x0.view(), 1e-3, &mut rng).unwrap();
    let s = net.forward(b.input.view()).unwrap();
    for w in [
        Weighting::Seed,
        Weighting::KernelVariance,
        Weighting::Likelihood,
        Weighting::Unit,
    ] {
        let (l, _) = dsm_loss_and_grad(&net, &sde, w, &b).unwrap();
        let mut direct = 0.0;
        for i in 0..64 {
            let target = -b.noise[[i, 0]] / b.zeta[[i, 0]];
            let lam = w.lambda(&sde, b.t[i]);
            direct += lam * (s[[i, 0]] - target).powi(2);
        }
        direct *= if w == Weighting::Seed {
            1.0 / 64.0
        } else {
            0.5 / 64.0
        };
        assert!(
            (l - direct).abs() < 1e-12 * direct,
            "{w:?}: {l} vs {direct}"
        );
        // The input carries x̃ = mu x0 + zeta z in column 0 and t in column 1.
        for i in 0..64 {
            let t = b.input[[i, 1]];
            let expect = sde.mean_factor(t) * x0[[i, 0]] + sde.kernel_std(t) * b.noise[[i, 0]];
            assert!((b.input[[i, 0]] - expect).abs() < 1e-14);
        }
    }
}

/// Vincent's identity: the denoising objective E λ|s - ∇log p(x̃|x0)|^2 differs from the explicit
/// one E λ|s - ∇log p_t(x̃)|^2 by a constant. So for any two scores s1, s2,
/// DSM(s1) - DSM(s2) = E λ(|s1 - ∇log p_t|^2 - |s2 - ∇log p_t|^2), estimated on the same draws.
/// With s2 = exact and s1 = 0.8 exact + 0.3, both sides agree within 4.5 standard errors of
/// their difference (n = 200000 draws).
#[test]
fn denoising_score_matching_identity() {
    let p0 = GaussianMixture::seed_ve();
    let sde = Ve::seed();
    let mut rng = seeded(2);
    let n = 200_000;
    let x0 = p0.sample(n, &mut rng);
    let b = dsm_batch(&sde, x0.view(), 0.05, &mut rng).unwrap();
    let exact = ExactScore::new(&p0, &sde);
    let mut diffs = Vec::with_capacity(n);
    for i in 0..n {
        let t = b.t[i];
        let x = Array2::from_elem((1, 1), b.input[[i, 0]]);
        let e = exact.score(t, x.view()).unwrap()[[0, 0]];
        let s1 = 0.8 * e + 0.3;
        let cond = -b.noise[[i, 0]] / b.zeta[[i, 0]];
        let lam = sde.kernel_var(t);
        let dsm = lam * ((s1 - cond).powi(2) - (e - cond).powi(2));
        let esm = lam * (s1 - e).powi(2);
        diffs.push(dsm - esm);
    }
    let mean = diffs.iter().sum::<f64>() / n as f64;
    let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    assert!(
        mean.abs() < 4.5 * sd / (n as f64).sqrt(),
        "mean {mean}, se {}",
        sd / (n as f64).sqrt()
    );
}

/// The SMLD loss of seed 001 is (1/2) mean over levels and points of |sigma s + z|^2.
#[test]
fn smld_loss_and_bad_levels() {
    let mut rng = seeded(3);
    let x0 = GaussianMixture::seed_ve().sample(32, &mut rng);
    let net = Mlp::new(&[2, 8, 1], Activation::Relu, &mut rng).unwrap();
    let (l, g) = smld_loss_and_grad(&net, x0.view(), &[2.0, 1.0, 0.5], &mut rng).unwrap();
    assert!(l.is_finite() && l > 0.0);
    assert_eq!(g.len(), net.parameters().len());
    assert!(smld_loss_and_grad(&net, x0.view(), &[], &mut rng).is_err());
    assert!(smld_loss_and_grad(&net, x0.view(), &[1.0, -0.5], &mut rng).is_err());
    assert!(dsm_batch(&Ve::seed(), x0.view(), 0.0, &mut rng).is_err());
    assert!(dsm_batch(&Ve::seed(), x0.view(), 1.5, &mut rng).is_err());
}

/// Training on the seed's problem with the seed's settings lowers the loss, and the trained
/// network, started from exact draws of p_T, samples the target with W1 < 0.1 at 4096 paths
/// (measured 0.06; the noise floor of 4096 exact draws is about 0.017, the rest is network
/// and step error). With the seed's N(0, 1) prior the W1 is above 0.15 (measured 0.19): the
/// prior mismatch; the moment-matched prior brings it under 0.1 (measured 0.05).
#[test]
fn seed_experiment_trains_and_samples() {
    let run = ve_seed::run(&VeSeedConfig::seed_settings(), None).unwrap();
    let r = &run.report;
    assert!(
        r.loss_last_100 < 0.95 * r.loss_first_100,
        "{} vs {}",
        r.loss_last_100,
        r.loss_first_100
    );
    assert!(
        r.network_exact_start.w1 < 0.1,
        "{:?}",
        r.network_exact_start
    );
    assert!(r.network_prior.w1 > 0.15, "{:?}", r.network_prior);
    assert!(r.exact_prior.w1 > 0.15, "{:?}", r.exact_prior);
    // The chapter's reading of the table. Exact score + exact start leaves only the
    // discretisation error, which is within the 95% quantile of the W1 of as many exact
    // draws (measured 0.011 vs a floor mean of 0.017); the exact score from N(0, 1) is at
    // least five times that quantile (measured 0.23): the start, not the network, dominates.
    // 256 paths (the seed's) detect the seed's error: its W1 is beyond the 95% quantile of
    // 256 exact draws; the better samplers of the table (4096 paths) are all below the
    // *mean* W1 of 256 exact draws, so 256 paths could not rank them.
    assert!(
        r.seed_paths.w1 > r.noise_floor.w1_q95,
        "{:?} vs {:?}",
        r.seed_paths,
        r.noise_floor
    );
    for q in [&r.network_exact_start, &r.exact_exact_start] {
        assert!(q.w1 < r.noise_floor.w1_mean, "{q:?} vs {:?}", r.noise_floor);
    }
    let q95 = r.noise_floor_eval.w1_q95;
    assert!(
        r.exact_exact_start.w1 < q95,
        "{:?} vs {q95}",
        r.exact_exact_start
    );
    assert!(r.exact_prior.w1 > 5.0 * q95, "{:?} vs {q95}", r.exact_prior);
    // The training loss reaches the exact-score floor: the mean of the last 100 losses is
    // not below the floor by more than 4 standard errors (the floor is the minimum in
    // expectation; the per-step spread is estimated from the last 100 losses) and is
    // within 0.03 of it (measured 0.002; a poorly fitted score would sit well above).
    let last = &run.training.losses[run.training.losses.len() - 100..];
    let m = last.iter().sum::<f64>() / 100.0;
    let se_last = (last.iter().map(|l| (l - m).powi(2)).sum::<f64>() / 99.0 / 100.0).sqrt();
    let se = (se_last.powi(2) + r.exact_loss_se.powi(2)).sqrt();
    assert!(
        r.loss_last_100 > r.exact_loss - 4.0 * se,
        "{} vs {} (se {se})",
        r.loss_last_100,
        r.exact_loss
    );
    assert!(
        (r.loss_last_100 - r.exact_loss).abs() < 0.03,
        "{} vs {}",
        r.loss_last_100,
        r.exact_loss
    );
    let fixed = ve_seed::run(&VeSeedConfig::fixed_prior(), None).unwrap();
    assert!(
        fixed.report.network_prior.w1 < 0.1,
        "{:?}",
        fixed.report.network_prior
    );
    // With the exact score the moment-matched start is within twice the floor's 95%
    // quantile (measured 0.018): two moments of p_1 carry most of what the start needs.
    assert!(
        fixed.report.exact_prior.w1 < 2.0 * q95,
        "{:?} vs {q95}",
        fixed.report.exact_prior
    );
    assert_eq!(run.training.snapshots.len(), 81);
    // The chapter's reading of the fit's evolution (snapshots at steps 0, 100, 500, 1000,
    // 2000; deterministic given the seed, so the thresholds only need to separate the
    // regions): the weighted slope is within 15% of the exact one at step 100 (from the
    // wrong sign at step 0); by step 500 the large-mode error has fallen by more than half,
    // faster than the small mode's and the transition's; the transition has the largest
    // error at every snapshot.
    let ev = &r.evolution;
    assert_eq!(
        ev.iter().map(|e| e.step).collect::<Vec<_>>(),
        [0, 100, 500, 1000, 2000]
    );
    assert!(ev[0].slope * ev[0].exact_slope < 0.0);
    assert!((ev[1].slope - ev[1].exact_slope).abs() < 0.15 * ev[1].exact_slope.abs());
    let drop = |f: fn(&ve_seed::FitEvolution) -> f64| f(&ev[2]) / f(&ev[0]);
    let (big, small, trans) = (
        drop(|e| e.large_mode),
        drop(|e| e.small_mode),
        drop(|e| e.transition),
    );
    assert!(
        big < 0.5 && big < small && big < trans,
        "{big} {small} {trans}"
    );
    for e in ev {
        assert!(
            e.transition > e.large_mode && e.transition > e.small_mode,
            "{e:?}"
        );
    }
}

/// Same config, same numbers: the whole run is a function of its seed.
#[test]
fn experiment_is_reproducible() {
    let cfg = VeSeedConfig {
        steps: 30,
        eval_paths: 64,
        n_paths: 16,
        ..VeSeedConfig::seed_settings()
    };
    let a = ve_seed::run(&cfg, None).unwrap();
    let b = ve_seed::run(&cfg, None).unwrap();
    assert_eq!(a.training.losses, b.training.losses);
    assert_eq!(a.network_prior.samples, b.network_prior.samples);
    assert_eq!(a.report.network_prior.w1, b.report.network_prior.w1);
    let c = ve_seed::run(&VeSeedConfig { seed: 1, ..cfg }, None).unwrap();
    assert_ne!(a.training.losses, c.training.losses);
}

/// Seed 001's multi-level loss shares one noise draw per sample across the levels (its
/// `randn` has the data's shape and is broadcast against the levels); the crate draws one per
/// sample and level. Both are unbiased for the same loss: with a fixed 2-16-1 network, 64
/// data points and seed 001's six levels, the mean over 3000 draws of the shared-noise loss
/// (written here from the seed's code) and of `smld_loss_and_grad` agree within 4.5 standard
/// errors of their difference. Their spreads differ (the shared draws are correlated across
/// levels), which is why the means, not single draws, are compared.
#[test]
fn smld_shared_noise_is_unbiased() {
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = seeded(1001);
    let x0 = GaussianMixture::seed_ve().sample(64, &mut rng);
    let net = Mlp::new(&[2, 16, 1], Activation::Silu, &mut rng).unwrap();
    let sigmas = score_sde::sampling::geometric_levels(2.0, 0.5, 6).unwrap();
    let (n, l) = (x0.nrows(), sigmas.len());
    let m = 3000;
    let shared = |rng: &mut score_sde::rng::SeededRng| -> f64 {
        let z: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
        let mut input = Array2::zeros((n * l, 2));
        for (i, &s) in sigmas.iter().enumerate() {
            for j in 0..n {
                input[[i * n + j, 0]] = x0[[j, 0]] + s * z[j];
                input[[i * n + j, 1]] = s;
            }
        }
        let out = net.forward(input.view()).unwrap();
        let mut total = 0.0;
        for (i, &s) in sigmas.iter().enumerate() {
            for j in 0..n {
                total += (s * out[[i * n + j, 0]] + z[j]).powi(2);
            }
        }
        total / (2.0 * (n * l) as f64)
    };
    let a: Vec<f64> = (0..m).map(|_| shared(&mut rng)).collect();
    let b: Vec<f64> = (0..m)
        .map(|_| {
            smld_loss_and_grad(&net, x0.view(), &sigmas, &mut rng)
                .unwrap()
                .0
        })
        .collect();
    let ms = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0);
        (mean, var / v.len() as f64)
    };
    let ((ma, va), (mb, vb)) = (ms(&a), ms(&b));
    assert!(
        (ma - mb).abs() < 4.5 * (va + vb).sqrt(),
        "shared {ma} vs independent {mb} (se {})",
        (va + vb).sqrt()
    );
}
