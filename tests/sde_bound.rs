//! The SDE model's likelihood bound (Song, Durkan, Murray and Ermon 2021, Theorem 3) by
//! quadrature, against its closed form for the exact score; the exact likelihood of the SDE
//! model against its sampler's exact law; the ODE model, the SDE model and the bound compared.
use ndarray::{array, Array1, Array2};
use score_sde::likelihood::{
    exact_score_sde_log_likelihood, kernel_expectation, sde_likelihood_bound, BoundQuadrature,
};
use score_sde::mixture::GaussianMixture;
use score_sde::quadrature::{gauss_hermite, trapezoid};
use score_sde::rng::seeded;
use score_sde::sampling::{pc_law_1d, GridLaw, PcConfig, Predictor};
use score_sde::score::ExactScore;
use score_sde::sde::{Geometric, LinearBeta, LinearSde, SubVp, Ve, Vp};

/// The probability-flow chapter's 2-D mixture of three Gaussians.
fn mixture_2d() -> GaussianMixture {
    score_sde::book::experiment::likelihood_models::mixture().unwrap()
}

/// VP stopped at T = 0.5, where `p_T` is far from the prior `N(0, zeta(T)^2 I)`.
fn vp_short() -> Vp {
    Vp::new(LinearBeta::song(), 0.5).unwrap()
}

/// The m-point rule integrates `Z^k` exactly for `k < 2m` (`E Z^{2j} = (2j - 1)!!`), to
/// rounding (relative 1e-12: the moments are sums of positive terms, except the odd ones,
/// which cancel by symmetry to 1e-12 of the even moment beside them); degree `2m` is not
/// exact. Sizes outside 1..=200 are errors.
#[test]
fn gauss_hermite_is_exact_below_degree_2m() {
    for m in [1usize, 2, 3, 4, 7, 12, 20, 33] {
        let rule = gauss_hermite(m).unwrap();
        assert_eq!(rule.len(), m);
        assert!(rule.windows(2).all(|w| w[0].0 < w[1].0), "nodes ascending");
        let moment = |k: i32| rule.iter().map(|(z, w)| w * z.powi(k)).sum::<f64>();
        let exact = |k: i32| {
            if k % 2 == 1 {
                0.0
            } else {
                (1..k).step_by(2).map(f64::from).product::<f64>()
            }
        };
        for k in 0..(2 * m as i32).min(40) {
            let scale = exact(k + (k % 2)).max(1.0);
            assert!(
                (moment(k) - exact(k)).abs() <= 1e-12 * scale,
                "m = {m}, k = {k}: {} vs {}",
                moment(k),
                exact(k)
            );
        }
        // Degree 2m: the rule misses exactly E[He_m(Z)^2] = m! (He_m the monic Hermite
        // polynomial whose roots are the nodes).
        let k = 2 * m as i32;
        let m_fact = (1..=m).map(|j| j as f64).product::<f64>();
        let miss = (exact(k) - moment(k)) / m_fact;
        assert!(
            (miss - 1.0).abs() < 1e-6,
            "m = {m}: degree 2m misses {miss} m!"
        );
    }
    assert!(gauss_hermite(0).is_err());
    assert!(gauss_hermite(201).is_err());
}

/// The bound by quadrature (time integral of score terms) equals its closed form for the
/// exact score, `-log p_{t_min}(x) + E[log p_T(x_T) - log π(x_T) | x]` (module docs of
/// `likelihood::sde_bound`), for VP, a VP stopped early, sub-VP and VE, from `t_min = 0` and
/// `1e-3`, at points of a 2-D mixture: to 1e-6 (the default rule's error is about 1e-8; with
/// 20 Hermite nodes instead of 40 it reaches 1e-6 and this test fails).
/// A wrong factor in any term (the 2 before the divergence, the drift's `d f`, the ½) moves the
/// bound by O(1): the divergence alone integrates to about -2 per coordinate.
#[test]
fn bound_by_quadrature_equals_its_closed_form_for_the_exact_score() {
    let p0 = mixture_2d();
    let x = p0.sample(5, &mut seeded(3));
    let ve = Ve::new(Geometric::new(0.01, 3.0).unwrap(), 1.0).unwrap();
    let sdes: Vec<Box<dyn LinearSde>> = vec![
        Box::new(Vp::song()),
        Box::new(vp_short()),
        Box::new(SubVp::song()),
        Box::new(ve),
    ];
    for sde in &sdes {
        let score = ExactScore::new(&p0, sde.as_ref());
        let p_t = p0.diffused(sde.as_ref(), sde.t_max()).unwrap();
        for t_min in [0.0, 1e-3] {
            let b = sde_likelihood_bound(
                sde.as_ref(),
                &score,
                x.view(),
                t_min,
                BoundQuadrature::default(),
            )
            .unwrap();
            let gap =
                kernel_expectation(sde.as_ref(), x.view(), t_min, sde.t_max(), 40, &mut |xs| {
                    Ok(p_t.log_pdf(xs)? - sde.prior_log_density(xs))
                })
                .unwrap();
            let closed = -p0
                .diffused(sde.as_ref(), t_min)
                .unwrap()
                .log_pdf(x.view())
                .unwrap()
                + &gap;
            for (i, (a, c)) in b.bound().iter().zip(closed.iter()).enumerate() {
                assert!(
                    (a - c).abs() < 1e-6,
                    "{} t_min {t_min} point {i}: bound {a} vs closed form {c}",
                    sde.name()
                );
            }
        }
    }
}

