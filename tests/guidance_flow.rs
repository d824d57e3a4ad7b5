//! The classifier-free guided probability-flow ODE against the guided SDE and the tilted law,
//! by exact laws (`MapLaw` for the ODE, `pc_law_1d` for Euler-Maruyama): no Monte Carlo, so
//! every tolerance below is a discretisation error, not a sampling error.
use score_sde::book::experiment::guidance::{self, example, GuidanceConfig};
use score_sde::book::experiment::guidance_flow::{self, FlowConfig};
use score_sde::sampling::sigma::sigma_of_t;
use score_sde::sampling::{tilted_law_1d, ConditionalScore, MapLaw, Sampler, Schedule};
use score_sde::sde::{LinearSde, Vp};

/// The Euler-Maruyama study at `w = 0` and `w = 2` only (the book's grid and steps).
fn em_study() -> guidance::GuidanceReport {
    let mut c = GuidanceConfig::book();
    c.strengths = vec![0.0, 2.0];
    guidance::run(&c).unwrap()
}

/// At `w = 0` the guided flow is the conditional flow, which maps the exact `p_T(x | y)` to
/// `p_{t_min}(x | y)`. DPM-Solver++(2M) is second order: its exact W1 to that law is below
/// 2e-3 at 100 steps (measured about 7e-4) and falls by a factor in (3, 5) when the steps
/// double from 50 (4 for second order). A wrong drift (e.g. the SDE's `g^2 s` in place of
/// `g^2 s / 2`) leaves an O(1) error that does not fall.
#[test]
fn guided_flow_at_w0_samples_the_conditional() {
    let r = guidance_flow::run(&FlowConfig::book(), &em_study()).unwrap();
    let (fine, coarse) = (r.w1_conditional, r.w1_conditional_coarse);
    eprintln!("w = 0 flow: W1 {fine:.3e} (100 steps), {coarse:.3e} (50 steps)");
    assert!(fine < 2e-3, "{fine}");
    let ratio = coarse / fine;
    assert!((3.0..5.0).contains(&ratio), "ratio {ratio}");
    // The grid-law route agrees with the mixture route: W1 to the tilted law at γ = 0
    // (p_0(x | y) on the h = 0.01 grid, CDF linear between knots: error ≲ h²/8 max|p'| ≈ 2e-5)
    // differs from W1 to p_{t_min}(x | y) by at most that plus W1(p_{t_min}, p_0) ≈ 1e-4.
    let row0 = &r.rows[0];
    assert_eq!(row0.w, 0.0);
    assert!(
        (row0.w1_tilted - fine).abs() < 2e-4,
        "{} vs {fine}",
        row0.w1_tilted
    );
}

/// For `w ≠ 0` the guided scores are not the scores of one diffusion, so the flow and the SDE
/// need not end at the same law, and they do not: at `w = 2` the exact W1 between the two
/// laws is more than 10 times either sampler's discretisation error (each estimated by the
/// distance between a run and one at half the steps, an overestimate). The flow is the sharper
/// of the two (less mass on the class's minor component) and the farther from the tilted law.
#[test]
fn guided_flow_and_guided_sde_draw_different_laws() {
    let em = em_study();
    let r = guidance_flow::run(&FlowConfig::book(), &em).unwrap();
    let (row, em_row) = (&r.rows[1], &em.rows[1]);
    assert_eq!((row.w, em_row.w), (2.0, 2.0));
    eprintln!(
        "w = 2: W1(ODE, EM) {:.4}, ODE error {:.2e}, EM error {:.2e}; W1 to q_2: ODE {:.4}, EM {:.4}",
        row.w1_ode_em, row.ode_error, row.em_error, row.w1_tilted, row.w1_tilted_em
    );
    assert!(row.w1_ode_em > 10.0 * row.ode_error.max(row.em_error));
    assert!(row.upper_ode < em_row.upper_guided);
    assert!(row.w1_tilted > row.w1_tilted_em);
    assert!(row.kl_tilted > 0.0);
}

/// `MapLaw`'s routes agree: W1 to a `Law1d` (quantile of a piecewise-linear CDF, knots 0.01
/// apart) matches W1 to the mixture it tabulates within 5e-5 (the interpolation error
/// h²/8 max|p'| ≈ 2e-5 in the CDF), `w1_to_map` of a map to itself is 0, and maps run on
/// different nodes are refused.
#[test]
fn map_law_routes_agree() {
    let (p0, sde) = (example().unwrap(), Vp::song());
    let cond = ConditionalScore::new(&p0, &sde, 0).unwrap();
    let start = cond.conditional().diffused(&sde, sde.t_max()).unwrap();
    let ts = Schedule::LogSnr {
        sigma_min: sigma_of_t(&sde, 1e-3),
    }
    .times(&sde, 40)
    .unwrap();
    let law = MapLaw::of(&Sampler::DpmSolverPp2m, &sde, &cond, &start, &ts, 100).unwrap();
    let target = cond.conditional().clone();
    let grid = tilted_law_1d(&p0, 0, 0.0, -9.0, 9.0, 0.01)
        .unwrap()
        .law()
        .unwrap();
    let (a, b) = (law.w1_to(&target).unwrap(), law.w1_to_law(&grid).unwrap());
    assert!((a - b).abs() < 5e-5, "{a} vs {b}");
    assert_eq!(law.w1_to_map(&law).unwrap(), 0.0);
    let other = MapLaw::of(&Sampler::DpmSolverPp2m, &sde, &cond, &start, &ts, 50).unwrap();
    assert!(law.w1_to_map(&other).is_err());
}
