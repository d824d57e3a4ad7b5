//! The Langevin corrector with the signal-to-noise step rule (Song et al. 2020, Algorithm 4/5):
//! at time `t`, repeat `n_steps` times
//! `ε = 2 α (r ||z|| / ||s||)^2`, `x ← x + ε s(t, x) + sqrt(2 ε) z`,
//! where `r` is the target signal-to-noise ratio, `||·||` the Euclidean norm of a row averaged
//! over the batch (as in `score_sde`), and `α` the discrete mean factor squared of the last
//! predictor step (`1` for VE, `1 - beta_i` for VP).
use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::score::ScoreFn;

/// Settings of the Langevin corrector.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LangevinCorrector {
    /// Target signal-to-noise ratio `r` (Song et al.: 0.16 for VE on CIFAR-10).
    pub snr: f64,
    /// Corrector steps per time.
    pub n_steps: usize,
}

impl LangevinCorrector {
    /// Checks `snr > 0`.
    pub fn validate(&self) -> Result<()> {
        crate::error::positive(self.snr, "snr").map(|_| ())
    }

    /// Applies the corrector at time `t` to `x`; returns the number of score evaluations.
    pub fn correct(
        &self,
        score: &dyn ScoreFn,
        t: f64,
        alpha: f64,
        x: &mut Array2<f64>,
        rng: &mut dyn Rng,
    ) -> Result<usize> {
        self.validate()?;
        for _ in 0..self.n_steps {
            let s = score.score(t, x.view())?;
            crate::sde::check_same("score output", x.dim(), s.dim())?;
            let z = Array2::from_shape_simple_fn(x.dim(), || rng.sample::<f64, _>(StandardNormal));
            let (gn, zn) = (mean_row_norm(s.view()), mean_row_norm(z.view()));
            if gn == 0.0 {
                return Err(Error::NonFinite {
                    what: format!("Langevin corrector step: the score is zero at t = {t}"),
                });
            }
            let eps = 2.0 * alpha * (self.snr * zn / gn).powi(2);
            // A Langevin step of size 2 eps (`x + (2 eps / 2) s + sqrt(2 eps) z`), with the
            // noise z whose norm set eps.
            let (h, sq) = (eps, (2.0 * eps).sqrt());
            ndarray::Zip::from(&mut *x)
                .and(&s)
                .and(&z)
                .for_each(|x, &s, &z| *x += h * s + sq * z);
        }
        Ok(self.n_steps)
    }
}

/// The Euclidean norm of each row, averaged over rows.
fn mean_row_norm(a: ArrayView2<f64>) -> f64 {
    let n = a.nrows().max(1) as f64;
    a.rows().into_iter().map(|r| r.dot(&r).sqrt()).sum::<f64>() / n
}
