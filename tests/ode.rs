//! ODE solvers: RK4's order, Dormand-Prince meeting its tolerance on ODEs with known
//! solutions, and the probability-flow ODE on Gaussian data (the monotone transport).
use ndarray::{array, Array2, ArrayView2};
use score_sde::mixture::GaussianMixture;
use score_sde::ode::{dopri5, rk4, Dopri5Options};
use score_sde::sampling::{probability_flow_sample, OdeMethod};
use score_sde::score::ExactScore;
use score_sde::sde::{Geometric, LinearSde, Ve, Vp};
use score_sde::Result;

/// The harmonic oscillator `y1' = y2`, `y2' = -y1`, one row per initial condition.
fn oscillator(_t: f64, y: ArrayView2<f64>) -> Result<Array2<f64>> {
    let mut out = Array2::zeros(y.dim());
    out.column_mut(0).assign(&y.column(1));
    out.column_mut(1).assign(&y.column(0).mapv(|v| -v));
    Ok(out)
}

fn oscillator_error(y: &Array2<f64>, t: f64) -> f64 {
    // Rows start at (1, 0) and (0, 2): exact (cos t, -sin t) and (2 sin t, 2 cos t).
    let exact = array![[t.cos(), -t.sin()], [2.0 * t.sin(), 2.0 * t.cos()]];
    (y - &exact).iter().fold(0.0f64, |m, e| m.max(e.abs()))
}

/// RK4 is fourth order: halving the step divides the global error at t = 10 by 16 (we accept
/// 14 to 18, the O(h^5) remainder at h = 10/40 is a few per cent), and 4 evaluations per step.
#[test]
fn rk4_is_fourth_order() {
    let y0 = array![[1.0, 0.0], [0.0, 2.0]];
    let e1 = rk4(oscillator, 0.0, 10.0, y0.clone(), 40).unwrap();
    let e2 = rk4(oscillator, 0.0, 10.0, y0, 80).unwrap();
    assert_eq!(e1.n_evals, 160);
    let ratio = oscillator_error(&e1.y, 10.0) / oscillator_error(&e2.y, 10.0);
    assert!((14.0..18.0).contains(&ratio), "error ratio {ratio}");
}

/// Dormand-Prince meets its tolerance: on the oscillator (amplitude up to 2) from 0 to 10
/// and back, and on `y' = -2 t y` (solution `exp(-t^2)`) from 0 to 2, the global error stays
/// below 10 tol times the solution's scale for tol = rtol = atol = 1e-4 ... 1e-10 (a local
/// error control does not bound the global error exactly; a factor 10 over these short,
/// non-expanding horizons is the usual margin), and tighter tolerances cost more evaluations.
#[test]
fn dopri5_meets_its_tolerance() {
    let mut last_evals = 0;
    for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
        let opts = Dopri5Options::new(tol, tol);
        let y0 = array![[1.0, 0.0], [0.0, 2.0]];
        let sol = dopri5(oscillator, 0.0, 10.0, y0, &opts).unwrap();
        let err = oscillator_error(&sol.y, 10.0);
        assert!(err < 10.0 * tol * 2.0, "tol {tol}: error {err}");
        assert!(sol.n_evals > last_evals, "tol {tol}: {} evals", sol.n_evals);
        last_evals = sol.n_evals;

        let gauss = |t: f64, y: ArrayView2<f64>| Ok(y.mapv(|v| -2.0 * t * v));
        let fwd = dopri5(gauss, 0.0, 2.0, array![[1.0]], &opts).unwrap();
        let e = (fwd.y[[0, 0]] - (-4.0f64).exp()).abs();
        assert!(e < 10.0 * tol, "tol {tol}: forward error {e}");
        let t = 10.0f64;
        let y_end = array![[t.cos(), -t.sin()], [2.0 * t.sin(), 2.0 * t.cos()]];
        let back = dopri5(oscillator, t, 0.0, y_end, &opts).unwrap();
        let e = oscillator_error(&back.y, 0.0);
        assert!(e < 10.0 * tol * 2.0, "tol {tol}: backward error {e}");
    }
}