/// A 1-D grid of points and the exact ODE-model, SDE-model and bound values on it (VP stopped
/// at T = 0.5, exact score of the seed's 1-D mixture).
struct OneD {
    xs: Vec<f64>,
    log_p0: Array1<f64>,
    log_sde: Array1<f64>,
    bound: Array1<f64>,
    kl_prior: f64,
}

fn one_d() -> OneD {
    let p0 = GaussianMixture::seed_ve();
    let sde = vp_short();
    let score = ExactScore::new(&p0, &sde);
    let xs: Vec<f64> = (0..=1600).map(|i| -8.0 + 0.01 * i as f64).collect();
    let col = Array2::from_shape_vec((xs.len(), 1), xs.clone()).unwrap();
    let log_p0 = p0.log_pdf(col.view()).unwrap();
    let log_sde = exact_score_sde_log_likelihood(&sde, &p0, col.view(), 0.0, 40).unwrap();
    let bound = sde_likelihood_bound(&sde, &score, col.view(), 0.0, BoundQuadrature::default())
        .unwrap()
        .bound();
    let p_t = p0.diffused(&sde, sde.t_max()).unwrap();
    let kl_ys: Vec<f64> = (0..xs.len())
        .map(|i| {
            let lp = p_t.log_pdf(col.slice(ndarray::s![i..=i, ..])).unwrap()[0];
            let lq = sde.prior_log_density(col.slice(ndarray::s![i..=i, ..]))[0];
            lp.exp() * (lp - lq)
        })
        .collect();
    OneD {
        kl_prior: trapezoid(&xs, &kl_ys).unwrap(),
        xs,
        log_p0,
        log_sde,
        bound,
    }
}

/// Point by point, the SDE model's exact negative log-likelihood lies below the bound
/// (Jensen); averaged over the data, the bound's excess over `-log p_0` is exactly
/// `KL(p_T || π)` and the SDE model's excess is smaller. Trapezoid sums over [-8, 8] at
/// spacing 0.01 (the integrands are smooth and negligible at the ends; the two sides agree to
/// 2e-8, against the 1e-6 tolerance). KL(p_T || π) is 0.0166 here and the SDE model's mean
/// excess 0.00085, so a bound without its prior term, or a Jensen gap of the wrong sign, fails.
#[test]
fn sde_model_lies_below_its_bound_whose_mean_excess_is_the_prior_kl() {
    let d = one_d();
    for i in 0..d.xs.len() {
        assert!(
            -d.log_sde[i] <= d.bound[i] + 1e-7,
            "x = {}: -log p_SDE {} above the bound {}",
            d.xs[i],
            -d.log_sde[i],
            d.bound[i]
        );
    }
    let p0 = d.log_p0.mapv(f64::exp);
    let excess = |v: &Array1<f64>| {
        let ys: Vec<f64> = (0..d.xs.len()).map(|i| p0[i] * v[i]).collect();
        trapezoid(&d.xs, &ys).unwrap()
    };
    let bound_excess = excess(&(&d.bound + &d.log_p0));
    assert!(
        (bound_excess - d.kl_prior).abs() < 1e-6,
        "mean bound excess {bound_excess} vs KL(p_T || π) {}",
        d.kl_prior
    );
    let sde_excess = excess(&(&d.log_p0 - &d.log_sde));
    assert!(d.kl_prior > 0.01, "KL(p_T || prior) = {}", d.kl_prior);
    assert!(
        sde_excess < bound_excess - 0.01 && sde_excess > 0.0,
        "SDE model's mean excess {sde_excess}, bound's {bound_excess}"
    );
}

