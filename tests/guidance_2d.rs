//! The 2-D half of the guided-vs-tilted comparison: the tilted law's quadrature against
//! independent routes, the sliced W1 on cases with a known answer, and the experiment's two
//! claims (unguided sampling reaches the noise floor; guided sampling at `w = 2` does not
//! sample `q_2`).
use ndarray::{arr2, Array2};
use score_sde::book::experiment::guidance_2d::{example, run, Guidance2dConfig};
use score_sde::metrics::{
    half_circle_angles, sliced_wasserstein1, wasserstein1, wasserstein1_to_cdf,
};
use score_sde::mixture::{GaussianMixture, LabelledMixture};
use score_sde::sampling::TiltedLaw2d;

/// `Z = ∫ p_0(x | y) p_0(y | x)^w dx` by tensor Gauss-Legendre equals the Monte Carlo mean of
/// `p_0(y | x)^w` over 200,000 draws of `p_0(x | y)` within 4 standard errors (the MC route
/// uses `LabelledMixture::class_posterior`, not the quadrature's scalar code). Doubling the
/// panels changes `Z` by under 1e-10 (observed ~1e-12: the rule has converged), and at `w = 0`, `Z = 1`,
/// the mean is the conditional's and the minor share its weight (to 1e-12).
#[test]
fn tilted_2d_normaliser_is_the_expected_tilt() {
    let p0 = example().unwrap();
    let cond = p0.conditional(0).unwrap();
    let mut rng = score_sde::rng::seeded(3);
    let x = cond.sample(200_000, &mut rng);
    let post = p0.class_posterior(x.view()).unwrap();
    for w in [0.0, 1.0, 2.0, 4.0] {
        let law = TiltedLaw2d::new(&p0, 0, w, -8.0, 8.0, 32).unwrap();
        let fine = TiltedLaw2d::new(&p0, 0, w, -8.0, 8.0, 64).unwrap();
        assert!(
            (law.normaliser() - fine.normaliser()).abs() < 1e-10,
            "w={w}: {} vs {}",
            law.normaliser(),
            fine.normaliser()
        );
        let v: Vec<f64> = post.column(0).iter().map(|p| p.powf(w)).collect();
        let (m, se) = score_sde::metrics::mean_se(&v);
        let z = law.normaliser();
        assert!(
            (z - m).abs() < 4.0 * se.max(1e-15),
            "w={w}: {z} vs {m} ± {se}"
        );
        if w == 0.0 {
            assert!((z - 1.0).abs() < 1e-12);
            let mean = law.mean();
            let want = cond.mean();
            assert!((mean[0] - want[0]).abs() < 1e-12 && (mean[1] - want[1]).abs() < 1e-12);
            let share = law
                .expectation(|x| Ok(cond.responsibilities(x)?.column(1).to_owned()))
                .unwrap();
            assert!((share - 0.4).abs() < 1e-12, "{share}");
        }
    }
}

