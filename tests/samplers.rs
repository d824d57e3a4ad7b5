//! Predictors, the Langevin corrector, predictor-corrector sampling, annealed Langevin
//! dynamics and the probability-flow ODE samplers, each driven by the exact score of the
//! seed's mixture `0.8 N(-1, 0.4^2) + 0.2 N(1, 0.3^2)` and started from exact draws of `p_T`
//! (so that only the discretisation error remains).
//!
//! Tolerances: for `n` exact draws the Kolmogorov-Smirnov distance exceeds `1.95 / sqrt(n)`
//! with probability 0.001 (Kolmogorov's limit law), so with `n = 4000` the sampling part of the
//! allowance is 0.031. The discretisation part is `1 / N` for `N` steps: in runs with
//! n = 20 000 and 10 or 20 steps under VE, `KS × steps` stayed below 0.9 for all three
//! predictors (ancestral the worst), and the bias is first order in the step (the book's
//! convergence study), so `1 / N` covers it.
mod common;
use common::{mean_se, var_se};
use ndarray::{Array2, ArrayView2};
use score_sde::metrics::ks_distance;
use score_sde::mixture::GaussianMixture;
use score_sde::rng::seeded;
use score_sde::sampling::{
    annealed_langevin, geometric_levels, langevin_step, pc_sample, probability_flow_sample,
    reverse_euler_maruyama, AnnealedLangevinConfig, LangevinCorrector, OdeMethod, PcConfig,
    Predictor, ReverseSdeConfig,
};
use score_sde::score::ExactScore;
use score_sde::sde::{LinearSde, Ve, Vp};

const N_SAMPLES: usize = 4000;
const KS_NOISE: f64 = 1.95 / 63.245_553_203_367_59; // 1.95 / sqrt(4000)

fn ks_of_pc(sde: &dyn LinearSde, cfg: &PcConfig, seed: u64) -> f64 {
    let p0 = GaussianMixture::seed_ve();
    let x = p0
        .diffused(sde, sde.t_max())
        .unwrap()
        .sample(N_SAMPLES, &mut seeded(seed));
    let run = pc_sample(
        sde,
        &ExactScore::new(&p0, sde),
        x,
        cfg,
        &mut seeded(seed + 1),
    )
    .unwrap();
    ks_distance(run.samples.column(0).as_slice().unwrap(), &p0).unwrap()
}

fn check_predictors(sde: &dyn LinearSde) {
    let n_t = 251;
    let tol = KS_NOISE + 1.0 / (n_t - 1) as f64;
    for (i, p) in [
        Predictor::EulerMaruyama,
        Predictor::ReverseDiffusion,
        Predictor::Ancestral,
    ]
    .into_iter()
    .enumerate()
    {
        let ks = ks_of_pc(sde, &PcConfig::predictor_only(p, n_t), 10 + i as u64);
        assert!(ks < tol, "{} {p:?}: KS {ks} >= {tol}", sde.name());
    }
}

/// Euler-Maruyama, reverse diffusion and ancestral sampling with 250 steps reproduce the
/// target under VE (sigma = sqrt(t)): KS < 0.031 + 1/250.
#[test]
fn predictors_reproduce_target_ve() {
    check_predictors(&Ve::seed());
}

/// The same under VP (beta from 0.1 to 20).
#[test]
fn predictors_reproduce_target_vp() {
    check_predictors(&Vp::song());
}

/// Predictor-corrector (each predictor followed by one Langevin corrector step at
/// snr = 0.16, Song et al.'s value) reproduces the target under VE and VP, 250 steps.
#[test]
fn predictor_corrector_reproduces_target() {
    let n_t = 251;
    let tol = KS_NOISE + 1.0 / (n_t - 1) as f64;
    let ve = Ve::seed();
    let vp = Vp::song();
    let sdes: [&dyn LinearSde; 2] = [&ve, &vp];
    for (i, sde) in sdes.into_iter().enumerate() {
        for (j, p) in [Predictor::ReverseDiffusion, Predictor::Ancestral]
            .into_iter()
            .enumerate()
        {
            let cfg = PcConfig {
                corrector: Some(LangevinCorrector {
                    snr: 0.16,
                    n_steps: 1,
                }),
                ..PcConfig::predictor_only(p, n_t)
            };
            assert_eq!(cfg.score_evals(), 500);
            let ks = ks_of_pc(sde, &cfg, 100 + 10 * i as u64 + j as u64);
            assert!(ks < tol, "{} PC {p:?}: KS {ks} >= {tol}", sde.name());
        }
    }
}

