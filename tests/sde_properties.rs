//! Property tests (proptest): invariants of the linear SDEs on random parameters, times and
//! points, each checked against an independent computation.
//!
//! - `zeta(t)^2 > 0` for `t > 0` and increasing in `t` (VE, VP and sub-VP all add noise),
//!   strictly until it rounds to its limit 1 (VP, sub-VP);
//! - the kernel moments solve their ODEs `mu' = f mu`, `(zeta^2)' = 2 f zeta^2 + g^2`
//!   (central differences, step `h = 1e-5 t`: truncation ~h² relative, round-off
//!   ~1e-16/h; tolerance 1e-5 relative to the largest term);
//! - the kernel's Stein score is forward-mode autodiff of its log-density, written out here
//!   (1e-10 relative);
//! - the diffused mixture's score is forward-mode autodiff of its log-density (1e-9 relative).
use autodiff::F1;
use ndarray::array;
use proptest::prelude::*;
use score_sde::mixture::GaussianMixture;
use score_sde::sde::{Geometric, LinearBeta, LinearSde, SubVp, Ve, Vp};

/// One of VE (geometric), VP or sub-VP with random parameters (shown on failure).
#[derive(Clone, Debug)]
struct Params {
    kind: usize,
    sigma_min: f64,
    ratio: f64,
    beta_min: f64,
    beta_span: f64,
    t_max: f64,
}

impl Params {
    fn build(&self) -> Box<dyn LinearSde> {
        let beta = LinearBeta::new(self.beta_min, self.beta_min + self.beta_span).unwrap();
        match self.kind {
            0 => Box::new(
                Ve::new(
                    Geometric::new(self.sigma_min, self.sigma_min * self.ratio).unwrap(),
                    self.t_max,
                )
                .unwrap(),
            ),
            1 => Box::new(Vp::new(beta, self.t_max).unwrap()),
            _ => Box::new(SubVp::new(beta, self.t_max).unwrap()),
        }
    }
}

fn any_sde() -> impl Strategy<Value = Params> {
    (
        0usize..3,
        1e-3f64..1.0,
        2.0f64..1e3,
        0.01f64..1.0,
        0.0f64..30.0,
        0.5f64..2.0,
    )
        .prop_map(
            |(kind, sigma_min, ratio, beta_min, beta_span, t_max)| Params {
                kind,
                sigma_min,
                ratio,
                beta_min,
                beta_span,
                t_max,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn kernel_variance_is_positive_and_increasing(p in any_sde(), u in 0.01f64..0.99, du in 0.001f64..0.5) {
        let sde = p.build();
        let t1 = u * sde.t_max();
        let t2 = (u + du).min(1.0) * sde.t_max();
        let (v1, v2) = (sde.kernel_var(t1), sde.kernel_var(t2));
        prop_assert!(v1 > 0.0, "zeta^2({t1}) = {v1}");
        prop_assert!(v2 >= v1, "zeta^2({t2}) = {v2} < zeta^2({t1}) = {v1}");
        // Strictly, unless zeta^2 has reached its limit in f64 (VP and sub-VP tend to 1:
        // `1 - e^{-B}` rounds to 1 once `e^{-B} < 1e-16`).
        let saturated = (1.0 - v1).abs() <= 1e-12;
        if t2 > t1 * (1.0 + 1e-6) && !saturated {
            prop_assert!(v2 > v1, "zeta^2 not increasing: {v1} at {t1}, {v2} at {t2}");
        }
    }

    #[test]
    fn kernel_moments_solve_their_odes(p in any_sde(), u in 0.05f64..0.95) {
        let sde = p.build();
        let t = u * sde.t_max();
        let h = 1e-5 * t;
        let (f, g2) = (sde.drift_coef(t), sde.diffusion(t).powi(2));
        let (mu, v) = (sde.mean_factor(t), sde.kernel_var(t));
        let dmu = (sde.mean_factor(t + h) - sde.mean_factor(t - h)) / (2.0 * h);
        let dv = (sde.kernel_var(t + h) - sde.kernel_var(t - h)) / (2.0 * h);
        let scale_mu = (f * mu).abs().max(mu.abs());
        prop_assert!((dmu - f * mu).abs() <= 1e-5 * scale_mu, "mu' {dmu} vs f mu {}", f * mu);
        let rhs = 2.0 * f * v + g2;
        let scale_v = (2.0 * f * v).abs().max(g2).max(dv.abs());
        prop_assert!((dv - rhs).abs() <= 1e-5 * scale_v, "(zeta^2)' {dv} vs {rhs}");
    }

    #[test]
    fn stein_score_is_the_gradient_of_the_kernel_log_density(
        p in any_sde(), u in 0.01f64..1.0, x in -5.0f64..5.0, x0 in -5.0f64..5.0
    ) {
        let sde = p.build();
        let t = u * sde.t_max();
        let (mu, v) = (sde.mean_factor(t), sde.kernel_var(t));
        let log_k = |y: F1| -> F1 {
            let d = y - F1::cst(mu * x0);
            -(d * d) / F1::cst(2.0 * v) - F1::cst(0.5 * (2.0 * std::f64::consts::PI * v).ln())
        };
        let want = log_k(F1::var(x)).deriv();
        let got = sde.conditional_score(t, array![[x]].view(), array![[x0]].view()).unwrap()[[0, 0]];
        prop_assert!((got - want).abs() <= 1e-10 * want.abs().max(1.0), "{got} vs {want}");
    }

    #[test]
    fn diffused_mixture_score_is_the_gradient_of_its_log_density(
        p in any_sde(), u in 0.0f64..1.0, x in -4.0f64..4.0, y in -4.0f64..4.0,
        w in 0.1f64..0.9, m in -2.0f64..2.0
    ) {
        let sde = p.build();
        let p0 = GaussianMixture::new(
            vec![w, 1.0 - w],
            array![[m, -1.0], [1.0, m * 0.5]],
            array![[0.3, 0.5], [0.8, 0.2]],
        ).unwrap();
        let pt = p0.diffused(sde.as_ref(), u * sde.t_max()).unwrap();
        let got = pt.score(array![[x, y]].view()).unwrap();
        for j in 0..2 {
            let point = [F1::new(x, if j == 0 { 1.0 } else { 0.0 }), F1::new(y, if j == 1 { 1.0 } else { 0.0 })];
            let want = pt.log_pdf_generic(&point).deriv();
            prop_assert!((got[[0, j]] - want).abs() <= 1e-9 * want.abs().max(1.0),
                "coordinate {j}: {} vs {want}", got[[0, j]]);
        }
    }
}
