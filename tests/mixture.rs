//! The mixture oracle: exact score vs forward mode, diffused marginal vs numerical
//! convolution, sampling vs moments, bad input.
use autodiff::F1;
use ndarray::{array, Array2};
use score_sde::mixture::GaussianMixture;
use score_sde::quadrature::integrate;
use score_sde::rng::seeded;
use score_sde::sde::{LinearSde, SubVp, Ve, Vp};
use score_sde::Error;

fn mix2d() -> GaussianMixture {
    GaussianMixture::new(
        vec![0.3, 0.7],
        array![[-1.0, 0.5], [2.0, -0.5]],
        array![[0.5, 1.0], [0.8, 0.3]],
    )
    .unwrap()
}

/// Exact score equals the forward-mode gradient of log p; both are exact up to rounding,
/// so the tolerance is 1e-11 (relative to max(1, |score|)).
#[test]
fn score_matches_forward_mode() {
    let p = GaussianMixture::seed_ve();
    for &x in &[-3.0, -1.0, -0.2, 0.0, 0.7, 2.5] {
        let s = p.score(array![[x]].view()).unwrap()[[0, 0]];
        let d = p.log_pdf_generic(&[F1::var(x)]).deriv();
        assert!((s - d).abs() < 1e-11 * d.abs().max(1.0), "{x}: {s} vs {d}");
    }
    let q = mix2d();
    let pts = array![[0.1, 0.2], [-2.0, 1.0], [3.0, -1.0]];
    let s = q.score(pts.view()).unwrap();
    for (r, row) in pts.rows().into_iter().enumerate() {
        for j in 0..2 {
            let x: Vec<F1> = (0..2)
                .map(|c| {
                    if c == j {
                        F1::var(row[c])
                    } else {
                        F1::cst(row[c])
                    }
                })
                .collect();
            let d = q.log_pdf_generic(&x).deriv();
            assert!((s[[r, j]] - d).abs() < 1e-11 * d.abs().max(1.0));
        }
        let lp = q.log_pdf(pts.row(r).insert_axis(ndarray::Axis(0))).unwrap()[0];
        let lg = q.log_pdf_generic(&[row[0], row[1]]);
        assert!((lp - lg).abs() < 1e-12);
    }
}

/// p_t(x) = ∫ N(x; mu x0, zeta^2) p_0(x0) dx0 by adaptive quadrature (tol 1e-12)
/// equals the closed-form diffused mixture to 1e-9.
#[test]
fn diffused_marginal_matches_numerical_convolution() {
    let p0 = GaussianMixture::seed_ve();
    let sdes: Vec<Box<dyn LinearSde>> = vec![
        Box::new(Ve::seed()),
        Box::new(Vp::song()),
        Box::new(SubVp::song()),
    ];
    for sde in &sdes {
        for &t in &[0.01, 0.2, 0.7, 1.0] {
            let (m, v) = (sde.mean_factor(t), sde.kernel_var(t));
            let pt = p0.diffused(sde.as_ref(), t).unwrap();
            for &x in &[-2.0, -0.6, 0.0, 1.1] {
                // Whichever factor is narrower sets the variable: over x0 when the kernel is wide
                // (zeta/mu > 0.05), else x0 = (x - zeta u)/mu so the kernel becomes phi(u):
                // p_t(x) = ∫ phi(u) p_0((x - zeta u)/mu) / mu du, resolved even for tiny zeta.
                let z = v.sqrt();
                let phi = |u: f64| (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
                let p0x = |x0: f64| p0.pdf(array![[x0]].view()).unwrap()[0];
                let conv = if z / m > 0.05 {
                    integrate(|x0| phi((x - m * x0) / z) / z * p0x(x0), -12.0, 12.0, 1e-12)
                } else {
                    integrate(|u| phi(u) * p0x((x - z * u) / m) / m, -12.0, 12.0, 1e-12)
                }
                .unwrap();
                let exact = pt.pdf(array![[x]].view()).unwrap()[0];
                assert!(
                    (conv - exact).abs() < 1e-9,
                    "{} t={t} x={x}: {conv} vs {exact}",
                    sde.name()
                );
            }
        }
    }
}

/// Densities integrate to 1 (quadrature, 1e-10); the CDF is the integral of the pdf.
#[test]
fn pdf_normalised_and_cdf_consistent() {
    let p = GaussianMixture::seed_ddpm();
    let f = |x: f64| p.pdf(array![[x]].view()).unwrap()[0];
    assert!((integrate(f, -20.0, 20.0, 1e-13).unwrap() - 1.0).abs() < 1e-10);
    let c = integrate(f, -20.0, 0.5, 1e-13).unwrap();
    assert!((c - p.cdf_1d(0.5).unwrap()).abs() < 1e-10);
}

/// Sample mean and variance within 4.5 standard errors of the exact moments.
#[test]
fn sampling_matches_moments() {
    let q = mix2d();
    let n = 50_000;
    let x = q.sample(n, &mut seeded(11));
    let (m, v) = (q.mean(), q.variance());
    for j in 0..2 {
        let col = x.column(j);
        let se = (v[j] / n as f64).sqrt();
        assert!((col.mean().unwrap() - m[j]).abs() < 4.5 * se);
        // variance SE for a non-Gaussian law: sqrt((mu4 - v^2)/n); bound mu4 by 3 v^2 * 3 (mixture kurtosis here < 9)
        let se_v = v[j] * (8.0 / n as f64).sqrt();
        assert!(
            (col.var(1.0) - v[j]).abs() < 4.5 * se_v,
            "{} vs {}",
            col.var(1.0),
            v[j]
        );
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let e = GaussianMixture::new_1d(&[0.5, 0.4], &[0.0, 1.0], &[1.0, 1.0]).unwrap_err();
    assert!(matches!(e, Error::InvalidWeights { .. }), "{e}");
    assert!(e.to_string().contains("sum to 0.9"), "{e}");
    assert!(GaussianMixture::new_1d(&[1.5, -0.5], &[0.0, 1.0], &[1.0, 1.0]).is_err());
    assert!(GaussianMixture::new_1d(&[f64::NAN, 1.0], &[0.0, 1.0], &[1.0, 1.0]).is_err());
    assert!(GaussianMixture::new_1d(&[1.0], &[0.0], &[-1.0]).is_err());
    assert!(GaussianMixture::new_1d(&[1.0], &[f64::NAN], &[1.0]).is_err());
    assert!(GaussianMixture::new_1d(&[0.5, 0.5], &[0.0], &[1.0, 1.0]).is_err());
    let p = GaussianMixture::seed_ve();
    assert!(matches!(
        p.score(Array2::zeros((3, 2)).view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        p.pdf(array![[f64::NAN]].view()),
        Err(Error::NonFinite { .. })
    ));
    assert!(p.affine(1.0, -0.1).is_err());
}
