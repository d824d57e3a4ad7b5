//! The adaptive Dormand-Prince 5(4) pair (Dormand and Prince 1980; Hairer, Nørsett and Wanner,
//! *Solving ODEs I*, sec. II.4-5), the method of `scipy.integrate.solve_ivp(method="RK45")`
//! that Song et al.'s reference code uses for the probability-flow ODE.
//!
//! Each step computes seven stages (the last is reused as the first of the next step, "FSAL"),
//! advances with the fifth-order solution and estimates the local error as the difference to
//! the embedded fourth-order one. The step is accepted when
//! `err = sqrt(mean_i (e_i / (atol + rtol max(|y_i|, |y_new_i|)))^2) <= 1`, and the next step
//! is `h ← h min(5, max(0.2, 0.9 err^(-1/5)))`. The norm runs over the whole batch, so the
//! particles share one step size, as when the batch is flattened into one state vector.
use ndarray::{Array2, ArrayView2, Zip};

use super::{check_interval, eval, OdeSolution};
use crate::error::{Error, Result};

const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// Fifth-order weights (equal to the last row of `A`: FSAL).
const B5: [f64; 7] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
    0.0,
];
/// Embedded fourth-order weights.
const B4: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// Tolerances and limits of [`dopri5`].
#[derive(Clone, Copy, Debug)]
pub struct Dopri5Options {
    /// Relative tolerance (scipy's default: 1e-3; Song et al. use 1e-5).
    pub rtol: f64,
    /// Absolute tolerance (scipy's default: 1e-6; Song et al. use 1e-5).
    pub atol: f64,
    /// First step size magnitude; `None` picks it by Hairer's rule (one extra evaluation).
    pub h0: Option<f64>,
    /// Give up after this many attempted steps.
    pub max_steps: usize,
}

impl Dopri5Options {
    /// `rtol`, `atol`, automatic first step, at most 100 000 steps.
    pub fn new(rtol: f64, atol: f64) -> Self {
        Self {
            rtol,
            atol,
            h0: None,
            max_steps: 100_000,
        }
    }
}

/// The weighted RMS norm `sqrt(mean (e / (atol + rtol max(|a|, |b|)))^2)`.
fn error_norm(e: &Array2<f64>, a: &Array2<f64>, b: &Array2<f64>, o: &Dopri5Options) -> f64 {
    let mut acc = 0.0;
    Zip::from(e).and(a).and(b).for_each(|&e, &a, &b| {
        let sc = o.atol + o.rtol * a.abs().max(b.abs());
        acc += (e / sc).powi(2);
    });
    (acc / e.len().max(1) as f64).sqrt()
}

