//! Divergences and log-likelihoods by the probability-flow ODE, against the exact `log p_0`
//! of Gaussian mixtures.
use ndarray::{array, Array1, Array2, ArrayView2};
use score_sde::divergence::{hutchinson_divergence, Probe};
use score_sde::likelihood::{flow_log_likelihood, DivergenceMethod};
use score_sde::mixture::GaussianMixture;
use score_sde::rng::seeded;
use score_sde::sampling::OdeMethod;
use score_sde::score::{ExactScore, ScoreFn};
use score_sde::sde::{LinearSde, Ve, Vp};

/// A 2-D mixture of three Gaussians with diagonal covariances, whose score has a non-diagonal
/// Jacobian (through the responsibilities).
fn mixture_2d() -> GaussianMixture {
    GaussianMixture::new(
        vec![0.5, 0.3, 0.2],
        array![[-1.0, 0.5], [1.0, -0.5], [0.5, 1.5]],
        array![[0.4, 0.6], [0.5, 0.3], [0.3, 0.3]],
    )
    .unwrap()
}

/// The forward-mode JVP and divergence of the exact score agree with the default central
/// differences of `ScoreFn` (applied to the same score wrapped in a closure) to 1e-5: the
/// difference is the central difference's own error, `h^2 |∂^3 s| / 6` with h = 1e-4, and
/// `|∂^3 s|` reaches a few thousand at t = 0 where the responsibilities switch between
/// components of std 0.3.
/// For a single Gaussian the divergence is exactly `-Σ 1/v_j`.
#[test]
fn exact_divergence_matches_finite_differences() {
    let p0 = mixture_2d();
    let vp = Vp::song();
    let exact = ExactScore::new(&p0, &vp);
    let fd = |t: f64, x: ArrayView2<f64>| exact.score(t, x);
    let x = p0.sample(50, &mut seeded(1));
    let v = Probe::Gaussian.draw(50, 2, &mut seeded(2));
    for t in [0.0, 0.05, 0.5] {
        let a = exact.jvp(t, x.view(), v.view()).unwrap();
        let b = fd.jvp(t, x.view(), v.view()).unwrap();
        let e = (&a - &b).iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(e < 1e-5, "t = {t}: JVP difference {e}");
        let a = exact.divergence(t, x.view()).unwrap();
        let b = fd.divergence(t, x.view()).unwrap();
        let e = (&a - &b).iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(e < 1e-5, "t = {t}: divergence difference {e}");
    }
    let g = GaussianMixture::new(vec![1.0], array![[0.3, -1.0]], array![[0.5, 2.0]]).unwrap();
    let ve = Ve::seed();
    let div = ExactScore::new(&g, &ve).divergence(0.5, x.view()).unwrap();
    let expected = -(1.0 / (0.25 + 0.5) + 1.0 / (4.0 + 0.5));
    assert!(div.iter().all(|d| (d - expected).abs() < 1e-12));
}

/// The Skilling-Hutchinson estimator at one point: the mean of 20 000 probes equals the
/// exact divergence within 4 standard errors (the estimator is unbiased), and the Rademacher
/// probes have a smaller variance than the Gaussian ones (`2 Σ_{i≠j} S_ij^2` vs `2 ||S||_F^2`).
#[test]
fn hutchinson_is_unbiased_at_a_point() {
    let p0 = mixture_2d();
    let ve = Ve::seed();
    let score = ExactScore::new(&p0, &ve);
    let m = 20_000;
    let x = Array2::from_shape_fn((m, 2), |(_, j)| [0.2, 0.4][j]);
    let exact = score.divergence(0.1, x.view()).unwrap()[0];
    let mut vars = vec![];
    for (k, probe) in [Probe::Gaussian, Probe::Rademacher].into_iter().enumerate() {
        let e = probe.draw(m, 2, &mut seeded(30 + k as u64));
        let est = hutchinson_divergence(&score, 0.1, x.view(), e.view()).unwrap();
        let (mean, var) = (est.mean().unwrap(), est.var(1.0));
        let se = (var / m as f64).sqrt();
        assert!(
            (mean - exact).abs() < 4.0 * se,
            "{probe:?}: {mean} vs {exact} (se {se})"
        );
        vars.push(var);
    }
    assert!(vars[1] < vars[0], "variances {vars:?}");
}

fn log_p_exact_prior(
    sde: &dyn LinearSde,
    p0: &GaussianMixture,
    x: ArrayView2<f64>,
    method: &OdeMethod,
    div: DivergenceMethod,
    seed: u64,
) -> Array1<f64> {
    let score = ExactScore::new(p0, sde);
    let r = flow_log_likelihood(sde, &score, x, 0.0, method, div, &mut seeded(seed)).unwrap();
    let prior = p0.diffused(sde, sde.t_max()).unwrap();
    r.log_p(&prior.log_pdf(r.x_end.view()).unwrap()).unwrap()
}

