//! The forward SDE three ways: closed forms, quadrature of the general formulas, and Monte
//! Carlo of forward Euler-Maruyama paths; plus forward-mode checks of `g` and of the score.
mod common;
use common::em_moments;

use autodiff::{Float, F1};
use ndarray::{array, Array1, Array2};
use rand::RngExt;
use rand_distr::StandardNormal;
use score_sde::mixture::GaussianMixture;
use score_sde::rng::seeded;
use score_sde::sde::{
    GenericSde, Geometric, LinearBeta, LinearSde, NoiseScale, SqrtT, SubVp, Ve, Vp,
};

fn sdes() -> Vec<(Box<dyn LinearSde>, GenericSde)> {
    let lb = LinearBeta::song();
    let geo = Geometric::new(0.01, 1.0).unwrap();
    let r = (geo.sigma_max() / geo.sigma_min()).ln();
    vec![
        (
            Box::new(Ve::seed()) as Box<dyn LinearSde>,
            GenericSde::new(|_| 0.0, |_| 1.0, 1.0).unwrap(),
        ),
        (
            Box::new(Ve::new(geo, 1.0).unwrap()),
            GenericSde::new(
                |_| 0.0,
                move |t| 0.01 * (1.0f64 / 0.01).powf(t) * (2.0 * r).sqrt(),
                1.0,
            )
            .unwrap(),
        ),
        (
            Box::new(Vp::song()),
            GenericSde::new(move |t| -0.5 * lb.beta(t), move |t| lb.beta(t).sqrt(), 1.0).unwrap(),
        ),
        (
            Box::new(SubVp::song()),
            GenericSde::new(
                move |t| -0.5 * lb.beta(t),
                move |t| (lb.beta(t) * (1.0 - (-2.0 * lb.integral(t)).exp())).sqrt(),
                1.0,
            )
            .unwrap(),
        ),
    ]
}

/// Closed forms of mu and zeta^2 equal the quadrature of mu = exp(∫f) and
/// zeta^2 = ∫ exp(2∫_s^t f) g^2 ds. Tolerance 1e-8 relative: the quadratures run to an
/// absolute tolerance of 1e-11, and the closed forms are exact up to rounding.
#[test]
fn closed_forms_match_quadrature() {
    for (sde, generic) in sdes() {
        for &t in &[0.05, 0.3, 0.5, 0.8, 1.0] {
            let (m, mq) = (sde.mean_factor(t), generic.mean_factor(t));
            let (v, vq) = (sde.kernel_var(t), generic.kernel_var(t));
            assert!(
                (m - mq).abs() <= 1e-8 * mq.abs().max(1e-3),
                "{} mu({t}): {m} vs {mq}",
                sde.name()
            );
            assert!(
                (v - vq).abs() <= 1e-8 * vq.abs().max(1e-3),
                "{} zeta2({t}): {v} vs {vq}",
                sde.name()
            );
            assert!(
                (sde.diffusion(t) - generic.diffusion(t)).abs() < 1e-10,
                "{} g({t})",
                sde.name()
            );
        }
    }
}

/// Monte Carlo of forward EM paths agrees with the EM recursion's exact moments within
/// 4.5 standard errors (SE of the mean zeta/sqrt(n), of the variance zeta^2 sqrt(2/n));
/// the EM moments converge to the closed forms at first order in dt (error halves when dt
/// halves, checked to within a factor [1.6, 2.4]).
#[test]
fn closed_forms_match_monte_carlo_of_forward_paths() {
    let (x0, n, steps, t_end) = (1.5, 20_000usize, 400usize, 0.7);
    let mut rng = seeded(7);
    for (sde, _) in sdes() {
        let sde = sde.as_ref();
        let dt = t_end / steps as f64;
        let mut x = Array1::from_elem(n, x0);
        for k in 0..steps {
            let s = k as f64 * dt;
            let (f, g) = (sde.drift_coef(s), sde.diffusion(s));
            x.mapv_inplace(|xi| {
                let z: f64 = rng.sample(StandardNormal);
                xi + f * xi * dt + g * dt.sqrt() * z
            });
        }
        let mean = x.mean().unwrap();
        let var = x.var(1.0);
        let (m_em, v_em) = em_moments(sde, x0, t_end, steps);
        let se_m = (v_em / n as f64).sqrt();
        let se_v = v_em * (2.0 / n as f64).sqrt();
        assert!(
            (mean - m_em).abs() < 4.5 * se_m,
            "{}: mean {mean} vs {m_em}",
            sde.name()
        );
        assert!(
            (var - v_em).abs() < 4.5 * se_v,
            "{}: var {var} vs {v_em}",
            sde.name()
        );

        let (m, v) = (sde.mean_factor(t_end) * x0, sde.kernel_var(t_end));
        let (m1, v1) = em_moments(sde, x0, t_end, 2000);
        let (m2, v2) = em_moments(sde, x0, t_end, 4000);
        let (em1, em2) = (
            (m1 - m).abs() + (v1 - v).abs(),
            (m2 - m).abs() + (v2 - v).abs(),
        );
        if em1 > 1e-12 {
            let ratio = em1 / em2;
            assert!(
                (1.6..2.4).contains(&ratio),
                "{}: EM order ratio {ratio}",
                sde.name()
            );
        }
    }
}