/// A closed form: class 0 a single component N(0, I), class 1 a component N(m, I) of the same
/// weight. Then `p(y = 0 | x) = σ(-(m·x - |m|²/2))` is logistic, and at `w = 1`
/// `q ∝ N(x; 0, I) σ(...)`, whose normaliser is `E[σ(-(m·X - |m|²/2))]`, `m·X ~ N(0, |m|²)`:
/// a 1-D integral, done here by adaptive quadrature (tolerance 1e-12). The 2-D rule must
/// agree to 1e-10.
#[test]
fn tilted_2d_normaliser_of_a_logistic_classifier() {
    let m = [1.2, -0.7];
    let mix = GaussianMixture::new(
        vec![0.5, 0.5],
        arr2(&[[0.0, 0.0], m]),
        Array2::from_elem((2, 2), 1.0),
    )
    .unwrap();
    let p0 = LabelledMixture::new(mix, vec![0, 1]).unwrap();
    let law = TiltedLaw2d::new(&p0, 0, 1.0, -10.0, 10.0, 40).unwrap();
    let r2 = m[0] * m[0] + m[1] * m[1];
    let r = r2.sqrt();
    let phi = |u: f64| (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let sigmoid = |a: f64| 1.0 / (1.0 + a.exp());
    let z = score_sde::quadrature::integrate(
        |u| phi(u) * sigmoid(r * u - 0.5 * r2),
        -12.0,
        12.0,
        1e-12,
    )
    .unwrap();
    assert!(
        (law.normaliser() - z).abs() < 1e-10,
        "{} vs {z}",
        law.normaliser()
    );
    // Its projection on m's direction: F(R) = 1 (trapezoid of a smooth, decaying density).
    let (u, f) = law.projected_cdf(m[1].atan2(m[0]), 0.01).unwrap();
    assert!((f[f.len() - 1] - 1.0).abs() < 1e-9);
    // The projected law's CDF at u: P(m̂·X <= u) = ∫_{-∞}^{u} φ(s) σ(r s - r²/2) ds / Z.
    for k in (0..u.len()).step_by(97) {
        let want = if u[k] <= -12.0 {
            0.0
        } else {
            score_sde::quadrature::integrate(
                |s| phi(s) * sigmoid(r * s - 0.5 * r2),
                -12.0,
                u[k],
                1e-12,
            )
            .unwrap()
                / z
        };
        // Trapezoid error h²/12 · sup|f'| · range ≈ 1e-5 · 0.3 · 1: tolerance 2e-5.
        assert!((f[k] - want).abs() < 2e-5, "u={}: {} vs {want}", u[k], f[k]);
    }
}

/// Known answers of the W1 to a grid CDF: `n` midpoints of `[0, 1]` against U(0, 1) give
/// `1/(4n)` exactly; a sample against a Gaussian mixture's CDF tabulated on a fine grid agrees
/// with the adaptive-quadrature `wasserstein1` to the grid's linear-interpolation error
/// (`h²/8 · sup|F''| · range ≈ 1e-6`; tolerance 1e-5).
#[test]
fn w1_to_a_grid_cdf_has_known_answers() {
    for n in [1, 7, 100] {
        let s: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let w = wasserstein1_to_cdf(&s, &[0.0, 1.0], &[0.0, 1.0]).unwrap();
        assert!((w - 0.25 / n as f64).abs() < 1e-15, "{n}: {w}");
    }
    let mix = GaussianMixture::new_1d(&[0.4, 0.6], &[-1.0, 1.5], &[0.5, 0.8]).unwrap();
    let s = mix
        .sample(500, &mut score_sde::rng::seeded(5))
        .column(0)
        .to_vec();
    let xs = score_sde::quadrature::linspace(-8.0, 8.0, 8001);
    let cdf: Vec<f64> = xs.iter().map(|&x| mix.cdf_1d(x).unwrap()).collect();
    let got = wasserstein1_to_cdf(&s, &xs, &cdf).unwrap();
    let want = wasserstein1(&s, &mix).unwrap();
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    assert!(wasserstein1_to_cdf(&s, &[1.0, 0.0], &[0.0, 1.0]).is_err());
    assert!(wasserstein1_to_cdf(&s, &[0.0, 1.0], &[0.6, 0.5]).is_err());
}

/// All points at `m` against a point mass at the origin (each projection's CDF a symmetric
/// ramp of half-width 1e-3, inside which `|θ·m|` never falls): each slice's W1 is `|θ·m|`,
/// and over K equally spaced angles the mean of `|cos|` is `2/π` up to `O(1/K²)` (the kinks);
/// for K = 64 the difference is below 1e-3 relative.
#[test]
fn sliced_w1_of_a_point_mass_is_two_over_pi_times_the_shift() {
    let m = [0.8_f64, 0.6];
    let x = Array2::from_shape_fn((10, 2), |(_, j)| m[j]);
    let angles: Vec<f64> = half_circle_angles(64).iter().map(|a| a + 0.013).collect();
    let ramp = (vec![-1e-3, 1e-3], vec![0.0, 1.0]);
    let cdfs = vec![ramp; angles.len()];
    let sw = sliced_wasserstein1(x.view(), &angles, &cdfs).unwrap();
    let want = 2.0 / std::f64::consts::PI * (m[0] * m[0] + m[1] * m[1]).sqrt();
    assert!((sw - want).abs() < 1e-3 * want, "{sw} vs {want}");
    assert!(sliced_wasserstein1(x.view(), &angles[..3], &cdfs).is_err());
}

/// The experiment at 20,000 paths (its book settings): at `w = 0` both samplers' sliced W1 to
/// `q_0 = p_0(x | y)` is below the 95% quantile of the exact-draw floor; at `w = 2` both are
/// more than ten times the floor and change by under 10% between the two step counts, so
/// the gap is not discretisation error.
#[test]
fn guided_sampling_in_2d_reaches_the_floor_at_w0_and_misses_q_at_w2() {
    let mut c = Guidance2dConfig::book();
    c.strengths = vec![0.0, 2.0];
    c.floor_reps = 5;
    let r = run(&c).unwrap();
    let (w0, w2) = (&r.rows[0], &r.rows[1]);
    for run in &w0.runs {
        assert!(
            run.summary.sliced_w1 < w0.floor_q95,
            "{} {}: {} vs floor {}",
            run.sampler,
            run.steps,
            run.summary.sliced_w1,
            w0.floor_q95
        );
    }
    for pair in w2.runs.chunks(2) {
        let (coarse, fine) = (pair[0].summary.sliced_w1, pair[1].summary.sliced_w1);
        assert!(fine > 10.0 * w2.floor_mean, "{}: {fine}", pair[1].sampler);
        assert!(
            (fine - coarse).abs() < 0.1 * fine,
            "{}: {coarse} -> {fine}",
            pair[1].sampler
        );
    }
}