/// The Euler-Maruyama predictor without corrector is the seed's sampler: from the same
/// states and random stream it gives `reverse_euler_maruyama`'s result up to round-off
/// (the two write the same update with a different association of the sums).
#[test]
fn euler_maruyama_predictor_matches_reverse_euler_maruyama() {
    let p0 = GaussianMixture::seed_ve();
    let vp = Vp::song();
    let score = ExactScore::new(&p0, &vp);
    let x = vp.sample_prior(64, 1, &mut seeded(5));
    let a = pc_sample(
        &vp,
        &score,
        x.clone(),
        &PcConfig::predictor_only(Predictor::EulerMaruyama, 50),
        &mut seeded(6),
    )
    .unwrap();
    let cfg = ReverseSdeConfig {
        n_time_points: 50,
        ..Default::default()
    };
    let b = reverse_euler_maruyama(&vp, &score, x, &cfg, &mut seeded(6)).unwrap();
    let err = (&a.samples - &b.samples)
        .iter()
        .fold(0.0f64, |m, e| m.max(e.abs()));
    assert!(err < 1e-10, "max difference {err}");
}

/// The final denoising step is Tweedie's posterior mean `E[x_0 | x_t]`: it preserves the
/// mean of the data (-0.6), and by the law of total variance its variance
/// `Var(x_0) - E[Var(x_0 | x_t)]` is below `Var(x_0) = 0.786`. Stopping VE at t_min = 0.1
/// and denoising, the sample mean is -0.6 within 5 standard errors (sd of the output < 0.9,
/// n = 4000: 5 x 0.9 / 63 = 0.07), and the sample variance is below 0.786 - 0.02 (its own sd
/// is about 0.016; `E[Var(x_0 | x_t)]` is about 0.06 here, so the margin is 2-3 sd).
#[test]
fn final_denoising_is_the_posterior_mean() {
    let p0 = GaussianMixture::seed_ve();
    let ve = Ve::seed();
    let cfg = PcConfig {
        t_min: 0.1,
        denoise: true,
        ..PcConfig::predictor_only(Predictor::ReverseDiffusion, 201)
    };
    let x = p0
        .diffused(&ve, 1.0)
        .unwrap()
        .sample(N_SAMPLES, &mut seeded(7));
    let run = pc_sample(&ve, &ExactScore::new(&p0, &ve), x, &cfg, &mut seeded(8)).unwrap();
    let s = run.samples.column(0);
    let mean = s.mean().unwrap();
    let var = s.var(1.0);
    assert!((mean + 0.6).abs() < 0.07, "mean {mean}");
    let v0 = p0.variance()[0];
    assert!(var < v0 - 0.02, "variance {var} vs Var(x_0) = {v0}");
}

/// The unadjusted Langevin algorithm on `N(m, s^2)` with step alpha has the stationary
/// variance `s^2 / (1 - alpha / (4 s^2))` (the book's formula): with s = 1, alpha = 0.8 that
/// is 1.25, not 1. 20 000 chains after 200 steps (contraction 0.6^200): the sample variance
/// has sd 1.25 sqrt(2 / 20000) = 0.0125, and we accept 5 sd.
#[test]
fn langevin_has_the_biased_stationary_variance() {
    let (m, s2, alpha) = (0.5, 1.0, 0.8);
    let mut rng = seeded(11);
    let mut x = Array2::from_elem((20_000, 1), m);
    for _ in 0..200 {
        let s = x.mapv(|v| -(v - m) / s2);
        langevin_step(&mut x, s.view(), alpha, &mut rng).unwrap();
    }
    let v = x.column(0).var(1.0);
    let expected = s2 / (1.0 - alpha / (4.0 * s2));
    assert!(
        (v - expected).abs() < 5.0 * 0.0125,
        "variance {v} vs {expected}"
    );
    assert!((x.column(0).mean().unwrap() - m).abs() < 5.0 * (1.25f64 / 20_000.0).sqrt());
}

/// Annealed Langevin dynamics on seed 001's ladder (6 levels from 2 to 0.5), eps = 0.05,
/// K = 100 steps per level, with the exact scores of p_sigma, from N(0, 2^2) reaches
/// p_{sigma_L}: KS < 0.031 + 0.01. The extra 0.01 is the unadjusted chain's own bias: at the
/// last level alpha = 0.05 inflates the variance of p_{0.5} (about 0.55) by alpha / (4 v), 2%.
#[test]
fn annealed_langevin_reaches_the_last_level() {
    let p0 = GaussianMixture::seed_ve();
    let sigmas = geometric_levels(2.0, 0.5, 6).unwrap();
    assert!((sigmas[1] - 1.515_716_566_510_398).abs() < 1e-12);
    let score = |s: f64, x: ArrayView2<f64>| p0.affine(1.0, s * s)?.score(x);
    let cfg = AnnealedLangevinConfig {
        sigmas,
        eps: 0.05,
        steps_per_level: 100,
        denoise: false,
        keep_paths: false,
    };
    let x = GaussianMixture::new_1d(&[1.0], &[0.0], &[2.0])
        .unwrap()
        .sample(N_SAMPLES, &mut seeded(12));
    let run = annealed_langevin(&score, x, &cfg, &mut seeded(13)).unwrap();
    assert_eq!(run.n_score_evals, 600);
    let p_last = p0.affine(1.0, 0.25).unwrap();
    let ks = ks_distance(run.samples.column(0).as_slice().unwrap(), &p_last).unwrap();
    assert!(ks < KS_NOISE + 0.01, "KS {ks}");
}

