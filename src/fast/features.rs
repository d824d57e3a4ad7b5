//! How a network sees the diffusion time `t`: the features appended to each input row.
use rand::Rng;
use rand_distr::{Distribution, Normal};

use crate::error::{Error, Result};

/// The time features of a network input row `[x, f(t)]`.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeFeatures {
    /// `f(t) = t`: one feature (the seed's networks).
    Raw,
    /// Gaussian Fourier features (Tancik et al. 2020, as in Song et al. 2021's score networks):
    /// `f(t) = [sin(2π w_1 t), …, sin(2π w_K t), cos(2π w_1 t), …, cos(2π w_K t)]`, two per
    /// frequency `w_k`.
    GaussianFourier {
        /// The frequencies `w_k`.
        w: Vec<f64>,
    },
}

impl TimeFeatures {
    /// Fourier features with `frequencies` frequencies `w_k ~ N(0, scale²)` drawn from `rng`.
    /// Errors on `frequencies == 0` or a `scale` that is not finite and positive.
    pub fn gaussian_fourier(frequencies: usize, scale: f64, rng: &mut dyn Rng) -> Result<Self> {
        if frequencies == 0 {
            return Err(Error::param("frequencies", "must be >= 1"));
        }
        let normal = Normal::new(0.0, scale)
            .ok()
            .filter(|_| scale.is_finite() && scale > 0.0)
            .ok_or_else(|| Error::param("scale", format!("must be finite and > 0, got {scale}")))?;
        let w = (0..frequencies).map(|_| normal.sample(&mut *rng)).collect();
        Ok(TimeFeatures::GaussianFourier { w })
    }

    /// Fourier features with the given frequencies. Errors on an empty list or a non-finite `w_k`.
    pub fn fourier(w: Vec<f64>) -> Result<Self> {
        if w.is_empty() {
            return Err(Error::param("w", "need at least one frequency"));
        }
        crate::error::all_finite(w.iter(), "Fourier frequencies")?;
        Ok(TimeFeatures::GaussianFourier { w })
    }

    /// The number of features: 1, or twice the number of frequencies.
    pub fn count(&self) -> usize {
        match self {
            TimeFeatures::Raw => 1,
            TimeFeatures::GaussianFourier { w } => 2 * w.len(),
        }
    }

    /// Writes `f(t)` into `out`, which must hold [`count`](Self::count) values (else an error).
    pub fn write(&self, t: f64, out: &mut [f64]) -> Result<()> {
        crate::error::check_len("time features", self.count(), out.len())?;
        match self {
            TimeFeatures::Raw => out[0] = t,
            TimeFeatures::GaussianFourier { w } => {
                let (sin, cos) = out.split_at_mut(w.len());
                for ((s, c), &wk) in sin.iter_mut().zip(cos).zip(w) {
                    (*s, *c) = (std::f64::consts::TAU * wk * t).sin_cos();
                }
            }
        }
        Ok(())
    }
}