/// Integrates `dy/dt = f(t, y)` from `(t0, y0)` to `t1` with adaptive Dormand-Prince 5(4).
///
/// Errors on non-positive tolerances, on a right-hand side that is not finite, and when
/// `max_steps` steps do not reach `t1` or the step size underflows.
pub fn dopri5<F>(
    mut f: F,
    t0: f64,
    t1: f64,
    y0: Array2<f64>,
    opts: &Dopri5Options,
) -> Result<OdeSolution>
where
    F: FnMut(f64, ArrayView2<f64>) -> Result<Array2<f64>>,
{
    crate::error::positive(opts.rtol, "rtol")?;
    crate::error::positive(opts.atol, "atol")?;
    if let Some(h0) = opts.h0 {
        crate::error::positive(h0, "h0")?;
    }
    check_interval(t0, t1, &y0)?;
    let mut n_evals = 0;
    let (mut n_steps, mut n_rejected) = (0, 0);
    if t0 == t1 {
        return Ok(OdeSolution {
            y: y0,
            n_evals,
            n_steps,
            n_rejected,
        });
    }
    let dir = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let mut y = y0;
    let mut t = t0;
    let mut k1 = eval(&mut f, t, y.view(), &mut n_evals)?;
    let mut h = match opts.h0 {
        Some(h0) => h0.min(span),
        None => initial_step(&mut f, t, &y, &k1, dir, opts, &mut n_evals)?.min(span),
    };
    let mut ks: Vec<Array2<f64>> = Vec::with_capacity(7);
    loop {
        if n_steps + n_rejected >= opts.max_steps {
            return Err(Error::param(
                "max_steps",
                format!(
                    "{} steps did not reach t1 = {t1} (stopped at t = {t})",
                    opts.max_steps
                ),
            ));
        }
        let remaining = (t1 - t).abs();
        let last = h >= remaining;
        if last {
            h = remaining;
        }
        if h <= 1e-14 * span.max(t.abs()) {
            return Err(Error::param(
                "rtol",
                format!("step size underflow at t = {t}: tolerance too tight"),
            ));
        }
        let hs = dir * h;
        ks.clear();
        ks.push(k1.clone());
        for s in 1..7 {
            let mut ys = y.clone();
            for (j, kj) in ks.iter().enumerate() {
                let a = A[s][j];
                if a != 0.0 {
                    ys.scaled_add(hs * a, kj);
                }
            }
            // Stage times never leave [t, t1] (round-off could step past t1 on the last step).
            let ts = if last && C[s] == 1.0 {
                t1
            } else {
                t + C[s] * hs
            };
            let k = eval(&mut f, ts, ys.view(), &mut n_evals)?;
            ks.push(k);
        }
        let mut y5 = y.clone();
        let mut e = Array2::zeros(y.dim());
        for (s, k) in ks.iter().enumerate() {
            if B5[s] != 0.0 {
                y5.scaled_add(hs * B5[s], k);
            }
            e.scaled_add(hs * (B5[s] - B4[s]), k);
        }
        let err = error_norm(&e, &y, &y5, opts);
        let factor = if err == 0.0 {
            5.0
        } else {
            (0.9 * err.powf(-0.2)).clamp(0.2, 5.0)
        };
        if err <= 1.0 {
            n_steps += 1;
            t = if last { t1 } else { t + hs };
            y = y5;
            k1 = ks[6].clone();
            if last {
                break;
            }
            h *= factor;
        } else {
            n_rejected += 1;
            h *= factor.min(1.0);
        }
    }
    Ok(OdeSolution {
        y,
        n_evals,
        n_steps,
        n_rejected,
    })
}

/// Hairer, Nørsett and Wanner's starting step (Solving ODEs I, II.4): from
/// `d0 = |y0|`, `d1 = |f0|` (weighted norms) and a trial Euler step.
fn initial_step<F>(
    f: &mut F,
    t: f64,
    y: &Array2<f64>,
    f0: &Array2<f64>,
    dir: f64,
    o: &Dopri5Options,
    n_evals: &mut usize,
) -> Result<f64>
where
    F: FnMut(f64, ArrayView2<f64>) -> Result<Array2<f64>>,
{
    let zero = Array2::zeros(y.dim());
    let d0 = error_norm(y, y, &zero, o);
    let d1 = error_norm(f0, y, &zero, o);
    let h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    let mut y1 = y.clone();
    y1.scaled_add(dir * h0, f0);
    let f1 = eval(f, t + dir * h0, y1.view(), n_evals)?;
    let d2 = error_norm(&(&f1 - f0), y, &zero, o) / h0;
    let h1 = if d1.max(d2) <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(0.2)
    };
    Ok((100.0 * h0).min(h1))
}

#[cfg(test)]
mod tests {
    //! The tableau against the Runge-Kutta order conditions (Hairer, Nørsett and Wanner,
    //! *Solving ODEs I*, Table II.2.2): the fifth-order weights satisfy all 17 conditions up to
    //! order 5, the embedded weights the 8 up to order 4 and not all of order 5, so their
    //! difference is a genuine estimate of the local error. A changed weight breaks at least
    //! one condition by far more than the 1e-14 tolerance (every condition is a ratio of small
    //! integers evaluated in f64).
    use super::*;