/// The probability-flow ODE from exact draws of p_T, by RK4 (50 steps, 200 score
/// evaluations) and Dormand-Prince (rtol = atol = 1e-5), reproduces the target under VE and
/// VP: KS < 0.031 + 0.01 (the flow's own error at these settings is below 0.005 in the
/// book's convergence study).
#[test]
fn probability_flow_reproduces_target() {
    let p0 = GaussianMixture::seed_ve();
    let ve = Ve::seed();
    let vp = Vp::song();
    let sdes: [&dyn LinearSde; 2] = [&ve, &vp];
    for (i, sde) in sdes.into_iter().enumerate() {
        let score = ExactScore::new(&p0, sde);
        for method in [
            OdeMethod::Rk4 { n_steps: 50 },
            OdeMethod::Dopri5 {
                rtol: 1e-5,
                atol: 1e-5,
            },
        ] {
            let x = p0
                .diffused(sde, sde.t_max())
                .unwrap()
                .sample(N_SAMPLES, &mut seeded(20 + i as u64));
            let sol = probability_flow_sample(sde, &score, x, 0.0, &method).unwrap();
            let ks = ks_distance(sol.y.column(0).as_slice().unwrap(), &p0).unwrap();
            assert!(ks < KS_NOISE + 0.01, "{} {method:?}: KS {ks}", sde.name());
        }
    }
}

/// Bad settings are reported as errors.
#[test]
fn samplers_reject_bad_input() {
    let p0 = GaussianMixture::seed_ve();
    let ve = Ve::seed();
    let score = ExactScore::new(&p0, &ve);
    let x = Array2::zeros((4, 1));
    let mut rng = seeded(1);
    let base = PcConfig::predictor_only(Predictor::Ancestral, 10);
    let bad = [
        PcConfig {
            n_time_points: 1,
            ..base.clone()
        },
        PcConfig {
            t_min: 1.0,
            ..base.clone()
        },
        PcConfig {
            corrector: Some(LangevinCorrector {
                snr: -1.0,
                n_steps: 1,
            }),
            ..base.clone()
        },
    ];
    for cfg in &bad {
        assert!(pc_sample(&ve, &score, x.clone(), cfg, &mut rng).is_err());
    }
    assert!(pc_sample(
        &ve,
        &score,
        Array2::from_elem((2, 1), f64::NAN),
        &base,
        &mut rng
    )
    .is_err());
    let wrong = |_t: f64, x: ArrayView2<f64>| Ok(Array2::zeros((x.nrows(), 2)));
    assert!(pc_sample(&ve, &wrong, x.clone(), &base, &mut rng).is_err());
    assert!(geometric_levels(0.5, 2.0, 6).is_err());
    assert!(geometric_levels(2.0, 0.5, 1).is_err());
    let al = |cfg: AnnealedLangevinConfig, rng: &mut score_sde::rng::SeededRng| {
        annealed_langevin(&score, x.clone(), &cfg, rng)
    };
    let cfg = AnnealedLangevinConfig {
        sigmas: vec![0.5, 1.0],
        eps: 0.1,
        steps_per_level: 2,
        denoise: false,
        keep_paths: false,
    };
    assert!(al(cfg.clone(), &mut rng).is_err());
    assert!(al(
        AnnealedLangevinConfig {
            sigmas: vec![1.0, 0.5],
            eps: 0.0,
            ..cfg
        },
        &mut rng
    )
    .is_err());
    assert!(langevin_step(&mut x.clone(), x.view(), -1.0, &mut rng).is_err());
    assert!(
        probability_flow_sample(&ve, &score, x.clone(), -0.1, &OdeMethod::Rk4 { n_steps: 4 })
            .is_err()
    );
}

/// One corrector step, replayed by hand from the same random stream: the step size is the
/// signal-to-noise rule `ε = 2 α (r ||z|| / ||s||)^2` (norms averaged over rows) and the update
/// `x + ε s + sqrt(2 ε) z`; agreement to 1e-12 relative. Dropping the factor 2 or `α`, or
/// swapping the norms, moves `x` by order one.
#[test]
fn langevin_corrector_step_is_the_snr_rule() {
    let score = |_t: f64, x: ArrayView2<f64>| Ok(x.mapv(|a| -a / 0.7 + 0.3));
    let x0 = Array2::from_shape_fn((5, 2), |(i, j)| i as f64 * 0.4 - 1.0 + 0.25 * j as f64);
    let (snr, alpha, t) = (0.3, 0.9, 0.5);
    let corrector = LangevinCorrector { snr, n_steps: 1 };
    let mut x = x0.clone();
    let evals = corrector
        .correct(&score, t, alpha, &mut x, &mut seeded(3))
        .unwrap();
    assert_eq!(evals, 1);
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = seeded(3);
    let z = Array2::from_shape_simple_fn(x0.dim(), || {
        <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng)
    });
    let s = score(t, x0.view()).unwrap();
    let norm = |a: &Array2<f64>| {
        a.rows().into_iter().map(|r| r.dot(&r).sqrt()).sum::<f64>() / a.nrows() as f64
    };
    let eps = 2.0 * alpha * (snr * norm(&z) / norm(&s)).powi(2);
    let want = &x0 + &(&s * eps) + &(&z * (2.0 * eps).sqrt());
    for (g, w) in x.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{g} vs {w}");
    }
}

