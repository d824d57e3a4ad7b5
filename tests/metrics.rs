//! Distances and the density recovered from a score, on cases with known answers.
use score_sde::metrics::{density_from_score, ks_distance, wasserstein1, wasserstein1_samples};
use score_sde::mixture::GaussianMixture;
use score_sde::quadrature::linspace;

/// W1 between a point mass at c and N(0, 1) is E|Z - c| = 2 phi(c) + c (2 Phi(c) - 1);
/// with all n sample points at c the empirical law is that point mass. Tolerance 1e-8
/// (quadrature tolerances 1e-10 to 1e-12).
#[test]
fn w1_of_a_point_mass() {
    let g = GaussianMixture::new_1d(&[1.0], &[0.0], &[1.0]).unwrap();
    for &c in &[0.0, 0.7, -1.5] {
        let phi = (-0.5f64 * c * c).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let cdf = g.cdf_1d(c).unwrap();
        let exact = 2.0 * phi + c * (2.0 * cdf - 1.0);
        let w1 = wasserstein1(&[c; 10], &g).unwrap();
        assert!((w1 - exact).abs() < 1e-8, "c={c}: {w1} vs {exact}");
    }
}

/// KS of a single point c against N(0,1) is max(Phi(c), 1 - Phi(c)); W1 between shifted
/// samples is the shift.
#[test]
fn ks_and_sample_w1_known_values() {
    let g = GaussianMixture::new_1d(&[1.0], &[0.0], &[1.0]).unwrap();
    let f = g.cdf_1d(0.3).unwrap();
    assert!((ks_distance(&[0.3], &g).unwrap() - f.max(1.0 - f)).abs() < 1e-15);
    let a: Vec<f64> = (0..50).map(|i| (i as f64).sin()).collect();
    let b: Vec<f64> = a.iter().map(|x| x + 0.25).collect();
    assert!((wasserstein1_samples(&a, &b).unwrap() - 0.25).abs() < 1e-14);
    assert!(wasserstein1_samples(&a, &b[..10]).is_err());
    assert!(wasserstein1(&[f64::NAN], &g).is_err());
    assert!(ks_distance(&[], &g).is_err());
}

/// Integrating the exact score of the seed's mixture on [-6, 6] (2001 points) and
/// normalising recovers its pdf to 1e-5 (trapezoid error O(h^2) with h = 0.006).
#[test]
fn density_from_exact_score() {
    let p = GaussianMixture::seed_ve();
    let xs = linspace(-6.0, 6.0, 2001);
    let col = ndarray::Array2::from_shape_vec((xs.len(), 1), xs.clone()).unwrap();
    let s = p.score(col.view()).unwrap().column(0).to_vec();
    let d = density_from_score(&xs, &s).unwrap();
    let truth = p.pdf(col.view()).unwrap();
    let err = d
        .iter()
        .zip(truth.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-5, "{err}");
    assert!(density_from_score(&xs, &s[..5]).is_err());
}

/// `quantile` is the type-7 (linear) quantile: `[5, 1, 4, 2, 3]` has median 3 and 95% quantile
/// `4 + 0.8 (5 - 4) = 4.8` (`h = 0.95 · 4 = 3.8`); on 101 seeded normals it equals the order
/// statistics interpolated by hand (to 1e-15); `mean` is the arithmetic mean. Empty input, NaN
/// and `q` outside `[0, 1]` are errors.
#[test]
fn quantile_and_mean_known_values() {
    use score_sde::metrics::{mean, quantile};
    let v = [5.0, 1.0, 4.0, 2.0, 3.0];
    assert_eq!(quantile(&v, 0.5).unwrap(), 3.0);
    assert!((quantile(&v, 0.95).unwrap() - 4.8).abs() < 1e-15);
    assert_eq!(quantile(&v, 0.0).unwrap(), 1.0);
    assert_eq!(quantile(&v, 1.0).unwrap(), 5.0);
    assert_eq!(mean(&v).unwrap(), 3.0);
    let mut rng = score_sde::rng::seeded(4);
    let x: Vec<f64> = (0..101)
        .map(|_| rand::RngExt::sample::<f64, _>(&mut rng, rand_distr::StandardNormal))
        .collect();
    let mut s = x.clone();
    s.sort_by(f64::total_cmp);
    for q in [0.05f64, 0.5, 0.9, 0.95, 0.999] {
        let h: f64 = q * 100.0;
        let (lo, frac) = (h.floor() as usize, h - h.floor());
        let want = s[lo] + frac * (s[(lo + 1).min(100)] - s[lo]);
        assert!((quantile(&x, q).unwrap() - want).abs() < 1e-15, "q = {q}");
    }
    assert!(quantile(&[], 0.5).is_err());
    assert!(mean(&[]).is_err());
    assert!(quantile(&[1.0, f64::NAN], 0.5).is_err());
    for q in [-0.1, 1.5, f64::NAN] {
        assert!(quantile(&v, q).is_err(), "q = {q}");
    }
}

/// `mean_se` uses the unbiased variance from two values on: `[1, 3]` has mean 2, variance 2
/// and standard error `sqrt(2 / 2) = 1`; `[1, 2, 6]` has variance 7 and standard error
/// `sqrt(7 / 3)`; one value has no standard error (NaN).
#[test]
fn mean_and_standard_error() {
    use score_sde::metrics::mean_se;
    assert_eq!(mean_se(&[1.0, 3.0]), (2.0, 1.0));
    let (m, se) = mean_se(&[1.0, 2.0, 6.0]);
    assert_eq!(m, 3.0);
    assert!((se - (7.0f64 / 3.0).sqrt()).abs() < 1e-15);
    let (m, se) = mean_se(&[5.0]);
    assert_eq!(m, 5.0);
    assert!(se.is_nan());
}