    fn a(i: usize, j: usize) -> f64 {
        if j < 6 {
            A[i][j]
        } else {
            0.0
        }
    }
    fn ac(i: usize, p: i32) -> f64 {
        (0..7).map(|j| a(i, j) * C[j].powi(p)).sum()
    }
    fn aac(i: usize) -> f64 {
        (0..7).map(|j| a(i, j) * ac(j, 1)).sum()
    }
    fn aaac(i: usize) -> f64 {
        (0..7).map(|j| a(i, j) * aac(j)).sum()
    }
    fn aacc(i: usize) -> f64 {
        (0..7).map(|j| a(i, j) * ac(j, 2)).sum()
    }
    fn acac(i: usize) -> f64 {
        (0..7).map(|j| a(i, j) * C[j] * ac(j, 1)).sum()
    }

    /// `(Σ_i b_i Φ_i(tree), 1/γ(tree))` for the trees up to `order`.
    fn conditions(b: &[f64; 7], order: usize) -> Vec<(f64, f64)> {
        let s = |f: &dyn Fn(usize) -> f64| (0..7).map(|i| b[i] * f(i)).sum::<f64>();
        let mut out = vec![(s(&|_| 1.0), 1.0), (s(&|i| C[i]), 1.0 / 2.0)];
        if order >= 3 {
            out.push((s(&|i| C[i].powi(2)), 1.0 / 3.0));
            out.push((s(&|i| ac(i, 1)), 1.0 / 6.0));
        }
        if order >= 4 {
            out.push((s(&|i| C[i].powi(3)), 1.0 / 4.0));
            out.push((s(&|i| C[i] * ac(i, 1)), 1.0 / 8.0));
            out.push((s(&|i| ac(i, 2)), 1.0 / 12.0));
            out.push((s(&aac), 1.0 / 24.0));
        }
        if order >= 5 {
            out.push((s(&|i| C[i].powi(4)), 1.0 / 5.0));
            out.push((s(&|i| C[i].powi(2) * ac(i, 1)), 1.0 / 10.0));
            out.push((s(&|i| ac(i, 1).powi(2)), 1.0 / 20.0));
            out.push((s(&|i| C[i] * ac(i, 2)), 1.0 / 15.0));
            out.push((s(&|i| C[i] * aac(i)), 1.0 / 30.0));
            out.push((s(&|i| ac(i, 3)), 1.0 / 20.0));
            out.push((s(&acac), 1.0 / 40.0));
            out.push((s(&aacc), 1.0 / 60.0));
            out.push((s(&aaac), 1.0 / 120.0));
        }
        out
    }

    #[test]
    fn stages_are_consistent() {
        for (i, c) in C.iter().enumerate() {
            assert!((ac(i, 0) - c).abs() < 1e-14, "row {i}: Σ_j a_ij != c_i");
        }
        for j in 0..6 {
            assert_eq!(A[6][j], B5[j], "FSAL: the last row of A is B5");
        }
    }

