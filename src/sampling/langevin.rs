//! One step of the unadjusted Langevin algorithm, the Euler-Maruyama discretisation of
//! `dX = ½ ∇log p(X) dt + dW` with step `α`:
//! `x ← x + (α/2) s(x) + sqrt(α) z`, `z ~ N(0, I)` (Roberts and Tweedie 1996).
//! For `p = N(m, v)` its stationary variance is `v / (1 - α / (4 v))`.
use ndarray::{Array2, ArrayView2, Zip};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::error::{Error, Result};

/// Applies one Langevin step of size `alpha` to every row of `x`, given the score `s` at `x`.
pub fn langevin_step(
    x: &mut Array2<f64>,
    s: ArrayView2<f64>,
    alpha: f64,
    rng: &mut dyn Rng,
) -> Result<()> {
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(Error::param(
            "alpha",
            format!("Langevin step must be finite and >= 0, got {alpha}"),
        ));
    }
    crate::sde::check_same("Langevin: score", x.dim(), s.dim())?;
    // ANCHOR: langevin_step
    let (h, sq) = (0.5 * alpha, alpha.sqrt());
    Zip::from(x).and(&s).for_each(|x, &s| {
        let z: f64 = rng.sample(StandardNormal);
        *x += h * s + sq * z;
    });
    // ANCHOR_END: langevin_step
    Ok(())
}
