//! The exact output law of a deterministic 1-D sampler, by quadrature (no Monte Carlo).
//!
//! A deterministic sampler is a map `T` from its starting state `z ~ p_start` to its output.
//! We run it once on a batch of quadrature nodes `z_j` together with the tangent `T'(z_j)`:
//! every sampler is a sequence of linear combinations of states and score evaluations with
//! coefficients that depend only on the grid, so running it on the pairs `(z, 1)` with a
//! score that returns `(s(x), J_s(x) v)` for `(x, v)` ([`Tangent`]) carries the forward-mode
//! derivative through the whole sampler.
//!
//! - Where `T' > 0` at every node and `T` increases between nodes, `T` is monotone and the
//!   output's quantile function is `T(F_start^{-1}(u))`, so
//!   `W1 = ∫_0^1 |T(F_start^{-1}(u)) - F_0^{-1}(u)| du = ∫ p_start(z) |T(z) - F_0^{-1}(F_start(z))| dz`
//!   (the second form is the first after `u = F_start(z)`; composite 8-point Gauss-Legendre in
//!   `z`), and the output density at `T(z)` is `p_start(z) / T'(z)`, so
//!   `KL(q || p_0) = ∫ p_start(z) [log p_start(z) - log T'(z) - log p_0(T(z))] dz`, computed as
//!   `∫ p_start (ρ - 1 - log ρ) dz` with `ρ = p_0(T) T' / p_start` (the same value, since
//!   `∫ p_start ρ dz = 1`, with a non-negative integrand of second order in `log ρ`).
//! - Where coarse steps fold the line, the quantile formula is wrong; the output CDF is then
//!   `F_q(x) = P(T(Z) <= x)`, summed over the cells between nodes (`T` linear on a cell, the
//!   cell's mass spread evenly), and `W1 = ∫ |F_q - F_0| dx` by the trapezoid rule on a fine
//!   grid in `x`. No KL is given for a folded map.
use ndarray::{Array1, Array2, ArrayView2};
use statrs::function::erf::erfc;

use super::grid_law::Law1d;
use super::Sampler;
use crate::error::{Error, Result};
use crate::mixture::GaussianMixture;
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// A 1-D score lifted to pairs `(x, v)`: returns `(s(t, x), J_s(t, x) v)` column by column.
pub struct Tangent<'a>(pub &'a dyn ScoreFn);

impl ScoreFn for Tangent<'_> {
    fn score(&self, t: f64, xv: ArrayView2<f64>) -> Result<Array2<f64>> {
        if xv.ncols() != 2 {
            return Err(Error::shape("Tangent input", "2 columns", xv.ncols()));
        }
        let x = xv.slice(ndarray::s![.., 0..1]);
        let v = xv.slice(ndarray::s![.., 1..2]);
        let s = self.0.score(t, x)?;
        let jv = self.0.jvp(t, x, v)?;
        ndarray::concatenate(ndarray::Axis(1), &[s.view(), jv.view()])
            .map_err(|e| Error::param("Tangent", e.to_string()))
    }
}

/// A 1-D Gaussian mixture's CDF, survival function and density (by `erfc`, accurate in both
/// tails).
struct Mix1 {
    w: Vec<f64>,
    m: Vec<f64>,
    s: Vec<f64>,
}