    #[test]
    fn fifth_order_weights_meet_all_conditions_to_order_5() {
        let c = conditions(&B5, 5);
        assert_eq!(c.len(), 17);
        for (k, (got, want)) in c.into_iter().enumerate() {
            assert!(
                (got - want).abs() < 1e-14,
                "B5 condition {k}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn embedded_weights_have_order_exactly_4() {
        let c = conditions(&B4, 5);
        for (k, (got, want)) in c[..8].iter().enumerate() {
            assert!(
                (got - want).abs() < 1e-14,
                "B4 condition {k}: {got} vs {want}"
            );
        }
        let worst = c[8..]
            .iter()
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f64::max);
        assert!(worst > 1e-6, "B4 meets every order-5 condition ({worst})");
    }

    /// The starting step of `y' = f(t, y)` for a single entry, by [`initial_step`].
    fn start(f: impl Fn(f64, f64) -> f64, t: f64, y: f64, dir: f64, rtol: f64, atol: f64) -> f64 {
        let mut g = |t: f64, y: ArrayView2<f64>| Ok(y.mapv(|v| f(t, v)));
        let y = Array2::from_elem((1, 1), y);
        let f0 = g(t, y.view()).unwrap();
        let (o, mut n) = (Dopri5Options::new(rtol, atol), 0);
        let h = initial_step(&mut g, t, &y, &f0, dir, &o, &mut n).unwrap();
        assert_eq!(n, 1, "one trial evaluation");
        h
    }

    /// Hairer's rule by hand (Solving ODEs I, II.4, with scipy's strict `< 1e-5`), one case per
    /// branch. With `y0 = 1`, `sc = atol + rtol`: `d0 = d1 = 1/sc` give `h0 = 0.01`; the trial
    /// Euler step of `y' = -y` (or, backwards from t = 1, of `y' = t`) changes `f` by 0.01, so
    /// `d2 = 1/sc` and `h = min(100 h0, (0.01 sc)^(1/5))`.
    #[test]
    fn initial_step_follows_hairers_rule() {
        let (rtol, atol) = (1e-6f64, 1e-9);
        let want = (0.01 * (atol + rtol)).powf(0.2);
        for (h, case) in [
            (start(|_, y| -y, 0.0, 1.0, 1.0, rtol, atol), "decay"),
            (
                start(|t, _| t, 1.0, 1.0, -1.0, rtol, atol),
                "y' = t backwards",
            ),
        ] {
            assert!((h - want).abs() < 1e-14 * want, "{case}: {h} vs {want}");
        }
        // y' = -50 y: d1 = 50 d0 gives h0 = 2e-4, the trial step changes f by 0.5, so
        // d2 = 0.5 / (sc h0) = 2500 / sc exceeds d1 and sets h1 = (0.01 sc / 2500)^(1/5).
        let sc = atol + rtol;
        let want = (0.01 * sc / 2500.0).powf(0.2).min(100.0 * 2e-4);
        let h = start(|_, y| -50.0 * y, 0.0, 1.0, 1.0, rtol, atol);
        assert!((h - want).abs() < 1e-12 * want, "stiff: {h} vs {want}");
        // y0 = 0: d0 = 0 < 1e-5, so h0 = 1e-6; f = 1 gives d1 = 1/atol, d2 = 0, and
        // h1 = (0.01 atol)^(1/5) = 6.3e-3 exceeds 100 h0 = 1e-4.
        let h = start(|_, _| 1.0, 0.0, 0.0, 1.0, rtol, atol);
        assert!((h - 1e-4).abs() < 1e-18, "y0 = 0: {h}");
        // f = 0: d1 = d2 = 0, so h1 = max(1e-3 h0, 1e-6) = 1e-6 with h0 = 1e-6.
        let h = start(|_, _| 0.0, 0.0, 1.0, 1.0, rtol, atol);
        assert!((h - 1e-6).abs() < 1e-20, "f = 0: {h}");
        // The thresholds are strict: with atol = 1 and a negligible rtol, sc = 1 exactly, so
        // y0 = 1e-5 puts d0 on the threshold (h0 = 0.01 d0 / d1 = 1e-7, not 1e-6) and f = 1e-5
        // puts d1 on it (h0 = 1000, h = (0.01 / 1e-5)^(1/5)).
        let h = start(|_, _| 1.0, 0.0, 1e-5, 1.0, 1e-300, 1.0);
        assert!((h - 1e-5).abs() < 1e-19, "d0 = 1e-5: {h}");
        let h = start(|_, _| 1e-5, 0.0, 1.0, 1.0, 1e-300, 1.0);
        let want = 1000f64.powf(0.2);
        assert!((h - want).abs() < 1e-14, "d1 = 1e-5: {h} vs {want}");
    }

    /// After an accepted step the size is multiplied by the controller's factor (clamped to
    /// [0.2, 5]): on the smooth decay `y' = -y` the steps then track the error estimate and
    /// none is rejected. Adding the factor instead grows every step by at least 0.2, far past
    /// the tolerance, and each growth is rejected.
    #[test]
    fn smooth_decay_is_integrated_without_rejections() {
        let f = |_t: f64, y: ArrayView2<f64>| Ok(y.mapv(|v| -v));
        let opts = Dopri5Options::new(1e-8, 1e-12);
        let sol = dopri5(f, 0.0, 10.0, Array2::from_elem((1, 1), 1.0), &opts).unwrap();
        assert_eq!(sol.n_rejected, 0, "{} steps", sol.n_steps);
        assert!(sol.n_steps > 20, "{} steps", sol.n_steps);
    }
}
