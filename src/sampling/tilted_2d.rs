//! The tilted law `q(x) ∝ p_0(x | y) p_0(y | x)^γ` of a **2-D** labelled mixture (the
//! guidance chapter's eq. for `q_w`, with `γ = w` for classifier-free guidance at strength
//! `w`), normalised by a tensor Gauss-Legendre rule on a square `[lo, hi]²`.
//!
//! The rule is `panels` Gauss-Legendre panels of 8 nodes on each axis. The integrand is a
//! product of Gaussians and a smooth posterior, so the rule converges spectrally: halving the
//! panel width changes the normaliser by less than 1e-10 (observed ~1e-12) for the chapter's example
//! (`tests/guidance_2d.rs::tilted_2d_normaliser_is_the_expected_tilt`). The law's summaries
//! (`E_q f` for any `f`, the mean, the covariance) use the same nodes; its projection on a
//! direction `θ` (the law of `θ·X`, for sliced distances) is `f_θ(u) = ∫ q(uθ + vθ^⊥) dv`,
//! by Gauss-Legendre in `v`, with its CDF by the cumulative trapezoid rule in `u` (error
//! `O(h²)`). Exact draws come by rejection from `p_0(x | y)`: for `γ >= 0`,
//! `p_0(y | x)^γ <= 1` is the acceptance probability.
use ndarray::{Array1, Array2, ArrayView2};
use rand::RngExt;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mixture::{log_sum_exp, LabelledMixture};

/// `log p_0(x | y)` and `log p_0(y | x)` at one point, from the components' parameters
/// (scalar code, no allocation: the quadrature evaluates it ~10⁵ times per direction).
#[derive(Clone, Debug)]
struct LogTerms {
    /// Per component: `log w_i - Σ_k log s_ik - log 2π`, mean, std, and whether it is of class `y`.
    log_c: Vec<f64>,
    means: Vec<[f64; 2]>,
    stds: Vec<[f64; 2]>,
    in_class: Vec<bool>,
    log_py: f64,
}

impl LogTerms {
    fn new(p0: &LabelledMixture, y: usize) -> Result<Self> {
        let mix = p0.mixture();
        if mix.dim() != 2 {
            return Err(Error::shape("2-D tilted law", "d = 2", mix.dim()));
        }
        p0.conditional(y)?; // refuses a class that does not exist
        let k = mix.n_components();
        let (m, s) = (mix.means(), mix.stds());
        Ok(Self {
            log_c: (0..k)
                .map(|i| {
                    mix.weights()[i].ln()
                        - s[[i, 0]].ln()
                        - s[[i, 1]].ln()
                        - (2.0 * std::f64::consts::PI).ln()
                })
                .collect(),
            means: (0..k).map(|i| [m[[i, 0]], m[[i, 1]]]).collect(),
            stds: (0..k).map(|i| [s[[i, 0]], s[[i, 1]]]).collect(),
            in_class: p0.labels().iter().map(|&c| c == y).collect(),
            log_py: p0.class_prior()[y].ln(),
        })
    }

    /// `(log p_0(x | y), log p_0(y | x))`.
    fn at(&self, x: [f64; 2]) -> (f64, f64) {
        let logs = (0..self.log_c.len()).map(|i| {
            let a = (x[0] - self.means[i][0]) / self.stds[i][0];
            let b = (x[1] - self.means[i][1]) / self.stds[i][1];
            self.log_c[i] - 0.5 * (a * a + b * b)
        });
        let class = log_sum_exp(
            logs.clone()
                .zip(&self.in_class)
                .filter(|p| *p.1)
                .map(|p| p.0),
        );
        let all = log_sum_exp(logs);
        (class - self.log_py, class - all)
    }
}

/// `q(x) ∝ p_0(x | y) p_0(y | x)^γ` on `[lo, hi]²`, normalised by tensor Gauss-Legendre.
#[derive(Clone, Debug)]
pub struct TiltedLaw2d {
    terms: LogTerms,
    gamma: f64,
    lo: f64,
    hi: f64,
    panels: usize,
    /// `∫ p_0(x | y) p_0(y | x)^γ dx = E_{p_0(x | y)}[p_0(y | x)^γ]`.
    z: f64,
    nodes: Array2<f64>,
    /// Quadrature weight times `q` at each node (sums to one).
    mass: Array1<f64>,
}