/// Many corrector steps at a fixed time with the exact score of `N(0, v)` reach the chain's
/// stationary law. With the snr rule the step is `ε = 2 r² v² / V` at stationary variance `V`
/// (1-D: `E|z| = sqrt(2/π)`, `E|s| = sqrt(2V/π) / v`), and the unadjusted Langevin chain
/// `x ← (1 - ε/v) x + sqrt(2ε) z` has `V = v / (1 - ε/(2v))`; together `V = v (1 + r²)`.
/// r = 0.5, v = 2: V = 2.5. Without the factor 2 in ε, V = v (1 + r²/2) = 2.25; a corrector
/// that does nothing keeps the starting variance 8. n = 40 000 paths: SE of the sample
/// variance V sqrt(2/n) = 0.018; tolerance 5 SE = 0.09, while the two wrong answers are 14 and
/// 300 SE away. 60 steps: the chain contracts by 1 - ε/v = 0.6 per step, 0.6^60 ≈ 5e-14.
#[test]
fn langevin_corrector_reaches_its_stationary_variance() {
    let (v, r, n) = (2.0, 0.5, 40_000);
    let score = move |_t: f64, x: ArrayView2<f64>| Ok(x.mapv(|a| -a / v));
    let mut rng = seeded(11);
    use rand_distr::{Distribution, StandardNormal};
    let mut x = Array2::from_shape_simple_fn((n, 1), || {
        (4.0 * v).sqrt() * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng)
    });
    let corrector = LangevinCorrector {
        snr: r,
        n_steps: 60,
    };
    corrector
        .correct(&score, 0.5, 1.0, &mut x, &mut rng)
        .unwrap();
    let m = x.mean().unwrap();
    let var = x.mapv(|a| (a - m).powi(2)).sum() / (n as f64 - 1.0);
    let want = v * (1.0 + r * r);
    let se = want * (2.0 / n as f64).sqrt();
    assert!(
        (var - want).abs() <= 5.0 * se,
        "stationary variance {var}, want {want} ± {}",
        5.0 * se
    );
    assert!(m.abs() <= 5.0 * (want / n as f64).sqrt(), "mean {m}");
}

// ---------------------------------------------------------------------------------------
// Exact laws by quadrature (`GridLaw`, `pc_law_1d`) and the samplers' asymptotic orders
// ---------------------------------------------------------------------------------------

/// `GridLaw` against closed forms: `N(0.3, 1.2^2)` pushed through the kernel
/// `x -> N(0.8 x + 0.1, 0.25^2)` is `N(0.34, 0.9841)` and the deterministic map `2x - 1` then
/// gives `N(-0.32, 3.9364)`. Mean and variance come from the trapezoid rule on smooth,
/// decaying integrands (h = 0.02, error far below 1e-9); the CDF is linear between knots, so
/// W1 to the exact Gaussian carries an O(h^2) interpolation error, ~1e-5 here (tolerance
/// 1e-4). A kernel narrower than the grid and a decreasing deterministic map are errors.
#[test]
fn grid_law_propagates_gaussians_exactly() {
    use score_sde::sampling::GridLaw;
    let g = |m: f64, s: f64| GaussianMixture::new_1d(&[1.0], &[m], &[s]).unwrap();
    let start = GridLaw::from_mixture(&g(0.3, 1.2), -12.0, 12.0, 0.02).unwrap();
    assert!((start.mass() - 1.0).abs() < 1e-12);
    let xs = start.grid();
    let m1: Vec<f64> = xs.iter().map(|x| 0.8 * x + 0.1).collect();
    let law = start.finish(&m1, 0.25).unwrap();
    let (m, v) = (0.8 * 0.3 + 0.1, 0.64 * 1.44 + 0.0625);
    assert!((law.mean() - m).abs() < 1e-9 && (law.variance() - v).abs() < 1e-9);
    let w1 = law.w1_to_mixture(&g(m, v.sqrt())).unwrap();
    assert!(w1 < 1e-4, "W1 after a Gaussian step: {w1}");
    let next = start.step(&m1, 0.25).unwrap();
    assert!((next.mass() - 1.0).abs() < 1e-9);
    let m2: Vec<f64> = xs.iter().map(|x| 2.0 * x - 1.0).collect();
    let law = next.finish(&m2, 0.0).unwrap();
    assert!((law.mean() - (2.0 * m - 1.0)).abs() < 1e-9);
    assert!((law.variance() - 4.0 * v).abs() < 1e-8);
    let w1 = law
        .w1_to_mixture(&g(2.0 * m - 1.0, 2.0 * v.sqrt()))
        .unwrap();
    assert!(w1 < 1e-4, "W1 after a deterministic step: {w1}");
    // a wrong law is far: W1(N(0.34, .), N(0.44, .)) = 0.1
    let w_off = next
        .law()
        .unwrap()
        .w1_to_mixture(&g(m + 0.1, v.sqrt()))
        .unwrap();
    assert!((w_off - 0.1).abs() < 1e-4, "{w_off}");
    assert!(
        start.step(&m1, 0.01).is_err(),
        "kernel narrower than the grid"
    );
    let dec: Vec<f64> = xs.iter().map(|x| -x).collect();
    assert!(
        next.finish(&dec, 0.0).is_err(),
        "decreasing deterministic map"
    );
}

