//! DPM-Solver (Lu et al. 2022): the exponential integrator of the probability-flow ODE in
//! `lambda = -log sigma`.
//!
//! With `y = x / mu` the flow reads `dy/dlambda = -sigma eps = -e^{-lambda} eps`, so over a step
//! `h = lambda_n - lambda_c > 0` the exact solution is
//! `y_n = y_c - ∫_{lambda_c}^{lambda_n} e^{-lambda} eps(lambda) dlambda`, and the solvers
//! expand `eps` (or the denoiser `D`, for DPM-Solver++) in a Taylor series in `lambda`.
//! Every coefficient is written with `sigma_c - sigma_n = sigma_n (e^h - 1)`, which stays
//! finite when `sigma_n = 0` (`h = inf`); a step that ends at `sigma = 0` is taken at first
//! order (it lands on `D`), since the higher-order terms divide by `h` or by a step ratio that
//! is 0 there (the NaN of naive implementations).
use ndarray::{Array2, Zip};

use super::sigma::{check_grid, t_of_sigma, to_x, to_y, Model};
use crate::error::{Error, Result};

/// `(e^h - 1) / h - 1`, by its series below `|h| = 1e-3`.
fn phi2(h: f64) -> f64 {
    if h.abs() < 1e-3 {
        h / 2.0 + h * h / 6.0 + h * h * h / 24.0
    } else {
        h.exp_m1() / h - 1.0
    }
}

// ANCHOR: singlestep
/// Singlestep DPM-Solver of order 1, 2 or 3 (`order` evaluations per step; the intermediate
/// points at `lambda_c + r h` with `r = 1/2` for order 2, `r = 1/3, 2/3` for order 3).
pub fn dpm_solver(model: &Model, x: Array2<f64>, ts: &[f64], order: usize) -> Result<Array2<f64>> {
    check_grid(model.sde, ts)?;
    if !(1..=3).contains(&order) {
        return Err(Error::param(
            "order",
            format!("must be 1, 2 or 3, got {order}"),
        ));
    }
    let mut y = to_y(model.sde, ts[0], x);
    for w in ts.windows(2) {
        let (sc, sn) = (model.sigma(w[0]), model.sigma(w[1]));
        let e0 = model.eps(w[0], y.view())?;
        if order == 1 || sn == 0.0 {
            y.scaled_add(-(sc - sn), &e0);
            continue;
        }
        let h = (sc / sn).ln();
        // The state at lambda_c + r h by the first-order step.
        let sigma_at = |r: f64| sc * (-r * h).exp();
        if order == 2 {
            let s1 = sigma_at(0.5);
            let u = &y - &(&e0 * (sc - s1));
            let e1 = model.eps(t_of_sigma(model.sde, s1)?, u.view())?;
            // y_n = y - (sc - sn) [e0 + (e1 - e0) / (2 r)] with r = 1/2.
            y.scaled_add(-(sc - sn), &e1);
            continue;
        }
        let (r1, r2) = (1.0 / 3.0, 2.0 / 3.0);
        let (s1, s2) = (sigma_at(r1), sigma_at(r2));
        let u1 = &y - &(&e0 * (sc - s1));
        let d1 = model.eps(t_of_sigma(model.sde, s1)?, u1.view())? - &e0;
        let mut u2 = &y - &(&e0 * (sc - s2));
        u2.scaled_add(-s2 * r2 / r1 * phi2(r2 * h), &d1);
        let d2 = model.eps(t_of_sigma(model.sde, s2)?, u2.view())? - &e0;
        let c2 = sn / r2 * phi2(h);
        Zip::from(&mut y)
            .and(&e0)
            .and(&d2)
            .for_each(|y, &e, &d| *y -= (sc - sn) * e + c2 * d);
    }
    Ok(to_x(model.sde, ts[ts.len() - 1], y))
}
// ANCHOR_END: singlestep

// ANCHOR: multistep
/// DPM-Solver++(2M): multistep, second order, on the denoiser `D` (one evaluation per step).
/// `y_n = (sigma_n / sigma_c) y + (1 - sigma_n / sigma_c) D_eff`, with
/// `D_eff = (1 + 1/(2 r)) D_c - D_prev / (2 r)`, `r = h_prev / h`; first order on the first step
/// and on a step that ends at `sigma = 0`.
pub fn dpm_solver_pp_2m(model: &Model, x: Array2<f64>, ts: &[f64]) -> Result<Array2<f64>> {
    check_grid(model.sde, ts)?;
    let mut y = to_y(model.sde, ts[0], x);
    let mut prev: Option<(Array2<f64>, f64)> = None;
    for w in ts.windows(2) {
        let (sc, sn) = (model.sigma(w[0]), model.sigma(w[1]));
        let d = model.denoise(w[0], y.view())?;
        let ratio = sn / sc;
        let h = if sn > 0.0 {
            (sc / sn).ln()
        } else {
            f64::INFINITY
        };
        let d_eff = match &prev {
            Some((d_prev, h_prev)) if sn > 0.0 => {
                let r = h_prev / h;
                let a = 1.0 / (2.0 * r);
                &d * (1.0 + a) - d_prev * a
            }
            _ => d.clone(),
        };
        Zip::from(&mut y)
            .and(&d_eff)
            .for_each(|y, &de| *y = ratio * *y + (1.0 - ratio) * de);
        prev = Some((d, h));
    }
    Ok(to_x(model.sde, ts[ts.len() - 1], y))
}
// ANCHOR_END: multistep
