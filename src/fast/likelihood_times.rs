//! Importance sampling of the training time for the likelihood weighting.
//!
//! The score loss with the likelihood weighting `λ(t) = g(t)²` (Song, Durkan, Murray, Ermon
//! 2021, eq. 8) is, in eps units (`s = −ε/ζ`),
//! `∫_{t_eps}^T g² E|s_θ − ∇log p_{0t}|² dt = ∫_{t_eps}^T h(t) E|ε_θ − ε|² dt`,
//! `h(t) = g(t)²/ζ(t)²`. For VP `h ≈ 1/t` near 0, so a uniform `t` gives weights that span
//! three orders of magnitude on `[10^-3, 1]`. Drawing `t` from `q(t) = h(t)/Z`,
//! `Z = ∫_{t_eps}^T h`, and weighting each row by `w(t) = h(t)/(Z q(t))` gives
//! `E_q[w(t) f(t)] = ∫ h f dt / Z` for any `f`: the likelihood-weighted loss divided by the
//! constant `Z`, so the weights are near 1 and the loss stays on the eps loss's scale.
//!
//! `q` is tabulated: the cumulative integral `C(t) = ∫_{t_eps}^t h` at log-spaced nodes
//! (8-point Gauss-Legendre per segment), linear between nodes. The `q` used is the exact
//! density of that table (constant on each segment, `q = (C_{k+1} − C_k)/(Z (t_{k+1} − t_k))`),
//! and `w` divides by it, so the estimator is unbiased however accurate the table is; the
//! table's accuracy only sets how close `w` is to 1. The table works for any [`LinearSde`]
//! with `h` finite and positive on `[t_eps, T]`; for VP, `C` has the closed form
//! `ln expm1(B(t)) − ln expm1(B(t_eps))`, `B = ∫_0^t β` (checked in `tests/digits_likelihood.rs`).
use crate::error::{Error, Result};
use crate::quadrature::GL8;
use crate::sde::LinearSde;

/// `h(t) = g(t)²/ζ(t)²`: the likelihood weighting in eps units.
pub fn likelihood_weight(sde: &dyn LinearSde, t: f64) -> f64 {
    let g = sde.diffusion(t);
    g * g / sde.kernel_var(t)
}

/// The table of `C(t) = ∫_{t_eps}^t g²/ζ² ds` and the time density `q ∝ g²/ζ²` it defines,
/// built once per SDE and `t_eps`.
#[derive(Clone, Debug)]
pub struct LikelihoodTimes {
    /// Nodes `t_eps = t_0 < ... < t_N = T`, log-spaced.
    nodes: Vec<f64>,
    /// `C(t_k)`, `C(t_0) = 0`, `C(t_N) = Z`.
    cumulative: Vec<f64>,
    /// `h(t_0)`, to recognise the SDE the table was built for.
    h0: f64,
}

impl LikelihoodTimes {
    /// Segments of the table (log-spaced: the ratio of neighbouring nodes is
    /// `(T/t_eps)^(1/SEGMENTS)`).
    pub const SEGMENTS: usize = 512;

