//! DDIM (Song, Meng and Ermon 2021) in the sigma-parameterisation.
//!
//! From `sigma_c` to `sigma_n < sigma_c`, with `eps = eps(t_c, x)` and `D = y - sigma_c eps`:
//! `y_n = D + sigma_down eps + sigma_up z`, where
//! `sigma_up = eta sigma_n sqrt(1 - sigma_n^2 / sigma_c^2)` and
//! `sigma_down = sqrt(sigma_n^2 - sigma_up^2)`. The law of `y_n` given `x_0 = D` is
//! `N(x_0, sigma_n^2)` for every `eta`: the family keeps the forward marginals.
//! `eta = 0` is the Euler step of `dy/dsigma = eps` (and DPM-Solver-1); `eta = 1` is the
//! posterior `q(x_n | x_c, x_0 = D)`, i.e. the ancestral sampler.
use ndarray::Array2;
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use super::sigma::{check_grid, to_x, to_y, Model};
use crate::error::{Error, Result};

// ANCHOR: ddim
/// DDIM with parameter `eta >= 0` over the decreasing times `ts` (one evaluation per step).
pub fn ddim(
    model: &Model,
    x: Array2<f64>,
    ts: &[f64],
    eta: f64,
    rng: &mut dyn Rng,
) -> Result<Array2<f64>> {
    check_grid(model.sde, ts)?;
    if !(eta.is_finite() && eta >= 0.0) {
        return Err(Error::param(
            "eta",
            format!("must be finite and >= 0, got {eta}"),
        ));
    }
    let mut y = to_y(model.sde, ts[0], x);
    for w in ts.windows(2) {
        let (sc, sn) = (model.sigma(w[0]), model.sigma(w[1]));
        let eps = model.eps(w[0], y.view())?;
        let up = (eta * sn * (1.0 - (sn / sc).powi(2)).max(0.0).sqrt()).min(sn);
        let down = (sn * sn - up * up).max(0.0).sqrt();
        // y_n = (y - sc eps) + down eps + up z
        ndarray::Zip::from(&mut y).and(&eps).for_each(|y, &e| {
            let z: f64 = if up > 0.0 {
                rng.sample(StandardNormal)
            } else {
                0.0
            };
            *y += (down - sc) * e + up * z;
        });
    }
    Ok(to_x(model.sde, ts[ts.len() - 1], y))
}
// ANCHOR_END: ddim