/// g(t) = sqrt(d sigma^2/dt) by forward mode equals the closed form
/// sigma(t) sqrt(2 ln(sigma_max/sigma_min)) for the geometric scale, and 1 for sqrt(t).
#[test]
fn ve_diffusion_from_forward_mode() {
    let geo = Geometric::new(0.01, 50.0).unwrap();
    let sde = Ve::new(geo, 1.0).unwrap();
    for &t in &[0.0, 0.25, 0.9] {
        let exact = sde.sigma(t) * (2.0 * (50.0f64 / 0.01).ln()).sqrt();
        assert!((sde.diffusion(t) - exact).abs() < 1e-12 * exact);
        // Including t = 0, where sqrt(t) is not differentiable but sigma^2 = t is.
        assert!((Ve::seed().diffusion(t) - 1.0).abs() < 1e-14);
    }
    // The seed's kernel variance is t (not t^2 as the seed's "Preparation" says).
    assert!((Ve::seed().kernel_var(0.5) - 0.5).abs() < 1e-15);
}

/// The Stein score of the kernel equals the forward-mode derivative of its log-density.
#[test]
fn conditional_score_matches_forward_mode() {
    for (sde, _) in sdes() {
        let t = 0.4;
        let (m, v) = (sde.mean_factor(t), sde.kernel_var(t));
        let x = array![[0.3], [-1.2]];
        let x0 = array![[1.0], [0.5]];
        let s = sde.conditional_score(t, x.view(), x0.view()).unwrap();
        for i in 0..2 {
            let logk = |y: F1| -(y - F1::cst(m * x0[[i, 0]])).powi(2) / F1::cst(2.0 * v);
            let d = logk(F1::var(x[[i, 0]])).deriv();
            assert!((s[[i, 0]] - d).abs() < 1e-12 * d.abs().max(1.0));
        }
    }
}

/// The diffused mixture solves the Fokker-Planck equation
/// ∂p/∂t = -f ∂(x p)/∂x + (g^2/2) ∂²p/∂x², by central differences (h = 1e-3 in x, 1e-4 in t).
/// Tolerance 1e-5 absolute: truncation O(h^2) with third derivatives of p of order 10.
#[test]
fn diffused_mixture_solves_fokker_planck() {
    let p0 = GaussianMixture::seed_ve();
    for (sde, _) in sdes() {
        let sde = sde.as_ref();
        for &(t, x) in &[(0.3, -0.8), (0.6, 0.4), (0.9, 1.3)] {
            let p = |t: f64, x: f64| {
                p0.diffused(sde, t)
                    .unwrap()
                    .pdf(array![[x]].view())
                    .unwrap()[0]
            };
            let (h, k) = (1e-3, 1e-4);
            let dp_dt = (p(t + k, x) - p(t - k, x)) / (2.0 * k);
            let dxp = ((x + h) * p(t, x + h) - (x - h) * p(t, x - h)) / (2.0 * h);
            let d2p = (p(t, x + h) - 2.0 * p(t, x) + p(t, x - h)) / (h * h);
            let rhs = -sde.drift_coef(t) * dxp + 0.5 * sde.diffusion(t).powi(2) * d2p;
            assert!(
                (dp_dt - rhs).abs() < 1e-5,
                "{} at ({t}, {x}): {dp_dt} vs {rhs}",
                sde.name()
            );
        }
    }
}

