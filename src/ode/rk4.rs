//! The classical Runge-Kutta method of order 4 with `n_steps` equal steps `h = (t1 - t0) / n`:
//! `k1 = F(t, y)`, `k2 = F(t + h/2, y + h k1/2)`, `k3 = F(t + h/2, y + h k2/2)`,
//! `k4 = F(t + h, y + h k3)`, `y ← y + h (k1 + 2 k2 + 2 k3 + k4) / 6`. Global error `O(h^4)`;
//! four evaluations of `F` per step.
use ndarray::{Array2, ArrayView2, Zip};

use super::{check_interval, eval, OdeSolution};
use crate::error::{Error, Result};

/// Integrates `dy/dt = f(t, y)` from `(t0, y0)` to `t1` in `n_steps` RK4 steps.
pub fn rk4<F>(mut f: F, t0: f64, t1: f64, y0: Array2<f64>, n_steps: usize) -> Result<OdeSolution>
where
    F: FnMut(f64, ArrayView2<f64>) -> Result<Array2<f64>>,
{
    if n_steps == 0 {
        return Err(Error::param("n_steps", "must be >= 1"));
    }
    check_interval(t0, t1, &y0)?;
    let h = (t1 - t0) / n_steps as f64;
    let mut y = y0;
    let mut n_evals = 0;
    for i in 0..n_steps {
        let t = t0 + i as f64 * h;
        // The last step lands exactly on t1 (no round-off overshoot past the interval).
        let t_next = if i + 1 == n_steps {
            t1
        } else {
            t0 + (i + 1) as f64 * h
        };
        let (h, t_mid) = (t_next - t, 0.5 * (t + t_next));
        let k1 = eval(&mut f, t, y.view(), &mut n_evals)?;
        let y2 = &y + &(&k1 * (0.5 * h));
        let k2 = eval(&mut f, t_mid, y2.view(), &mut n_evals)?;
        let y3 = &y + &(&k2 * (0.5 * h));
        let k3 = eval(&mut f, t_mid, y3.view(), &mut n_evals)?;
        let y4 = &y + &(&k3 * h);
        let k4 = eval(&mut f, t_next, y4.view(), &mut n_evals)?;
        Zip::from(&mut y)
            .and(&k1)
            .and(&k2)
            .and(&k3)
            .and(&k4)
            .for_each(|y, &a, &b, &c, &d| *y += h / 6.0 * (a + 2.0 * b + 2.0 * c + d));
    }
    Ok(OdeSolution {
        y,
        n_evals,
        n_steps,
        n_rejected: 0,
    })
}