/// `panels` Gauss-Legendre panels of 8 nodes on `[lo, hi]`: nodes and weights.
fn gl_rule(lo: f64, hi: f64, panels: usize) -> Vec<(f64, f64)> {
    let w = (hi - lo) / panels as f64;
    (0..panels)
        .flat_map(|p| {
            let c = lo + (p as f64 + 0.5) * w;
            crate::quadrature::GL8
                .iter()
                .map(move |&(x, g)| (c + 0.5 * w * x, 0.5 * w * g))
        })
        .collect()
}

impl TiltedLaw2d {
    /// Errors unless `p0` is 2-D, `y` one of its classes, `γ` finite, `lo < hi` finite,
    /// `panels >= 1` and the normaliser positive.
    pub fn new(
        p0: &LabelledMixture,
        y: usize,
        gamma: f64,
        lo: f64,
        hi: f64,
        panels: usize,
    ) -> Result<Self> {
        let terms = LogTerms::new(p0, y)?;
        crate::error::finite(gamma, "tilt exponent")?;
        check_box(lo, hi, panels)?;
        let rule = gl_rule(lo, hi, panels);
        let n = rule.len();
        let mut nodes = Array2::zeros((n * n, 2));
        let mut mass = Array1::zeros(n * n);
        for (i, &(a, wa)) in rule.iter().enumerate() {
            for (j, &(b, wb)) in rule.iter().enumerate() {
                let (lc, lp) = terms.at([a, b]);
                nodes[[i * n + j, 0]] = a;
                nodes[[i * n + j, 1]] = b;
                mass[i * n + j] = wa * wb * (lc + gamma * lp).exp();
            }
        }
        let z = mass.sum();
        crate::error::positive(z, "2-D tilted law's normaliser")?;
        mass /= z;
        Ok(Self {
            terms,
            gamma,
            lo,
            hi,
            panels,
            z,
            nodes,
            mass,
        })
    }

    /// The normaliser `Z = E_{p_0(x | y)}[p_0(y | x)^γ]` (`p_0(x | y)` is normalised).
    pub fn normaliser(&self) -> f64 {
        self.z
    }

    /// The density `q(x)` at each row of `x` (`[n, 2]`).
    pub fn pdf(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        if x.ncols() != 2 {
            return Err(Error::shape("points", "[n, 2]", format!("{:?}", x.dim())));
        }
        Ok(x.rows()
            .into_iter()
            .map(|r| self.unnormalised([r[0], r[1]]) / self.z)
            .collect())
    }

    fn unnormalised(&self, x: [f64; 2]) -> f64 {
        let (lc, lp) = self.terms.at(x);
        (lc + self.gamma * lp).exp()
    }

    /// `E_q f(X)` by the tensor rule; `f` maps the `[N², 2]` nodes to one value each.
    pub fn expectation(&self, f: impl Fn(ArrayView2<f64>) -> Result<Array1<f64>>) -> Result<f64> {
        let v = f(self.nodes.view())?;
        if v.len() != self.mass.len() {
            return Err(Error::shape(
                "values at the nodes",
                self.mass.len(),
                v.len(),
            ));
        }
        Ok(v.dot(&self.mass))
    }

    /// The mean vector `E_q X`.
    pub fn mean(&self) -> [f64; 2] {
        let m = self.nodes.t().dot(&self.mass);
        [m[0], m[1]]
    }

    /// The covariance matrix `E_q (X - m)(X - m)ᵀ`.
    pub fn covariance(&self) -> [[f64; 2]; 2] {
        let m = self.mean();
        let mut c = [[0.0; 2]; 2];
        for (r, &p) in self.nodes.rows().into_iter().zip(&self.mass) {
            let d = [r[0] - m[0], r[1] - m[1]];
            for a in 0..2 {
                for b in 0..2 {
                    c[a][b] += p * d[a] * d[b];
                }
            }
        }
        c
    }