/// `GenericSde` reports the horizon and the coefficients it was given (`T = 2.5`,
/// `f(t) = -t`, `g(t) = 1 + t`), and its marginal moments by quadrature match the closed
/// forms `mu(t) = exp(-t^2 / 2)`, `zeta^2(t) = ∫_0^t mu(t)^2 / mu(s)^2 g(s)^2 ds` (here by
/// an independent 2000-panel Simpson rule, relative 1e-9).
#[test]
fn generic_sde_keeps_its_coefficients() {
    let sde = GenericSde::new(|t| -t, |t| 1.0 + t, 2.5).unwrap();
    assert_eq!(sde.t_max(), 2.5);
    for t in [0.0, 0.7, 2.5] {
        assert_eq!(sde.drift_coef(t), -t);
        assert_eq!(sde.diffusion(t), 1.0 + t);
    }
    let t = 1.9f64;
    let mu = |t: f64| (-0.5 * t * t).exp();
    assert!((sde.mean_factor(t) - mu(t)).abs() < 1e-12);
    let n = 2000;
    let h = t / n as f64;
    let f = |s: f64| (mu(t) / mu(s)).powi(2) * (1.0 + s).powi(2);
    let simpson = (0..=n)
        .map(|i| {
            let w = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * f(i as f64 * h)
        })
        .sum::<f64>()
        * h
        / 3.0;
    assert!((sde.kernel_var(t) - simpson).abs() < 1e-9 * simpson);
}