/// With the exact score, the exact divergence and the exact p_T as prior, the ODE's
/// log-likelihood equals the true log p_0 of the 2-D mixture to 1e-5 (Dormand-Prince at
/// rtol = atol = 1e-8; what remains is the solver's error), under VE and VP, and for the 1-D
/// seed mixture. With the SDE's own prior N(0, 1) under VP the error stays below 0.02: p_T's
/// component means are `mu(1) m_i = e^-5.03 m_i` and its variances `1 - O(e^-10)`, so
/// `|log π(x) - log p_T(x)|` is about `|x| |m_i| e^-5` (< 0.02 for |x|, |m_i| < 2).
#[test]
fn ode_likelihood_matches_true_log_density() {
    let method = OdeMethod::Dopri5 {
        rtol: 1e-8,
        atol: 1e-8,
    };
    let ve = Ve::seed();
    let vp = Vp::song();
    let sdes: [&dyn LinearSde; 2] = [&ve, &vp];
    for p0 in [mixture_2d(), GaussianMixture::seed_ve()] {
        let x = p0.sample(40, &mut seeded(3));
        let truth = p0.log_pdf(x.view()).unwrap();
        for sde in sdes {
            let lp = log_p_exact_prior(sde, &p0, x.view(), &method, DivergenceMethod::Exact, 0);
            let e = (&lp - &truth).iter().fold(0.0f64, |m, e| m.max(e.abs()));
            assert!(e < 1e-5, "{} d = {}: max |error| {e}", sde.name(), p0.dim());
        }
        let score = ExactScore::new(&p0, &vp);
        let r = flow_log_likelihood(
            &vp,
            &score,
            x.view(),
            0.0,
            &method,
            DivergenceMethod::Exact,
            &mut seeded(0),
        )
        .unwrap();
        let lp = r.log_p_sde_prior(&vp).unwrap();
        let e = (&lp - &truth).iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(e < 0.02, "VP, N(0, 1) prior: max |error| {e}");
    }
}

/// The Hutchinson log-likelihood (one probe per point, fixed along the path) is unbiased:
/// over 400 probes at each of 3 points of the 2-D mixture its mean equals the exact-divergence
/// value within 4 standard errors, for Gaussian and Rademacher probes; the Rademacher variance
/// is the smaller. (RK4 with 40 steps: both sides see the same solver error, which cancels.)
#[test]
fn hutchinson_likelihood_is_unbiased() {
    let p0 = mixture_2d();
    let vp = Vp::song();
    let method = OdeMethod::Rk4 { n_steps: 40 };
    let pts = p0.sample(3, &mut seeded(4));
    let reps = 400;
    for i in 0..pts.nrows() {
        let x = Array2::from_shape_fn((reps, 2), |(_, j)| pts[[i, j]]);
        let exact = log_p_exact_prior(&vp, &p0, x.view(), &method, DivergenceMethod::Exact, 0)[0];
        let mut vars = vec![];
        for probe in [Probe::Gaussian, Probe::Rademacher] {
            let est = log_p_exact_prior(
                &vp,
                &p0,
                x.view(),
                &method,
                DivergenceMethod::Hutchinson(probe),
                50 + i as u64,
            );
            let (mean, var) = (est.mean().unwrap(), est.var(1.0));
            let se = (var / reps as f64).sqrt();
            assert!(
                (mean - exact).abs() < 4.0 * se,
                "point {i} {probe:?}: {mean} vs {exact} (se {se})"
            );
            vars.push(var);
        }
        assert!(vars[1] < vars[0], "point {i}: variances {vars:?}");
    }
}

/// Bad input is reported.
#[test]
fn likelihood_rejects_bad_input() {
    let p0 = mixture_2d();
    let vp = Vp::song();
    let score = ExactScore::new(&p0, &vp);
    let m = OdeMethod::Rk4 { n_steps: 4 };
    let x = array![[0.0, 0.0]];
    let mut rng = seeded(1);
    let ex = DivergenceMethod::Exact;
    assert!(flow_log_likelihood(&vp, &score, x.view(), 1.0, &m, ex, &mut rng).is_err());
    assert!(flow_log_likelihood(
        &vp,
        &score,
        array![[f64::NAN, 0.0]].view(),
        0.0,
        &m,
        ex,
        &mut rng
    )
    .is_err());
    assert!(flow_log_likelihood(&vp, &score, array![[0.0]].view(), 0.0, &m, ex, &mut rng).is_err());
    let r = flow_log_likelihood(&vp, &score, x.view(), 0.0, &m, ex, &mut rng).unwrap();
    assert!(r.log_p(&array![0.0, 1.0]).is_err());
    assert!(score.jvp(0.5, x.view(), array![[1.0]].view()).is_err());
}