/// Bad input is reported, not a panic.
#[test]
fn solvers_reject_bad_input() {
    let y0 = array![[1.0, 0.0]];
    assert!(rk4(oscillator, 0.0, 1.0, y0.clone(), 0).is_err());
    assert!(dopri5(
        oscillator,
        0.0,
        1.0,
        y0.clone(),
        &Dopri5Options::new(0.0, 1e-6)
    )
    .is_err());
    assert!(dopri5(
        oscillator,
        0.0,
        f64::NAN,
        y0.clone(),
        &Dopri5Options::new(1e-6, 1e-6)
    )
    .is_err());
    let wrong = |_t: f64, _y: ArrayView2<f64>| Ok(Array2::zeros((3, 3)));
    assert!(rk4(wrong, 0.0, 1.0, y0.clone(), 4).is_err());
    let blow = |_t: f64, y: ArrayView2<f64>| Ok(y.mapv(|v| v * v * 1e300));
    assert!(dopri5(
        blow,
        0.0,
        1.0,
        array![[1e10]],
        &Dopri5Options::new(1e-6, 1e-6)
    )
    .is_err());
    let few = Dopri5Options {
        max_steps: 3,
        ..Dopri5Options::new(1e-10, 1e-10)
    };
    assert!(dopri5(oscillator, 0.0, 100.0, y0, &few).is_err());
}

/// For Gaussian data `N(m, s^2)` the probability flow keeps the standardised position:
/// `x(t) = m_t + sqrt(v_t / s^2) (x(0) - m)`. Integrated from T to 0 by RK4 (200 steps) and by
/// Dormand-Prince (rtol = atol = 1e-8) under VE (seed 001's geometric schedule, sigma from
/// 0.01 to 1) and VP, the end points match the exact map to 1e-6 (RK4's error at h = 1/200 on
/// this smooth flow is ~1e-9; VP's stiffer beta up to 20 is what sets the margin).
/// (The seed-000 VE `sigma = sqrt(t)` is left out: its `g(0)` evaluates to 0 instead of 1, see
/// `Ve::diffusion`, and both solvers evaluate the velocity at t = 0.)
#[test]
fn probability_flow_transports_gaussians_exactly() {
    let (m, s) = (0.7, 0.5);
    let p0 = GaussianMixture::new_1d(&[1.0], &[m], &[s]).unwrap();
    let ve = Ve::new(Geometric::new(0.01, 1.0).unwrap(), 1.0).unwrap();
    let vp = Vp::song();
    let sdes: [&dyn LinearSde; 2] = [&ve, &vp];
    for sde in sdes {
        let t = sde.t_max();
        let (mu, z2) = (sde.mean_factor(t), sde.kernel_var(t));
        let (mt, vt) = (mu * m, mu * mu * s * s + z2);
        let x0 = array![[-1.0], [0.0], [0.7], [1.5], [3.0]];
        let x_t = x0.mapv(|x| mt + (vt / (s * s)).sqrt() * (x - m));
        let score = ExactScore::new(&p0, sde);
        for method in [
            OdeMethod::Rk4 { n_steps: 200 },
            OdeMethod::Dopri5 {
                rtol: 1e-8,
                atol: 1e-8,
            },
        ] {
            let sol = probability_flow_sample(sde, &score, x_t.clone(), 0.0, &method).unwrap();
            let err = (&sol.y - &x0).iter().fold(0.0f64, |a, e| a.max(e.abs()));
            assert!(err < 1e-6, "{} {method:?}: error {err}", sde.name());
        }
    }
}

fn decay(_t: f64, y: ArrayView2<f64>) -> Result<Array2<f64>> {
    Ok(y.mapv(|v| -v))
}

/// The step control does not depend on the batch size: the error norm is a mean over the
/// entries, so 50 identical rows take exactly the steps of one row (a sum instead of the mean
/// would take many more).
#[test]
fn dopri5_steps_do_not_depend_on_identical_copies() {
    let opts = Dopri5Options::new(1e-6, 1e-9);
    let one = dopri5(oscillator, 0.0, 10.0, array![[1.0, 0.0]], &opts).unwrap();
    let many = dopri5(
        oscillator,
        0.0,
        10.0,
        Array2::from_shape_fn((50, 2), |(_, j)| if j == 0 { 1.0 } else { 0.0 }),
        &opts,
    )
    .unwrap();
    assert_eq!(
        (one.n_steps, one.n_rejected, one.n_evals),
        (many.n_steps, many.n_rejected, many.n_evals)
    );
    assert!((many.y[[49, 0]] - one.y[[0, 0]]).abs() < 1e-15);
}