impl Mix1 {
    fn new(p: &GaussianMixture) -> Result<Self> {
        if p.dim() != 1 {
            return Err(Error::shape("exact law", "d = 1", p.dim()));
        }
        Ok(Self {
            w: p.weights().to_vec(),
            m: p.means().column(0).to_vec(),
            s: p.stds().column(0).to_vec(),
        })
    }
    fn cdf(&self, x: f64) -> f64 {
        self.sum(|m, s| 0.5 * erfc(-(x - m) / (s * std::f64::consts::SQRT_2)))
    }
    fn sf(&self, x: f64) -> f64 {
        self.sum(|m, s| 0.5 * erfc((x - m) / (s * std::f64::consts::SQRT_2)))
    }
    fn pdf(&self, x: f64) -> f64 {
        let c = (2.0 * std::f64::consts::PI).sqrt();
        self.sum(|m, s| (-0.5 * ((x - m) / s).powi(2)).exp() / (s * c))
    }
    fn sum(&self, f: impl Fn(f64, f64) -> f64) -> f64 {
        (0..self.w.len())
            .map(|k| self.w[k] * f(self.m[k], self.s[k]))
            .sum()
    }
    /// `[min (m - r s), max (m + r s)]`.
    fn range(&self, r: f64) -> (f64, f64) {
        let lo = (0..self.w.len()).map(|k| self.m[k] - r * self.s[k]);
        let hi = (0..self.w.len()).map(|k| self.m[k] + r * self.s[k]);
        (
            lo.fold(f64::INFINITY, f64::min),
            hi.fold(f64::NEG_INFINITY, f64::max),
        )
    }
    /// The `x` with `F(x) = u` (lower half) or `S(x) = 1 - u` given as `(u, 1 - u)`, by
    /// bisection to the last bit.
    fn quantile(&self, u: f64, v: f64) -> f64 {
        let (mut lo, mut hi) = self.range(40.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            let below = if u < 0.5 {
                self.cdf(mid) < u
            } else {
                self.sf(mid) > v
            };
            if below {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

/// Quadrature weight below which a node is ignored by [`MapLaw::is_monotone`].
pub const NEGLIGIBLE: f64 = 1e-16;

/// A deterministic sampler's map `T` and its derivative on quadrature nodes of the start law.
#[derive(Clone, Debug)]
pub struct MapLaw {
    /// Nodes `z_j` (increasing), their quadrature weights, `T(z_j)` and `T'(z_j)`.
    pub z: Vec<f64>,
    pub weight: Vec<f64>,
    pub t: Vec<f64>,
    pub dt: Vec<f64>,
    /// Score evaluations of the run.
    pub nfe: usize,
    start: GaussianMixture,
}

impl MapLaw {
    /// Runs `sampler` (deterministic) on `panels` x 8 Gauss-Legendre nodes covering the start
    /// law `start` (a 1-D mixture: `N(0, zeta(T)^2)` or the exact `p_T`) over ±12 standard
    /// deviations of each component, with tangents.
    pub fn of(
        sampler: &Sampler,
        sde: &dyn LinearSde,
        score: &dyn ScoreFn,
        start: &GaussianMixture,
        ts: &[f64],
        panels: usize,
    ) -> Result<Self> {
        if !sampler.is_deterministic() {
            return Err(Error::param(
                "sampler",
                format!("{} is stochastic: it is not a map", sampler.label()),
            ));
        }
        if panels == 0 {
            return Err(Error::param("panels", "must be >= 1, got 0"));
        }
        let p = Mix1::new(start)?;
        let (lo, hi) = p.range(12.0);
        let width = (hi - lo) / panels as f64;
        let (mut z, mut weight) = (Vec::new(), Vec::new());
        for k in 0..panels {
            let c = lo + (k as f64 + 0.5) * width;
            for (x, w) in crate::quadrature::GL8 {
                z.push(c + 0.5 * width * x);
                weight.push(0.5 * width * w * p.pdf(c + 0.5 * width * x));
            }
        }
        let mut xv = Array2::ones((z.len(), 2));
        xv.column_mut(0).assign(&Array1::from(z.clone()));
        let tangent = Tangent(score);
        let mut rng = crate::rng::seeded(0);
        let (out, nfe) = sampler.run(sde, &tangent, xv, ts, &mut rng)?;
        Ok(Self {
            z,
            weight,
            t: out.column(0).to_vec(),
            dt: out.column(1).to_vec(),
            nfe,
            start: start.clone(),
        })
    }

    /// Whether `T' > 0` and `T` increases from node to node on the nodes that carry mass:
    /// nodes of quadrature weight below [`NEGLIGIBLE`] (the far tails, at most ~1e-13 of
    /// mass in all) are not checked, since a fold there moves `W1` by at most that mass times
    /// the width of the range, below 1e-11 here.
    pub fn is_monotone(&self) -> bool {
        let keep: Vec<usize> = (0..self.z.len())
            .filter(|&j| self.weight[j] >= NEGLIGIBLE)
            .collect();
        keep.iter().all(|&j| self.dt[j] > 0.0)
            && keep.windows(2).all(|w| self.t[w[1]] > self.t[w[0]])
    }

    /// The mass (quadrature weight) on nodes that carry mass and break monotonicity, and the
    /// range of those nodes in `z`; `None` for a monotone map.
    pub fn folded(&self) -> Option<(f64, f64, f64)> {
        let bad: Vec<usize> = (0..self.z.len())
            .filter(|&j| self.weight[j] >= NEGLIGIBLE)
            .filter(|&j| self.dt[j] <= 0.0 || (j > 0 && self.t[j] <= self.t[j - 1]))
            .collect();
        if bad.is_empty() && self.is_monotone() {
            return None;
        }
        let mass = bad.iter().map(|&j| self.weight[j]).sum();
        let lo = bad.iter().map(|&j| self.z[j]).fold(f64::INFINITY, f64::min);
        let hi = bad
            .iter()
            .map(|&j| self.z[j])
            .fold(f64::NEG_INFINITY, f64::max);
        Some((mass, lo, hi))
    }

    // ANCHOR: map_law
    /// Exact `W1` to the 1-D mixture `target`: the quantile formula when `T` is monotone, the
    /// CDF in `x` otherwise.
    pub fn w1_to(&self, target: &GaussianMixture) -> Result<f64> {
        if !self.is_monotone() {
            return self.w1_by_cdf(target, 20_000);
        }
        let q = Mix1::new(target)?;
        self.w1_by_quantile(|u, v| q.quantile(u, v))
    }

    /// Exact `KL(q || target)` of the output law `q`; `None` when `T` is not monotone.
    pub fn kl_to(&self, target: &GaussianMixture) -> Result<Option<f64>> {
        if !self.is_monotone() {
            return Ok(None);
        }
        let q = Mix1::new(target)?;
        self.kl_to_density(|x| q.pdf(x))
    }

    /// `W1 = ∫ p_start(z) |T(z) - F^{-1}(F_start(z))| dz` to any law given by its quantile
    /// `F^{-1}`, called as `quantile(u, 1 - u)` (both, so the upper tail keeps its digits);
    /// valid only for a monotone map (an error otherwise).
    pub fn w1_by_quantile(&self, quantile: impl Fn(f64, f64) -> f64) -> Result<f64> {
        self.check_monotone("W1 by the quantile formula")?;
        let p = Mix1::new(&self.start)?;
        Ok(self
            .z
            .iter()
            .zip(&self.weight)
            .zip(&self.t)
            .map(|((&z, &w), &tz)| w * (tz - quantile(p.cdf(z), p.sf(z))).abs())
            .sum())
    }

    /// Exact `KL(q || r)` of the output law `q` to the law of density `pdf`; `None` when `T`
    /// is not monotone.
    pub fn kl_to_density(&self, pdf: impl Fn(f64) -> f64) -> Result<Option<f64>> {
        if !self.is_monotone() {
            return Ok(None);
        }
        let p = Mix1::new(&self.start)?;
        // With u = log ρ, ρ(z) = p_0(T(z)) T'(z) / p_start(z) (the target over the output
        // density, at T(z)): KL = E[-u] = E[ρ - 1 - u], because E[ρ] = ∫ p_0 = 1. The second
        // integrand is >= 0 and O(u^2), so the rule's error is relative to the KL itself,
        // where E[-u] sums terms of size O(u) that cancel to O(u^2).
        let mut kl = 0.0;
        for j in 0..self.z.len() {
            let (pz, qx) = (p.pdf(self.z[j]), pdf(self.t[j]));
            if self.weight[j] > 0.0 && pz > 0.0 {
                let u = qx.ln() + self.dt[j].ln() - pz.ln();
                kl += self.weight[j] * (u.exp_m1() - u);
            }
        }
        Ok(Some(kl))
    }

    // ANCHOR_END: map_law

    /// Exact `W1` to a law on a grid ([`Law1d`], CDF linear between knots): the quantile
    /// formula with [`Law1d::quantile`].
    pub fn w1_to_law(&self, target: &Law1d) -> Result<f64> {
        self.w1_by_quantile(|u, _| target.quantile(u))
    }

    /// `W1` between the output laws of two monotone maps run on the same nodes of the same
    /// start law: `∫ p_start |T_1 - T_2| dz` (both quantile functions are `T_i ∘ F_start^{-1}`).
    pub fn w1_to_map(&self, other: &MapLaw) -> Result<f64> {
        self.check_monotone("W1 between maps")?;
        other.check_monotone("W1 between maps")?;
        if self.z != other.z || self.weight != other.weight {
            return Err(Error::param(
                "MapLaw",
                "the two maps were not run on the same nodes of the same start law",
            ));
        }
        Ok(self
            .weight
            .iter()
            .zip(self.t.iter().zip(&other.t))
            .map(|(w, (a, b))| w * (a - b).abs())
            .sum())
    }

    fn check_monotone(&self, what: &str) -> Result<()> {
        if self.is_monotone() {
            Ok(())
        } else {
            Err(Error::param(
                "MapLaw",
                format!("{what} needs a monotone map; this one folds the line"),
            ))
        }
    }

    /// `W1 = ∫ |F_q(x) - F_0(x)| dx` with the output CDF `F_q` summed over the cells between
    /// nodes (valid whether or not `T` folds the line; accurate to the cell width squared),
    /// trapezoid rule on `n_x` points.
    pub fn w1_by_cdf(&self, target: &GaussianMixture, n_x: usize) -> Result<f64> {
        let (q, p) = (Mix1::new(target)?, Mix1::new(&self.start)?);
        let (tlo, thi) = q.range(12.0);
        let lo = self.t.iter().cloned().fold(tlo, f64::min);
        let hi = self.t.iter().cloned().fold(thi, f64::max);
        let n = self.z.len();
        // Cell j spans the midpoints around node j: mass from the start law's CDF.
        let edges: Vec<f64> = (0..=n)
            .map(|j| match j {
                0 => f64::NEG_INFINITY,
                j if j == n => f64::INFINITY,
                j => 0.5 * (self.z[j - 1] + self.z[j]),
            })
            .collect();
        let cdf = |z: f64| {
            if z.is_finite() {
                p.cdf(z)
            } else if z > 0.0 {
                1.0
            } else {
                0.0
            }
        };
        let mass: Vec<f64> = (0..n).map(|j| cdf(edges[j + 1]) - cdf(edges[j])).collect();
        // T on the cell's edges by linear interpolation between nodes.
        let t_edge = |j: usize| -> f64 {
            if j == 0 {
                self.t[0]
            } else if j == n {
                self.t[n - 1]
            } else {
                0.5 * (self.t[j - 1] + self.t[j])
            }
        };
        let pieces: Vec<(f64, f64, f64)> = (0..n)
            .flat_map(|j| {
                let (a, b) = (t_edge(j), self.t[j]);
                let c = t_edge(j + 1);
                [(a, b, 0.5 * mass[j]), (b, c, 0.5 * mass[j])]
            })
            .map(|(a, b, m)| (a.min(b), a.max(b), m))
            .collect();
        let xs = crate::quadrature::linspace(lo, hi, n_x);
        let diff: Vec<f64> = xs
            .iter()
            .map(|&x| {
                let f: f64 = pieces
                    .iter()
                    .map(|&(a, b, m)| {
                        if x >= b {
                            m
                        } else if x <= a {
                            0.0
                        } else {
                            m * (x - a) / (b - a)
                        }
                    })
                    .sum();
                (f - q.cdf(x)).abs()
            })
            .collect();
        crate::quadrature::trapezoid(&xs, &diff)
    }
}

/// `W1` between two 1-D mixtures, `∫ |F_p - F_q| dx` by adaptive quadrature (1e-13).
pub fn w1_between(p: &GaussianMixture, q: &GaussianMixture) -> Result<f64> {
    let (a, b) = (Mix1::new(p)?, Mix1::new(q)?);
    let (l1, h1) = a.range(14.0);
    let (l2, h2) = b.range(14.0);
    let (lo, hi) = (l1.min(l2), h1.max(h2));
    // Split at the medians region to help the adaptive rule with the kinks of |F_p - F_q|.
    let k = 64;
    let mut total = 0.0;
    for i in 0..k {
        let (x0, x1) = (
            lo + (hi - lo) * i as f64 / k as f64,
            lo + (hi - lo) * (i + 1) as f64 / k as f64,
        );
        total += crate::quadrature::integrate(|x| (a.cdf(x) - b.cdf(x)).abs(), x0, x1, 1e-14)?;
    }
    Ok(total)
}
