//! The fast-samplers and parameterisations chapters' claims, asserted on their experiments
//! (quick settings for the NFE study; the book's settings for the bound's limit).
use score_sde::book::experiment::fast_samplers::{run, FastSamplersConfig};
use score_sde::book::experiment::vb_limit;
use score_sde::book::figures::fast_samplers::fitted_order;

/// The NFE study (quick settings): every deterministic solver shows its order within 0.3
/// (exact laws, no Monte Carlo error: the tolerance covers only the pre-asymptotic bend of
/// the last points at <= 64 steps); Euler-Maruyama and reverse diffusion coincide (VE with
/// g = 1) to 1e-9 (their coefficients are computed by different routes, g by forward-mode
/// autodiff of sigma^2, so they agree to rounding, amplified over the steps); ancestral is behind Euler-Maruyama at the largest step count; the
/// network's curves stay above 1e-2 (its own flow's W1 is above 1e-2); the prior mismatch
/// dominates (W1 > 0.1); the cut-off error is linear in t_min (ratio 100 +- 2% over two
/// decades); the two W1 routes agree on the network's map to 1e-3.
#[test]
fn nfe_study_claims() {
    let r = run(&FastSamplersConfig::quick(), None).unwrap();
    let expect = [
        ("Euler = DDIM = DPM-Solver-1", 1.0),
        ("Heun (EDM)", 2.0),
        ("DPM-Solver-2", 2.0),
        ("DPM-Solver-3", 3.0),
        ("DPM-Solver++(2M)", 2.0),
        ("RK4 (sigma)", 4.0),
        ("Euler-Maruyama", 1.0),
    ];
    for (name, order) in expect {
        let c = r
            .curves
            .iter()
            .find(|c| c.sampler == name && c.score == "exact")
            .unwrap();
        let o = fitted_order(c).unwrap();
        assert!(
            (o - order).abs() < 0.3,
            "{name}: order {o:.2}, expected {order}"
        );
    }
    let get = |name: &str| {
        r.curves
            .iter()
            .find(|c| c.sampler == name && c.score == "exact")
            .unwrap()
    };
    let (em, rd, anc) = (
        get("Euler-Maruyama"),
        get("reverse diffusion"),
        get("ancestral = DDIM eta=1"),
    );
    for (a, b) in em.points.iter().zip(&rd.points) {
        assert!((a.w1 - b.w1).abs() < 1e-9, "{} vs {}", a.w1, b.w1);
    }
    assert!(anc.points.last().unwrap().w1 > em.points.last().unwrap().w1);
    for c in r.curves.iter().filter(|c| c.score == "network") {
        assert!(c.nfe_below(1e-2).is_none(), "{}", c.sampler);
    }
    assert!(r.network_flow_w1 > 1e-2);
    assert!((r.network_flow_w1 - r.network_flow_w1_cdf).abs() < 1e-3);
    assert!(r.sources.prior_w1 > 0.1);
    let w = |t: f64| {
        r.sources
            .t_min
            .iter()
            .find(|p| (p.0 - t).abs() < 1e-15)
            .unwrap()
            .1
    };
    let ratio = w(1e-3) / w(1e-5);
    assert!((ratio / 100.0 - 1.0).abs() < 0.02, "ratio {ratio}");
    assert!(r.sources.reference_w1 < 1e-7);
}

/// DDPM's bound tends to the likelihood-weighted loss at rate 1/K (fitted rate within 0.1 of
/// 1 over K = 30 .. 3000, every error below the previous), and the VP schedule's beta_K at
/// K = 1000 is DDPM's 0.02 (1e-12), its beta_1 within 25% of DDPM's 1e-4.
#[test]
fn bound_tends_to_likelihood_weighting() {
    let r = vb_limit::run(&[30, 100, 300, 1000, 3000]).unwrap();
    for w in r.rows.windows(2) {
        assert!(w[1].rel_err < w[0].rel_err);
    }
    let (a, b) = (&r.rows[0], &r.rows[r.rows.len() - 1]);
    let rate = -(b.rel_err / a.rel_err).ln() / (b.k as f64 / a.k as f64).ln();
    assert!((rate - 1.0).abs() < 0.1, "rate {rate}");
    assert!((r.vp_beta_last - 0.02).abs() < 1e-12);
    assert!((r.vp_beta_first / 1e-4 - 1.0).abs() < 0.25);
}