/// The accessors and one step against brute force. `density` is the pdf at the grid points;
/// `expect` gives the first two moments of `N(0.3, 1.2^2)` (trapezoid rule on a smooth,
/// decaying integrand: error far below the 1e-9 asserted). A step whose every mean lies just
/// beyond the lower edge (at `lo - 10 sd + h/2`, inside the kernel radius of the first grid
/// point only) puts exactly `Σ_j p_j h N(lo; m, sd^2)` there and nothing elsewhere; the sum is
/// done here term by term (relative 1e-12: the same terms in another order). Bad step input
/// (a mean map of the wrong length or not finite, a NaN or infinite sd) is a typed error.
#[test]
fn grid_law_accessors_and_edge_step_match_brute_force() {
    use score_sde::sampling::GridLaw;
    let mix = GaussianMixture::new_1d(&[1.0], &[0.3], &[1.2]).unwrap();
    let (lo, h) = (-12.0, 0.02);
    let law = GridLaw::from_mixture(&mix, lo, 12.0, h).unwrap();
    let xs = law.grid();
    assert_eq!(law.density().len(), xs.len());
    let pdf = mix
        .pdf(
            Array2::from_shape_vec((xs.len(), 1), xs.clone())
                .unwrap()
                .view(),
        )
        .unwrap();
    for ((x, p), want) in xs.iter().zip(law.density()).zip(pdf) {
        assert!((p - want).abs() <= 1e-12 * want, "{x}: {p} vs {want}");
    }
    assert!((law.expect(|x| x) - 0.3).abs() < 1e-9);
    assert!((law.expect(|x| x * x) - (0.09 + 1.44)).abs() < 1e-9);
    let sd = 0.25;
    let m = lo - 10.0 * sd + 0.5 * h;
    let next = law.step(&vec![m; xs.len()], sd).unwrap();
    let phi = (-0.5 * ((lo - m) / sd).powi(2)).exp() / (sd * (2.0 * std::f64::consts::PI).sqrt());
    let want: f64 = law.density().iter().map(|p| p * h * phi).sum();
    let q = next.density();
    assert!(
        want > 0.0 && (q[0] - want).abs() < 1e-12 * want,
        "{} vs {want}",
        q[0]
    );
    assert!(q[1..].iter().all(|&v| v == 0.0));
    let n = xs.len();
    let mut nan = xs.clone();
    nan[7] = f64::NAN;
    for (mean, sd, what) in [
        (vec![0.0; n - 1], 0.25, "short mean map"),
        (nan, 0.25, "NaN mean"),
        (xs.clone(), f64::NAN, "NaN sd"),
        (xs.clone(), f64::INFINITY, "infinite sd"),
    ] {
        assert!(law.step(&mean, sd).is_err(), "{what}");
    }
}

