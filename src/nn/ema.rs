//! Exponential moving average of network weights (Polyak averaging), as used for the
//! sampling network in DDPM (Ho et al., 2020) and score SDEs (Song et al., 2021).
use super::Mlp;
use crate::{Error, Result};
use ndarray::Zip;

/// A shadow copy `θ̄` of a network, updated by `θ̄ ← d·θ̄ + (1−d)·θ`.
///
/// With [`with_warmup`](Ema::with_warmup) the `k`-th update (from `k = 0`) uses
/// `d_k = min(d, (1 + k)/(10 + k))` (the `num_updates` rule of TensorFlow's
/// `ExponentialMovingAverage`): without it the initial weights keep the weight `d^k` after
/// `k` updates, 0.135 after 2000 updates at `d = 0.999`, and a short run averages in its
/// random initialisation.
#[derive(Debug, Clone)]
pub struct Ema {
    decay: f64,
    shadow: Mlp,
    warmup: bool,
    updates: u64,
}

impl Ema {
    /// Starts the average at `model`'s weights; `decay` must lie in `[0, 1)`.
    pub fn new(model: &Mlp, decay: f64) -> Result<Ema> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::param(
                "decay",
                format!("must be in [0, 1), got {decay}"),
            ));
        }
        Ok(Ema {
            decay,
            shadow: model.clone(),
            warmup: false,
            updates: 0,
        })
    }

    /// Uses the warm-up decay `min(d, (1 + k)/(10 + k))` at the `k`-th update.
    pub fn with_warmup(mut self) -> Ema {
        self.warmup = true;
        self
    }

    /// The decay the next update uses.
    pub fn current_decay(&self) -> f64 {
        if self.warmup {
            let k = self.updates as f64;
            self.decay.min((1.0 + k) / (10.0 + k))
        } else {
            self.decay
        }
    }

    /// The decay `d`.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// `θ̄ ← d·θ̄ + (1−d)·θ` for every parameter. Errors (and changes nothing) if
    /// `current` does not have the shadow's architecture.
    pub fn update(&mut self, current: &Mlp) -> Result<()> {
        let (a, b) = (self.shadow.parameters(), current.parameters());
        if a.len() != b.len() || a.iter().zip(&b).any(|(x, y)| x.dim() != y.dim()) {
            return Err(Error::shape(
                "Ema::update (network sizes)",
                format!("{:?}", self.shadow.sizes()),
                format!("{:?}", current.sizes()),
            ));
        }
        let d = self.current_decay();
        self.updates += 1;
        for (s, c) in self.shadow.parameters_mut().into_iter().zip(b) {
            Zip::from(s)
                .and(c)
                .for_each(|s, &c| *s = d * *s + (1.0 - d) * c);
        }
        Ok(())
    }

    /// The averaged network.
    pub fn model(&self) -> &Mlp {
        &self.shadow
    }

    /// Consumes the average, returning the averaged network.
    pub fn into_model(self) -> Mlp {
        self.shadow
    }
}
