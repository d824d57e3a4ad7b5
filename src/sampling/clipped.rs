//! Static thresholding of the denoiser: a score whose Tweedie prediction of `x_0` is clipped
//! to the data's box, so that every sampler that reads the score (or the denoiser built from
//! it, as DPM-Solver++ does) sees predictions inside the range the data occupy.
//!
//! Tweedie's formula gives the denoiser of a score `s` at time `t`,
//! `D(t, x) = (x + zeta(t)^2 s(t, x)) / mu(t)`, which for the exact score is
//! `E[x_0 | x_t = x]`. When the data lie in a box `[lo, hi]^d`, that conditional mean is an
//! average of points of the box, so it lies in the box too: clipping the exact score's
//! denoiser to the box changes nothing. A learnt score need not respect this; clipping
//! replaces its denoiser by the nearest point of the box and inverts Tweedie's formula,
//!
//! ```text
//! s_clip(t, x) = (mu(t) clip(D(t, x), lo, hi) - x) / zeta(t)^2,
//! ```
//!
//! the "clip_denoised" of Ho et al. (2020)'s ancestral sampler and the static thresholding of
//! Saharia et al. (2022), written as a score so that it serves every sampler of the crate.
use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// A score whose denoiser is clipped to `[lo, hi]` in every coordinate.
pub struct ClippedDenoiser<'a> {
    score: &'a dyn ScoreFn,
    sde: &'a dyn LinearSde,
    lo: f64,
    hi: f64,
}

impl<'a> ClippedDenoiser<'a> {
    /// Clips the denoiser of `score` under `sde` to `[lo, hi]`. Errors unless `lo < hi`, both
    /// finite.
    pub fn new(score: &'a dyn ScoreFn, sde: &'a dyn LinearSde, lo: f64, hi: f64) -> Result<Self> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::param(
                "clipping range",
                format!("needs finite lo < hi, got [{lo}, {hi}]"),
            ));
        }
        Ok(Self { score, sde, lo, hi })
    }

    /// The clipped denoiser `clip((x + zeta^2 s(t, x)) / mu, lo, hi)` for each row of `x`.
    /// Errors where `zeta(t)` or `mu(t)` is not finite and positive.
    pub fn denoise(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let (mu, var) = self.kernel(t)?;
        let s = self.score.score(t, x)?;
        crate::sde::check_same("score output", x.dim(), s.dim())?;
        let (lo, hi) = (self.lo, self.hi);
        Ok((&x + &(s * var)).mapv(|v| (v / mu).clamp(lo, hi)))
    }

    fn kernel(&self, t: f64) -> Result<(f64, f64)> {
        crate::error::finite(t, "t")?;
        let (mu, zeta) = (self.sde.mean_factor(t), self.sde.kernel_std(t));
        if !(mu > 0.0 && mu.is_finite() && zeta > 0.0 && zeta.is_finite()) {
            return Err(Error::param(
                "t",
                format!(
                    "mu(t) = {mu}, zeta(t) = {zeta} at t = {t}: Tweedie's denoiser is undefined"
                ),
            ));
        }
        Ok((mu, zeta * zeta))
    }
}

impl ScoreFn for ClippedDenoiser<'_> {
    /// `(mu clip(D) - x) / zeta^2`.
    fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let (mu, var) = self.kernel(t)?;
        let d = self.denoise(t, x)?;
        Ok((d * mu - x) / var)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sde::Vp;
    use ndarray::array;

    /// The score of `N(0, v I)` data under `sde`: `-x / (mu^2 v + zeta^2)`.
    struct GaussianScore<'a>(&'a dyn LinearSde, f64);

    impl ScoreFn for GaussianScore<'_> {
        fn score(&self, t: f64, x: ArrayView2<f64>) -> Result<Array2<f64>> {
            let (m, z) = (self.0.mean_factor(t), self.0.kernel_std(t));
            Ok(x.mapv(|v| -v / (m * m * self.1 + z * z)))
        }
    }

    #[test]
    fn clips_the_denoiser_and_inverts_tweedie() {
        let sde = Vp::song();
        let inner = GaussianScore(&sde, 4.0);
        let c = ClippedDenoiser::new(&inner, &sde, -1.0, 1.0).unwrap();
        let t = 0.3;
        let (m, z) = (sde.mean_factor(t), sde.kernel_std(t));
        let x = array![[3.0, -0.2], [-5.0, 0.1]];
        // Unclipped: D = m v x / (m^2 v + z^2).
        let d = x.mapv(|v| m * 4.0 * v / (m * m * 4.0 + z * z));
        let got = c.denoise(t, x.view()).unwrap();
        for (g, dv) in got.iter().zip(&d) {
            assert!((g - dv.clamp(-1.0, 1.0)).abs() < 1e-14, "{g} vs clip({dv})");
        }
        assert!(d[[0, 0]] > 1.0 && d[[1, 0]] < -1.0 && d[[0, 1]].abs() < 1.0);
        let s = c.score(t, x.view()).unwrap();
        let s_inner = inner.score(t, x.view()).unwrap();
        for ((sv, si), (xv, dv)) in s.iter().zip(&s_inner).zip(x.iter().zip(&d)) {
            let want = if dv.abs() <= 1.0 {
                *si
            } else {
                (m * dv.clamp(-1.0, 1.0) - xv) / (z * z)
            };
            assert!(
                (sv - want).abs() < 1e-12 * want.abs().max(1.0),
                "{sv} vs {want}"
            );
        }
    }

    #[test]
    fn refuses_bad_ranges_and_times() {
        let sde = Vp::song();
        let inner = GaussianScore(&sde, 1.0);
        for (lo, hi) in [
            (1.0, 1.0),
            (1.0, -1.0),
            (f64::NAN, 1.0),
            (-1.0, f64::INFINITY),
        ] {
            assert!(ClippedDenoiser::new(&inner, &sde, lo, hi).is_err());
        }
        let c = ClippedDenoiser::new(&inner, &sde, -1.0, 1.0).unwrap();
        let x = array![[0.5]];
        assert!(c.score(0.0, x.view()).is_err());
        assert!(c.score(f64::NAN, x.view()).is_err());
        // mu(t) = 0 (x_t carries nothing of x_0): no denoiser, an error, not a division by 0.
        let forgot = Forgetful;
        let inner = GaussianScore(&forgot, 1.0);
        let c = ClippedDenoiser::new(&inner, &forgot, -1.0, 1.0).unwrap();
        assert!(c.denoise(0.5, x.view()).is_err());
        assert!(c.score(0.5, x.view()).is_err());
    }

    /// A linear SDE whose kernel has mean factor 0 and unit variance at every `t`.
    struct Forgetful;

    impl LinearSde for Forgetful {
        fn name(&self) -> String {
            "forgetful".into()
        }
        fn t_max(&self) -> f64 {
            1.0
        }
        fn drift_coef(&self, _: f64) -> f64 {
            0.0
        }
        fn diffusion(&self, _: f64) -> f64 {
            1.0
        }
        fn mean_factor(&self, _: f64) -> f64 {
            0.0
        }
        fn kernel_var(&self, _: f64) -> f64 {
            1.0
        }
    }
}