/// Tweedie's denoising step in `pc_law_1d` is the linear map `x -> (x + v s(x)) / mu`; for
/// Gaussian data `N(m0, 1)` and the exact score `s = -(x - mu m0) / (mu^2 + v)` it is
/// `x -> A x + B` with `A = mu / (mu^2 + v)`, `B = v m0 / (mu^2 + v)`, so the denoised law has
/// mean `A m + B` and variance `A^2 s^2` of the law without the step (same run otherwise).
/// The laws' moments come from the same grid computation: 1e-9 (relative for the variance).
/// `Law1d::cdf` is linear between the knots: at a midpoint of the grid law of `N(0, 1)`
/// (h = 0.02) it is within `h^2 max|phi'| / 8 = 1.2e-5` of `Phi` (asserted 2e-5; the next
/// interval's value would be off by `h phi ~ 8e-3`), 0 below the knots and 1 above.
/// `w1_to_mixture` integrates beyond the knots: from `N(0, 0.2^2)` on [-1, 1] to
/// `N(5, 0.5^2)` or `N(-5, 0.5^2)`, with no overlap, W1 is the difference of the means, up to the linear
/// interpolation of the CDF between knots (h = 0.01: 3e-6 measured, 2e-5 asserted; without
/// the range beyond the knots W1 would be about 2).
#[test]
fn pc_law_denoising_and_law1d_cdf_and_range() {
    use score_sde::sampling::{pc_law_1d, GridLaw};
    let m0 = 0.5;
    let p0 = GaussianMixture::new_1d(&[1.0], &[m0], &[1.0]).unwrap();
    let vp = Vp::song();
    let score = ExactScore::new(&p0, &vp);
    let start = GridLaw::from_mixture(&p0.diffused(&vp, 1.0).unwrap(), -9.0, 9.0, 0.02).unwrap();
    let run = |denoise: bool| {
        let cfg = PcConfig {
            t_min: 0.05,
            denoise,
            ..PcConfig::predictor_only(Predictor::ReverseDiffusion, 41)
        };
        pc_law_1d(&vp, &score, &start, &cfg).unwrap()
    };
    let (plain, denoised) = (run(false), run(true));
    let (mu, v) = (vp.mean_factor(0.05), vp.kernel_var(0.05));
    let (a, b) = (mu / (mu * mu + v), v * m0 / (mu * mu + v));
    assert!((denoised.mean() - (a * plain.mean() + b)).abs() < 1e-9);
    let want = a * a * plain.variance();
    assert!((denoised.variance() - want).abs() < 1e-9 * want, "{want}");
    assert!(
        denoised.variance() < 0.99 * plain.variance(),
        "the step shrinks"
    );
    let g = GaussianMixture::new_1d(&[1.0], &[0.0], &[1.0]).unwrap();
    let law = GridLaw::from_mixture(&g, -12.0, 12.0, 0.02)
        .unwrap()
        .law()
        .unwrap();
    for x in [-1.31, 0.01, 0.45, 2.07] {
        let phi = g.cdf_1d(x).unwrap();
        assert!(
            (law.cdf(x) - phi).abs() < 2e-5,
            "{x}: {} vs {phi}",
            law.cdf(x)
        );
    }
    assert_eq!(law.cdf(-13.0), 0.0);
    assert!((law.cdf(13.0) - 1.0).abs() < 1e-12);
    let narrow = GaussianMixture::new_1d(&[1.0], &[0.0], &[0.2]).unwrap();
    let law = GridLaw::from_mixture(&narrow, -1.0, 1.0, 0.01)
        .unwrap()
        .law()
        .unwrap();
    let far = GaussianMixture::new_1d(&[1.0], &[5.0], &[0.5]).unwrap();
    let w1 = law.w1_to_mixture(&far).unwrap();
    assert!((w1 - (5.0 - law.mean())).abs() < 2e-5, "{w1}");
    let far_left = GaussianMixture::new_1d(&[1.0], &[-5.0], &[0.5]).unwrap();
    let w1 = law.w1_to_mixture(&far_left).unwrap();
    assert!((w1 - (law.mean() + 5.0)).abs() < 2e-5, "{w1}");
}

fn vp_law(pred: Predictor, corrector: Option<LangevinCorrector>, steps: usize) -> f64 {
    use score_sde::sampling::{pc_law_1d, GridLaw};
    let p0 = GaussianMixture::seed_ve();
    let vp = Vp::song();
    let score = ExactScore::new(&p0, &vp);
    let p_t = p0.diffused(&vp, 1.0).unwrap();
    let dt = 1.0 / steps as f64;
    let h = 0.02f64.min(0.9 * (vp.diffusion(dt).powi(2) * dt * 0.5).sqrt());
    let start = GridLaw::from_mixture(&p_t, -14.0, 14.0, h).unwrap();
    let cfg = PcConfig {
        corrector,
        ..PcConfig::predictor_only(pred, steps + 1)
    };
    let law = pc_law_1d(&vp, &score, &start, &cfg).unwrap();
    law.w1_to_mixture(&p0).unwrap()
}

