//! Adam optimiser (Kingma & Ba, *Adam: A Method for Stochastic Optimization*,
//! ICLR 2015, Algorithm 1), with bias-corrected moment estimates.
use crate::{error::positive, Error, Result};
use ndarray::{Array2, Zip};

/// Adam state. At step `t`, for each parameter `θ` with gradient `g`:
///
/// ```text
/// m ← β₁ m + (1−β₁) g          v ← β₂ v + (1−β₂) g²
/// m̂ = m / (1−β₁ᵗ)              v̂ = v / (1−β₂ᵗ)
/// θ ← θ − lr · m̂ / (√v̂ + ε)
/// ```
///
/// A moment that falls below the smallest normal number is stored as zero. Without this, the
/// moments of a parameter whose gradient stays zero (the weights of a dead ReLU unit) decay
/// geometrically into the subnormals and stay there (`0.9 · 2⁻¹⁰⁷⁴` rounds back to `2⁻¹⁰⁷⁴`,
/// and `0.9 · 2⁻¹⁴⁹` to `2⁻¹⁴⁹` in `f32`), and every later step pays the CPU's slow path for
/// subnormal operands (the fused trainer ran workload A 14% slower in `f32`). The step such a
/// moment would make, `lr · m̂ / (√v̂ + ε)` with `|m|` below the smallest normal, is below the
/// rounding unit of any parameter not itself that close to zero, so nothing else changes in
/// practice. The fused trainer does the same.
///
/// The moments are allocated at the first [`step`](Adam::step); later steps allocate nothing.
#[derive(Debug, Clone)]
pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: u64,
    m: Vec<Array2<f64>>,
    v: Vec<Array2<f64>>,
}

/// `0` for a subnormal `x` (or `±0`), else `x` (the moments' flush, see [`Adam`]; the fused
/// trainer's `Float::flush_subnormal` is the same test).
fn flush_subnormal(x: f64) -> f64 {
    if x > -f64::MIN_POSITIVE && x < f64::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

fn in_unit(x: f64, name: &'static str) -> Result<f64> {
    if (0.0..1.0).contains(&x) {
        Ok(x)
    } else {
        Err(Error::param(name, format!("must be in [0, 1), got {x}")))
    }
}

impl Adam {
    /// Adam with learning rate `lr` (finite, > 0) and the paper's defaults
    /// `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`.
    pub fn new(lr: f64) -> Result<Adam> {
        Ok(Adam {
            lr: positive(lr, "lr")?,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        })
    }

    /// Replaces `β₁, β₂` (each in `[0, 1)`).
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Result<Adam> {
        self.beta1 = in_unit(beta1, "beta1")?;
        self.beta2 = in_unit(beta2, "beta2")?;
        Ok(self)
    }

    /// Replaces `ε` (finite, > 0).
    pub fn with_eps(mut self, eps: f64) -> Result<Adam> {
        self.eps = positive(eps, "eps")?;
        Ok(self)
    }

    /// Changes the learning rate (e.g. for a schedule); finite, > 0.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.lr = positive(lr, "lr")?;
        Ok(())
    }

    /// Learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// `(β₁, β₂)`.
    pub fn betas(&self) -> (f64, f64) {
        (self.beta1, self.beta2)
    }

    /// `ε`.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// One update of every parameter. `params[k]` and `grads[k]` must have the same
    /// shape (and, after the first step, the shapes seen then); gradients must be finite.
    /// On error nothing is modified.
    pub fn step(&mut self, params: Vec<&mut Array2<f64>>, grads: &[Array2<f64>]) -> Result<()> {
        if params.len() != grads.len() {
            return Err(Error::shape(
                "Adam::step (number of gradients)",
                params.len(),
                grads.len(),
            ));
        }
        if !self.m.is_empty() && self.m.len() != params.len() {
            return Err(Error::shape(
                "Adam::step (number of parameters since first step)",
                self.m.len(),
                params.len(),
            ));
        }
        for (k, (p, g)) in params.iter().zip(grads).enumerate() {
            if p.dim() != g.dim() {
                return Err(Error::shape(
                    format!("Adam::step gradient {k}"),
                    format!("{:?}", p.dim()),
                    format!("{:?}", g.dim()),
                ));
            }
            if let Some(m) = self.m.get(k) {
                if m.dim() != p.dim() {
                    return Err(Error::shape(
                        format!("Adam::step parameter {k} (shape since first step)"),
                        format!("{:?}", m.dim()),
                        format!("{:?}", p.dim()),
                    ));
                }
            }
            crate::error::all_finite(g.iter(), &format!("Adam::step gradient {k}"))?;
        }
        if self.m.is_empty() {
            self.m = grads.iter().map(|g| Array2::zeros(g.raw_dim())).collect();
            self.v = grads.iter().map(|g| Array2::zeros(g.raw_dim())).collect();
        }
        self.t += 1;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let t = i32::try_from(self.t).unwrap_or(i32::MAX);
        // 1/(1-β^t); for huge t, β^t underflows to 0 and the correction is 1.
        let c1 = 1.0 / (1.0 - b1.powi(t));
        let c2 = 1.0 / (1.0 - b2.powi(t));
        let lr = self.lr;
        for (((p, g), m), v) in params
            .into_iter()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            Zip::from(p).and(g).and(m).and(v).for_each(|p, &g, m, v| {
                *m = flush_subnormal(b1 * *m + (1.0 - b1) * g);
                *v = flush_subnormal(b2 * *v + (1.0 - b2) * g * g);
                *p -= lr * (*m * c1) / ((*v * c2).sqrt() + eps);
            });
        }
        Ok(())
    }

    /// Forgets the moments and the step count (the next step starts afresh).
    pub fn reset(&mut self) {
        self.t = 0;
        self.m.clear();
        self.v.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::flush_subnormal;

    /// The smallest normal numbers of either sign are kept; everything strictly between them
    /// (the subnormals of both signs, and zero) becomes `+0`.
    #[test]
    fn flush_keeps_the_normals_and_zeroes_the_subnormals() {
        let min = f64::MIN_POSITIVE;
        for x in [min, -min, 1.0, -3.5] {
            assert_eq!(flush_subnormal(x), x);
        }
        for x in [min / 2.0, -min / 2.0, 5e-324, -0.0] {
            assert_eq!(flush_subnormal(x).to_bits(), 0, "{x:e}");
        }
    }
}