/// `exact_score_sde_log_likelihood` is the density of what the reverse SDE sampler produces:
/// the exact law (`pc_law_1d`, no Monte Carlo) of Euler-Maruyama with the exact score, started
/// from the prior, converges to it at first order in the step (W1 5.2e-4 at 512 steps, 2.5e-4
/// at 1024: the ratio must lie in [1.8, 2.4]), while its distance to `p_0` stays at the
/// prior's cost (0.037). The model's CDF is a cumulative trapezoid at spacing 0.01; at 0.025
/// its own error (~1e-4) would flatten the ratio.
#[test]
fn exact_sde_likelihood_is_the_law_of_the_reverse_sde_from_the_prior() {
    let d = one_d();
    let p0 = GaussianMixture::seed_ve();
    let sde = vp_short();
    let score = ExactScore::new(&p0, &sde);
    // The CDF of the SDE model: cumulative trapezoid of its density on d's grid.
    let dens = d.log_sde.mapv(f64::exp);
    let mut cdf = vec![0.0; d.xs.len()];
    for i in 1..d.xs.len() {
        cdf[i] = cdf[i - 1] + 0.5 * (d.xs[i] - d.xs[i - 1]) * (dens[i] + dens[i - 1]);
    }
    assert!(
        (cdf[cdf.len() - 1] - 1.0).abs() < 1e-6,
        "mass {}",
        cdf[cdf.len() - 1]
    );
    let model_cdf = |x: f64| {
        let h = d.xs[1] - d.xs[0];
        let u = ((x - d.xs[0]) / h).clamp(0.0, (d.xs.len() - 1) as f64);
        let i = (u.floor() as usize).min(d.xs.len() - 2);
        cdf[i] + (cdf[i + 1] - cdf[i]) * (u - i as f64)
    };
    let prior = GaussianMixture::new_1d(&[1.0], &[0.0], &[sde.prior_var().sqrt()]).unwrap();
    let mut errs = vec![];
    for steps in [512usize, 1024] {
        let dt = sde.t_max() / steps as f64;
        let h = 0.01f64.min(0.9 * (sde.diffusion(dt).powi(2) * dt * 0.5).sqrt());
        let start = GridLaw::from_mixture(&prior, -10.0, 10.0, h).unwrap();
        let cfg = PcConfig::predictor_only(Predictor::EulerMaruyama, steps + 1);
        let law = pc_law_1d(&sde, &score, &start, &cfg).unwrap();
        errs.push((
            law.w1_to(model_cdf, -8.0, 8.0).unwrap(),
            law.w1_to_mixture(&p0).unwrap(),
        ));
    }
    let (e512, e1024) = (errs[0].0, errs[1].0);
    assert!(
        (1.8..2.4).contains(&(e512 / e1024)),
        "W1 to the SDE model: {e512} at 512 steps, {e1024} at 1024"
    );
    assert!(
        errs[1].1 > 20.0 * e1024,
        "W1 to p_0 {} should dwarf W1 to the SDE model {e1024}",
        errs[1].1
    );
}

/// `kl_to_prior` (a Gauss-Hermite sum per component) against the closed form for one Gaussian
/// component, `KL(N(m, diag s^2) || N(0, v I)) = ½ Σ_j (s_j^2/v + m_j^2/v - 1 - ln(s_j^2/v))`,
/// to 1e-12: the integrand is a quadratic, which the rule integrates exactly.
#[test]
fn kl_to_prior_matches_the_gaussian_closed_form() {
    use score_sde::book::experiment::likelihood_models::kl_to_prior;
    let sde = vp_short();
    let v = sde.prior_var();
    let (m, s) = ([0.7, -1.2], [0.5, 1.3]);
    let p = GaussianMixture::new(vec![1.0], array![[m[0], m[1]]], array![[s[0], s[1]]]).unwrap();
    let closed: f64 = (0..2)
        .map(|j| 0.5 * (s[j] * s[j] / v + m[j] * m[j] / v - 1.0 - (s[j] * s[j] / v).ln()))
        .sum();
    let kl = kl_to_prior(&p, &sde, 10).unwrap();
    assert!((kl - closed).abs() < 1e-12, "{kl} vs {closed}");
}

/// The chapter's experiment on a few points: the ODE's log-likelihood agrees with its closed
/// form at the flow's end point to the solver's tolerance (1e-8 requested, 1e-6 asserted: the
/// error accumulates over the integration), and every point's SDE-model excess lies below its
/// bound's.
#[test]
fn likelihood_models_experiment_keeps_its_identities() {
    use score_sde::book::experiment::likelihood_models::{run, LikelihoodModelsConfig};
    let r = run(&LikelihoodModelsConfig {
        n_points: 12,
        t_max: vec![0.5],
        ..LikelihoodModelsConfig::book()
    })
    .unwrap();
    let row = &r.rows[0];
    assert!(row.ode_solver_err < 1e-6, "{}", row.ode_solver_err);
    for (s, b) in row.sde_excess.iter().zip(&row.bound_excess) {
        assert!(s <= &(b + 1e-7), "SDE excess {s} above the bound's {b}");
    }
    assert!(row.kl_prior > 0.005, "{}", row.kl_prior);
}