/// `pc_law_1d` is the law of `pc_sample`: Euler-Maruyama with 16 steps (VP, exact score,
/// exact p_T), n = 40 000 samples; mean and variance within 5 SE of the law's.
#[test]
fn pc_law_matches_monte_carlo() {
    use score_sde::sampling::{pc_law_1d, GridLaw};
    let p0 = GaussianMixture::seed_ve();
    let vp = Vp::song();
    let score = ExactScore::new(&p0, &vp);
    let p_t = p0.diffused(&vp, 1.0).unwrap();
    let corr = LangevinCorrector {
        snr: 0.16,
        n_steps: 1,
    };
    for (pred, c) in [
        (Predictor::EulerMaruyama, None),
        (Predictor::Ancestral, None),
        (Predictor::ReverseDiffusion, Some(corr)),
    ] {
        let cfg = PcConfig {
            corrector: c,
            ..PcConfig::predictor_only(pred, 17)
        };
        let start = GridLaw::from_mixture(&p_t, -14.0, 14.0, 0.01).unwrap();
        let law = pc_law_1d(&vp, &score, &start, &cfg).unwrap();
        let n = 40_000;
        let x = p_t.sample(n, &mut seeded(31));
        let out = pc_sample(&vp, &score, x, &cfg, &mut seeded(32)).unwrap();
        let xs = out.samples.column(0).to_vec();
        let ((m, se_m), (v, se_v)) = (mean_se(&xs), var_se(&xs));
        assert!(
            (m - law.mean()).abs() < 5.0 * se_m,
            "{pred:?}: mean {m} vs law {}",
            law.mean()
        );
        assert!(
            (v - law.variance()).abs() < 5.0 * se_v,
            "{pred:?}: variance {v} vs law {}",
            law.variance()
        );
    }
}

/// The reading of the book's convergence table. With exact laws (no Monte Carlo floor),
/// Euler-Maruyama's W1 error halves per doubling from N = 64 on (order 1, weak order one;
/// the ratio 256 -> 512 is 2.02), while on N = 4, 8, 16 it falls faster (ratios 2.8 and 3.5:
/// the pre-asymptotic regime a Monte Carlo fit on those steps sees). Reverse diffusion is first
/// order throughout (ratio 2.00). Ancestral approaches order 1 from below (ratio 1.91 at
/// 256 -> 512, 1.41 at 4 -> 8), which is why a fit on 4..64 steps gives about 0.6. The PC
/// sampler's error stalls: the corrector's step is set by the fixed snr, not by N, so its
/// bias does not vanish (ratio 512/256 below 1.3). Tolerances: ratios within ±0.1 of 2
/// for first order; the quadrature's error (~1e-8) is far below the errors compared (> 1e-3).
#[test]
fn sampler_orders_from_exact_laws() {
    let r = |p: Predictor, c: Option<LangevinCorrector>, a: usize| {
        vp_law(p, c, a) / vp_law(p, c, 2 * a)
    };
    let em_late = r(Predictor::EulerMaruyama, None, 256);
    assert!((em_late - 2.0).abs() < 0.1, "EM 256 -> 512: {em_late}");
    let em_early = r(Predictor::EulerMaruyama, None, 8);
    assert!(em_early > 3.0, "EM 8 -> 16: {em_early}");
    let rd = r(Predictor::ReverseDiffusion, None, 256);
    assert!((rd - 2.0).abs() < 0.1, "reverse diffusion: {rd}");
    let anc_late = r(Predictor::Ancestral, None, 256);
    let anc_early = r(Predictor::Ancestral, None, 4);
    assert!(
        (anc_late - 2.0).abs() < 0.15 && anc_early < 1.6,
        "{anc_early} {anc_late}"
    );
    let corr = LangevinCorrector {
        snr: 0.16,
        n_steps: 1,
    };
    let pc = r(Predictor::ReverseDiffusion, Some(corr), 256);
    assert!(pc < 1.3, "PC 256 -> 512: {pc}");
    // The corrector helps the reverse-diffusion predictor up to 256 steps, not at 512.
    for n in [16, 64, 256] {
        let (a, b) = (
            vp_law(Predictor::ReverseDiffusion, Some(corr), n),
            vp_law(Predictor::ReverseDiffusion, None, n),
        );
        assert!(a < b, "{n} steps: PC {a} vs reverse diffusion {b}");
    }
    let (a, b) = (
        vp_law(Predictor::ReverseDiffusion, Some(corr), 512),
        vp_law(Predictor::ReverseDiffusion, None, 512),
    );
    assert!(a > b, "512 steps: PC {a} vs reverse diffusion {b}");
}