    /// The table for `sde` on `[t_eps, T]`. Errors on `t_eps` outside `(0, T)` and on a
    /// `g²/ζ²` that is not finite and positive at a quadrature node.
    pub fn new(sde: &dyn LinearSde, t_eps: f64) -> Result<Self> {
        crate::loss::check_t_eps(sde, t_eps)?;
        let t_max = sde.t_max();
        let n = Self::SEGMENTS;
        let ratio = (t_max / t_eps).ln() / n as f64;
        let mut nodes: Vec<f64> = (0..=n).map(|k| t_eps * (ratio * k as f64).exp()).collect();
        nodes[0] = t_eps;
        nodes[n] = t_max;
        let h = |t: f64| -> Result<f64> {
            let v = likelihood_weight(sde, t);
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(Error::param(
                    "likelihood weighting",
                    format!("g²/ζ² = {v} at t = {t}: must be finite and positive on [t_eps, T]"),
                ))
            }
        };
        let mut cumulative = Vec::with_capacity(n + 1);
        cumulative.push(0.0);
        for k in 0..n {
            let (a, b) = (nodes[k], nodes[k + 1]);
            let (c, r) = (0.5 * (a + b), 0.5 * (b - a));
            let mut mass = 0.0;
            for &(x, w) in GL8.iter() {
                mass += w * h(c + r * x)?;
            }
            cumulative.push(cumulative[k] + r * mass);
        }
        Ok(Self {
            nodes,
            cumulative,
            h0: h(t_eps)?,
        })
    }

    /// The nodes `t_k`.
    pub fn nodes(&self) -> &[f64] {
        &self.nodes
    }

    /// `C(t_k) = ∫_{t_eps}^{t_k} g²/ζ²` by the table's quadrature.
    pub fn cumulative(&self) -> &[f64] {
        &self.cumulative
    }

    /// The total mass `Z = C(T)`.
    pub fn mass(&self) -> f64 {
        self.cumulative[self.cumulative.len() - 1]
    }

    /// The segment `k` with `t_k <= t < t_{k+1}` (the last one for `t = T`).
    fn segment_of_time(&self, t: f64) -> usize {
        let k = self.nodes.partition_point(|&s| s <= t);
        k.clamp(1, self.nodes.len() - 1) - 1
    }

    /// The table's density `q(t) = (C_{k+1} − C_k)/(Z (t_{k+1} − t_k))` on segment `k`; 0
    /// outside `[t_eps, T]`.
    pub fn density(&self, t: f64) -> f64 {
        let n = self.nodes.len() - 1;
        if !(t >= self.nodes[0] && t <= self.nodes[n]) {
            return 0.0;
        }
        let k = self.segment_of_time(t);
        let m = self.cumulative[k + 1] - self.cumulative[k];
        m / (self.mass() * (self.nodes[k + 1] - self.nodes[k]))
    }

    /// The time with `Q(t) = u` (`Q` the table's CDF, linear between nodes) for `u ∈ [0, 1)`,
    /// and its weight `w = h(t)/(Z q(t)) = h(t) (t_{k+1} − t_k)/(C_{k+1} − C_k)`. With
    /// `u ~ U[0, 1)`, `t ~ q` and `E[w f(t)] = ∫ h f dt / Z`. Allocates nothing.
    pub fn draw(&self, sde: &dyn LinearSde, u: f64) -> (f64, f64) {
        let target = u * self.mass();
        let n = self.nodes.len() - 1;
        let k = self
            .cumulative
            .partition_point(|&c| c <= target)
            .clamp(1, n)
            - 1;
        let (c0, c1) = (self.cumulative[k], self.cumulative[k + 1]);
        let (a, b) = (self.nodes[k], self.nodes[k + 1]);
        let t = (a + (target - c0) / (c1 - c0) * (b - a)).clamp(a, b);
        (t, likelihood_weight(sde, t) * (b - a) / (c1 - c0))
    }

    /// Errors unless the table was built for `t_eps`, `sde.t_max()` and this SDE's `h(t_eps)`.
    pub fn check(&self, sde: &dyn LinearSde, t_eps: f64) -> Result<()> {
        let n = self.nodes.len() - 1;
        let h0 = likelihood_weight(sde, t_eps);
        if t_eps != self.nodes[0]
            || sde.t_max() != self.nodes[n]
            || (h0 - self.h0).abs() > 1e-12 * self.h0
        {
            return Err(Error::param(
                "likelihood weighting",
                format!(
                    "the time table was built for [{}, {}], h(t_eps) = {}; the draw asks for [{t_eps}, {}], h(t_eps) = {h0}",
                    self.nodes[0],
                    self.nodes[n],
                    self.h0,
                    sde.t_max()
                ),
            ));
        }
        Ok(())
    }
}