#[test]
fn bad_input_is_a_typed_error() {
    assert!(Geometric::new(-0.1, 1.0).is_err());
    assert!(Geometric::new(1.0, 0.5).is_err());
    assert!(Geometric::new(f64::NAN, 1.0).is_err());
    assert!(LinearBeta::new(0.0, 20.0).is_err());
    assert!(LinearBeta::new(-1.0, 20.0).is_err());
    assert!(LinearBeta::new(0.1, f64::INFINITY).is_err());
    assert!(Vp::new(LinearBeta::song(), -1.0).is_err());
    assert!(Ve::new(SqrtT, f64::NAN).is_err());
    let sde = Vp::song();
    let e = sde
        .conditional_score(
            0.5,
            Array2::zeros((3, 2)).view(),
            Array2::zeros((2, 2)).view(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("shape mismatch"), "{e}");
    assert!(Ve::seed()
        .conditional_score(
            0.0,
            Array2::zeros((1, 1)).view(),
            Array2::zeros((1, 1)).view()
        )
        .is_err());
    let msg = Geometric::new(-0.1, 1.0).unwrap_err().to_string();
    assert!(msg.contains("sigma_min"), "{msg}");
    // A NaN or infinite time is an error, not a NaN score.
    for t in [f64::NAN, f64::INFINITY] {
        let e = Vp::song()
            .conditional_score(
                t,
                Array2::zeros((1, 1)).view(),
                Array2::zeros((1, 1)).view(),
            )
            .unwrap_err();
        assert!(e.to_string().contains('t'), "{e}");
    }
    // GenericSde: a bad tolerance, a non-finite coefficient, and a variance integral that
    // diverges (g^2 = 1/t near 0) are construction errors, not NaN later.
    assert!(GenericSde::with_tol(|_| 0.0, |_| 1.0, 1.0, -1e-9).is_err());
    assert!(GenericSde::with_tol(|_| 0.0, |_| 1.0, 1.0, f64::NAN).is_err());
    assert!(GenericSde::new(|_| f64::NAN, |_| 1.0, 1.0).is_err());
    assert!(GenericSde::new(|_| 0.0, |t: f64| 1.0 / t.sqrt(), 1.0).is_err());
    let ok = GenericSde::with_tol(|_| -0.5, |_| 1.0, 1.0, 1e-9).unwrap();
    assert_eq!(ok.tol(), 1e-9);
    // perturb: one time per row, and noise of the data's shape.
    let x0 = Array2::zeros((3, 2));
    let t3 = ndarray::Array1::from(vec![0.5; 3]);
    let t2 = ndarray::Array1::from(vec![0.5; 2]);
    assert!(sde
        .perturb(x0.view(), t3.view(), Array2::zeros((3, 2)).view())
        .is_ok());
    for (t, z) in [(&t2, (3, 2)), (&t3, (3, 1))] {
        let e = sde.perturb(x0.view(), t.view(), Array2::zeros(z).view());
        assert!(e.unwrap_err().to_string().contains("shape mismatch"));
    }
    // A VE noise scale whose square dips between the old 65-point grid (a bump of width
    // 1e-3 around t = 0.3) is rejected by the finer check.
    struct Dip;
    impl NoiseScale for Dip {
        fn sigma<T: Float>(&self, t: T) -> T {
            let c = T::from(0.3).unwrap();
            let w = T::from(1e-3).unwrap();
            let bump = (-((t - c) / w) * ((t - c) / w)).exp() * T::from(0.5).unwrap();
            t + T::from(0.1).unwrap() + bump
        }
        fn label(&self) -> String {
            "dip".into()
        }
    }
    assert!(Ve::new(Dip, 1.0).is_err());
}

/// Prior sampling has the prior's variance (4.5 SE) and its log-density is the Gaussian's.
#[test]
fn prior_sampling_and_density() {
    let sde = Ve::new(Geometric::new(0.01, 5.0).unwrap(), 1.0).unwrap();
    let mut rng = seeded(3);
    let n = 40_000;
    let x = sde.sample_prior(n, 2, &mut rng);
    let v = sde.prior_var();
    let emp = x.iter().map(|a| a * a).sum::<f64>() / (2 * n) as f64;
    assert!(
        (emp - v).abs() < 4.5 * v * (2.0 / (2 * n) as f64).sqrt(),
        "{emp} vs {v}"
    );
    let lp = sde.prior_log_density(array![[0.0, 0.0]].view());
    let expect = -(2.0 * std::f64::consts::PI * v).ln();
    assert!((lp[0] - expect).abs() < 1e-12);
}

/// Every member of the reverse family `v_λ = f x - (1 + λ²)/2 g² ∇log p_t` with diffusion
/// `λ g` has the marginals `p_t`: in forward time `∂_t p = -∂_x(v_λ p) - λ²/2 g² ∂_x² p`.
/// Checked for a two-component 1-D mixture under VP and VE at `λ ∈ {0, 1/2, 1, 2}`, with
/// `∂_t p` and the `x` derivatives by central differences of the exact `p_t` (step `h = 1e-4`,
/// truncation ~h² |p'''| ≈ 1e-8, round-off ~1e-16/h² ≈ 1e-8); tolerance 1e-5 relative to the
/// size of the terms. A coefficient `(1 + λ)/2` in place of `(1 + λ²)/2` is off by
/// `|λ - λ²|/2 g² ∂_x² p`, thousands of times the tolerance at `λ = 2`.
#[test]
fn reverse_family_has_the_forward_marginals() {
    let p0 = GaussianMixture::new_1d(&[0.3, 0.7], &[-1.0, 1.5], &[0.4, 0.6]).unwrap();
    let sdes: Vec<Box<dyn LinearSde>> = vec![
        Box::new(Vp::song()),
        Box::new(Ve::new(Geometric::new(0.01, 5.0).unwrap(), 1.0).unwrap()),
        Box::new(SubVp::song()),
    ];
    let h = 1e-4;
    for sde in &sdes {
        for &t in &[0.2, 0.6] {
            let pdf = |t: f64, x: f64| {
                p0.diffused(sde.as_ref(), t)
                    .unwrap()
                    .pdf(array![[x]].view())
                    .unwrap()[0]
            };
            let flux = |lambda: f64, x: f64| {
                let xs = array![[x]];
                let s = p0
                    .diffused(sde.as_ref(), t)
                    .unwrap()
                    .score(xs.view())
                    .unwrap();
                let v = sde
                    .reverse_family_drift(t, xs.view(), s.view(), lambda)
                    .unwrap()[[0, 0]];
                v * pdf(t, x)
            };
            let g2 = sde.diffusion(t).powi(2);
            for &x in &[-1.3, 0.2, 1.1, 2.4] {
                let dp_dt = (pdf(t + h, x) - pdf(t - h, x)) / (2.0 * h);
                let d2p = (pdf(t, x + h) - 2.0 * pdf(t, x) + pdf(t, x - h)) / (h * h);
                let scale = dp_dt.abs() + g2 * d2p.abs() + 1e-3;
                for &lambda in &[0.0, 0.5, 1.0, 2.0] {
                    let dflux = (flux(lambda, x + h) - flux(lambda, x - h)) / (2.0 * h);
                    let rhs = -dflux - 0.5 * lambda * lambda * g2 * d2p;
                    assert!(
                        (dp_dt - rhs).abs() <= 1e-5 * scale,
                        "lambda {lambda}, t {t}, x {x}: dp/dt {dp_dt} vs {rhs}"
                    );
                }
            }
            let xs = array![[0.5]];
            let s = array![[0.1]];
            assert_eq!(
                sde.reverse_drift(t, xs.view(), s.view()).unwrap(),
                sde.reverse_family_drift(t, xs.view(), s.view(), 1.0)
                    .unwrap()
            );
            assert_eq!(
                sde.probability_flow_drift(t, xs.view(), s.view()).unwrap(),
                sde.reverse_family_drift(t, xs.view(), s.view(), 0.0)
                    .unwrap()
            );
            for bad in [-0.5, f64::NAN, f64::INFINITY] {
                assert!(sde
                    .reverse_family_drift(t, xs.view(), s.view(), bad)
                    .is_err());
            }
        }
    }
}