/// Backwards across t = 0: `y' = -y` from t = 1 to t = -1 gives `y(-1) = e^2 y(1)`, to the
/// tolerance (relative 1e-8 asked, 1e-6 asserted).
#[test]
fn dopri5_integrates_backwards_across_zero() {
    let opts = Dopri5Options::new(1e-8, 1e-10);
    let sol = dopri5(decay, 1.0, -1.0, array![[1.0]], &opts).unwrap();
    let exact = 2.0f64.exp();
    assert!(
        ((sol.y[[0, 0]] - exact) / exact).abs() < 1e-6,
        "{} vs {exact}",
        sol.y[[0, 0]]
    );
}

/// The relative tolerance is relative to `|y|`: `y' = -y` over [0, 20], where `y` falls to
/// 2e-9, with a negligible `atol`, keeps the relative error at the end below 20 rtol (global
/// error: about one rtol per unit of time at most; measured well below). A scale that did
/// not shrink with `|y|` would let the error grow to the size of `y` itself.
#[test]
fn dopri5_relative_tolerance_follows_the_solution() {
    let rtol = 1e-6;
    let opts = Dopri5Options::new(rtol, 1e-30);
    let sol = dopri5(decay, 0.0, 20.0, array![[1.0]], &opts).unwrap();
    let exact = (-20.0f64).exp();
    let rel = ((sol.y[[0, 0]] - exact) / exact).abs();
    assert!(rel < 20.0 * rtol, "relative error {rel}");
}

/// `max_steps` counts attempted steps, accepted and rejected: a run started with a step far
/// too large (rejected several times) succeeds with the limit set to exactly the attempts it
/// made, and fails with one fewer.
#[test]
fn dopri5_max_steps_counts_rejected_steps() {
    let opts = Dopri5Options {
        h0: Some(8.0),
        ..Dopri5Options::new(1e-8, 1e-10)
    };
    let sol = dopri5(oscillator, 0.0, 10.0, array![[1.0, 0.0]], &opts).unwrap();
    assert!(sol.n_rejected >= 2, "{} rejections", sol.n_rejected);
    let attempts = sol.n_steps + sol.n_rejected;
    let exact = Dopri5Options {
        max_steps: attempts,
        ..opts
    };
    assert!(dopri5(oscillator, 0.0, 10.0, array![[1.0, 0.0]], &exact).is_ok());
    let short = Dopri5Options {
        max_steps: attempts - 1,
        ..opts
    };
    assert!(dopri5(oscillator, 0.0, 10.0, array![[1.0, 0.0]], &short).is_err());
}

/// A solution that blows up inside the interval (`y' = y^2`, `y(0) = 2e-3`, infinite at
/// t = 500, integrated to t = 1000) ends in the step-size underflow error, whose threshold is
/// relative to the interval (`1e-14 max(span, |t|)`, here 1e-11): not in a stall at the
/// resolution of `t` until `max_steps`, nor in a non-finite value.
#[test]
fn dopri5_reports_step_size_underflow_at_a_blow_up() {
    let opts = Dopri5Options::new(1e-8, 1e-8);
    let err = dopri5(
        |_t: f64, y: ArrayView2<f64>| Ok(y.mapv(|v| v * v)),
        0.0,
        1000.0,
        array![[2e-3]],
        &opts,
    )
    .unwrap_err();
    assert!(err.to_string().contains("underflow"), "{err}");
}

/// A very short interval (1e-12) is integrated, not refused: the underflow threshold scales
/// with the interval, so a step of the interval's own size is legitimate.
#[test]
fn dopri5_integrates_a_tiny_interval() {
    let opts = Dopri5Options::new(1e-8, 1e-10);
    let sol = dopri5(
        |_t: f64, y: ArrayView2<f64>| Ok(y.to_owned()),
        0.0,
        1e-12,
        array![[1.0]],
        &opts,
    )
    .unwrap();
    assert!((sol.y[[0, 0]] - (1e-12f64).exp()).abs() < 1e-15);
}