    /// The law of `θ·X` with `θ = (cos φ, sin φ)`: its CDF at `u = -R, -R + h, …, R`
    /// (`R = max(|lo|, |hi|)`), from `f_φ(u) = ∫_{-R}^{R} q(uθ + vθ^⊥) dv` (Gauss-Legendre in
    /// `v` with the panel width of the 2-D rule) and the cumulative trapezoid rule in `u`.
    /// Returns `(u, F(u))`; `F` is not rescaled, so `|F(R) - 1|` measures the two rules' error.
    pub fn projected_cdf(&self, angle: f64, h: f64) -> Result<(Vec<f64>, Vec<f64>)> {
        crate::error::finite(angle, "direction angle")?;
        crate::error::positive(h, "projection grid step")?;
        let r = self.lo.abs().max(self.hi.abs());
        let n_u = (2.0 * r / h).round() as usize + 1;
        if n_u > 10_000_000 {
            return Err(Error::param("projection grid step", "too fine"));
        }
        let width = (self.hi - self.lo) / self.panels as f64;
        let rule = gl_rule(-r, r, ((2.0 * r / width).ceil() as usize).max(1));
        let (c, s) = (angle.cos(), angle.sin());
        let us: Vec<f64> = (0..n_u)
            .map(|k| -r + 2.0 * r * k as f64 / (n_u - 1) as f64)
            .collect();
        let dens: Vec<f64> = us
            .iter()
            .map(|&u| {
                rule.iter()
                    .map(|&(v, wv)| wv * self.unnormalised([u * c - v * s, u * s + v * c]))
                    .sum::<f64>()
                    / self.z
            })
            .collect();
        let mut cdf = vec![0.0; n_u];
        for k in 1..n_u {
            cdf[k] = cdf[k - 1] + 0.5 * (us[k] - us[k - 1]) * (dens[k] + dens[k - 1]);
        }
        Ok((us, cdf))
    }

    /// [`Self::projected_cdf`] for each angle, in parallel.
    pub fn projected_cdfs(&self, angles: &[f64], h: f64) -> Result<Vec<(Vec<f64>, Vec<f64>)>> {
        angles
            .par_iter()
            .map(|&a| self.projected_cdf(a, h))
            .collect()
    }

    /// `n` exact draws of `q`, by rejection from `p_0(x | y)` with acceptance `p_0(y | x)^γ`
    /// (`γ >= 0` only, where it is at most one). The draws are not confined to the box.
    /// Errors for `γ < 0` or an acceptance rate `Z` below 1e-4.
    pub fn sample(
        &self,
        p0: &LabelledMixture,
        y: usize,
        n: usize,
        rng: &mut dyn rand::Rng,
    ) -> Result<Array2<f64>> {
        if self.gamma < 0.0 {
            return Err(Error::param(
                "tilt exponent",
                format!("rejection needs γ >= 0, got {}", self.gamma),
            ));
        }
        if self.z < 1e-4 {
            return Err(Error::param(
                "tilted law",
                format!("acceptance rate {:e} too low for rejection", self.z),
            ));
        }
        let proposal = p0.conditional(y)?;
        let mut out = Vec::with_capacity(2 * n);
        while out.len() < 2 * n {
            let want = n - out.len() / 2;
            let batch = proposal.sample(((want as f64 / self.z) * 1.1) as usize + 16, rng);
            for r in batch.rows() {
                let (_, lp) = self.terms.at([r[0], r[1]]);
                if out.len() < 2 * n && rng.random::<f64>() < (self.gamma * lp).exp() {
                    out.extend([r[0], r[1]]);
                }
            }
        }
        Array2::from_shape_vec((n, 2), out).map_err(|e| Error::param("draws", e.to_string()))
    }
}

fn check_box(lo: f64, hi: f64, panels: usize) -> Result<()> {
    crate::error::finite(lo, "lo")?;
    crate::error::finite(hi, "hi")?;
    if lo >= hi || panels == 0 {
        return Err(Error::param(
            "quadrature box",
            format!("need lo < hi and panels >= 1, got [{lo}, {hi}], {panels} panels"),
        ));
    }
    Ok(())
}