/// Annealed Langevin with the exact scores on seed 001's ladder (6 levels, 2 to 0.5,
/// eps = 0.05, 100 steps per level, start N(0, 4)): the exact law by quadrature
/// (`annealed_langevin_law_1d`) matches n = 20 000 chains (mean and variance within 5 SE), and
/// decomposes the bias the book describes: the unadjusted chain run at the last level alone
/// until stationary has the standard deviation of the Gaussian formula
/// `sd / sqrt(1 - eps / (4 Var))` within 0.002 (p_σL is not Gaussian, but its modes overlap);
/// the annealed chain ends with more mass on the small mode's side (`P(x > 0)`) than both
/// that stationary law and p_σL (by more than 0.002: the quadrature is exact to ~1e-8); and the
/// stationary chain's W1 is more than half of the annealed law's (0.009 of 0.013): the fixed
/// step is the larger part of the bias.
#[test]
fn annealed_langevin_law_and_its_bias() {
    use score_sde::sampling::{annealed_langevin_law_1d, GridLaw};
    let p0 = GaussianMixture::seed_ve();
    let sigmas = geometric_levels(2.0, 0.5, 6).unwrap();
    let level = |s: f64| p0.affine(1.0, s * s).unwrap();
    let exact = |s: f64, x: ArrayView2<f64>| level(s).score(x);
    let cfg = AnnealedLangevinConfig {
        sigmas,
        eps: 0.05,
        steps_per_level: 100,
        denoise: false,
        keep_paths: false,
    };
    let start = GaussianMixture::new_1d(&[1.0], &[0.0], &[2.0]).unwrap();
    let grid = GridLaw::from_mixture(&start, -16.0, 16.0, 0.04).unwrap();
    let law = annealed_langevin_law_1d(&exact, &grid, &cfg).unwrap();
    let n = 20_000;
    let x0 = start.sample(n, &mut seeded(41));
    let run = annealed_langevin(&exact, x0, &cfg, &mut seeded(42)).unwrap();
    let xs = run.samples.column(0).to_vec();
    let ((m, se_m), (v, se_v)) = (mean_se(&xs), var_se(&xs));
    assert!(
        (m - law.mean()).abs() < 5.0 * se_m,
        "mean {m} vs {}",
        law.mean()
    );
    assert!(
        (v - law.variance()).abs() < 5.0 * se_v,
        "var {v} vs {}",
        law.variance()
    );

    let last = level(0.5);
    let var_l = last.variance()[0];
    let ula_cfg = AnnealedLangevinConfig {
        sigmas: vec![0.5],
        steps_per_level: 2000,
        ..cfg.clone()
    };
    let ula = annealed_langevin_law_1d(
        &exact,
        &GridLaw::from_mixture(&last, -10.0, 10.0, 0.04).unwrap(),
        &ula_cfg,
    )
    .unwrap();
    let predicted = (var_l / (1.0 - 0.05 / (4.0 * var_l))).sqrt();
    assert!(
        (ula.variance().sqrt() - predicted).abs() < 0.002,
        "ULA sd {} vs Gaussian formula {predicted}",
        ula.variance().sqrt()
    );
    let frac = |l: &score_sde::sampling::Law1d| 1.0 - l.cdf(0.0);
    let target = 1.0 - last.cdf_1d(0.0).unwrap();
    assert!(frac(&law) > frac(&ula) + 0.002 && frac(&ula) > target + 0.002);
    let (w_law, w_ula) = (
        law.w1_to_mixture(&last).unwrap(),
        ula.w1_to_mixture(&last).unwrap(),
    );
    assert!(w_law > w_ula && w_ula > 0.5 * w_law, "{w_law} vs {w_ula}");
}

/// The probability-flow chapter's reading of the likelihood estimator: the divergence of the
/// velocity `f x - g^2 s / 2` integrated along a trajectory is, for Gaussian data
/// `N(0, v0 I)` in d = 2 under VP, `(d/2) ln(v_T / v0)` (the chapter's `∫ v'/(2v) dt`),
/// checked with `flow_log_likelihood` (exact divergence, Dormand-Prince at 1e-9: tolerance
/// 1e-5) for v0 = 0.16 and 1: it vanishes only for unit variance. The score part alone,
/// `-(1/2) ∫ g^2 div s`, is larger by `d B(T) / 2 = 10.05`, the constant the drift removes.
#[test]
fn velocity_divergence_integral_for_gaussian_data() {
    use score_sde::likelihood::{flow_log_likelihood, DivergenceMethod};
    let vp = Vp::song();
    let b_t = score_sde::sde::LinearBeta::song().integral(1.0);
    for v0 in [0.16f64, 1.0] {
        let s0 = v0.sqrt();
        let p0 = GaussianMixture::new(
            vec![1.0],
            ndarray::array![[0.0, 0.0]],
            ndarray::array![[s0, s0]],
        )
        .unwrap();
        let score = ExactScore::new(&p0, &vp);
        let x = ndarray::array![[0.3, -0.2], [-s0, 0.5 * s0]];
        let method = OdeMethod::Dopri5 {
            rtol: 1e-9,
            atol: 1e-9,
        };
        let out = flow_log_likelihood(
            &vp,
            &score,
            x.view(),
            0.0,
            &method,
            DivergenceMethod::Exact,
            &mut seeded(0),
        )
        .unwrap();
        let v_t = vp.mean_factor(1.0).powi(2) * v0 + vp.kernel_var(1.0);
        let want = (v_t / v0).ln(); // (d/2) ln(v_T / v0) with d = 2
        for &got in out.delta_log_p.iter() {
            assert!((got - want).abs() < 1e-5, "v0 = {v0}: {got} vs {want}");
            let score_part = got + b_t; // d B(T) / 2 with d = 2
            assert!(score_part > 10.0, "{score_part}");
        }
        if v0 == 1.0 {
            assert!(want.abs() < 1e-3);
        } else {
            assert!(want > 1.8);
        }
    }
}
