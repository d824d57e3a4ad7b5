//! Exact quantities of seed 004's DDPM example, computed by quadrature rather than sampling:
//! the law of an ancestral sampler's output ([`LawSummary`]) and the two parts of the true
//! reverse kernel's variance ([`ReverseVarianceRow`]).
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::ddpm::{
    ancestral_law_1d, EpsModel, EpsNet, MixtureEpsOracle, ReverseVariance, VarianceSchedule,
};
use crate::error::Result;
use crate::mixture::GaussianMixture;
use crate::quadrature::linspace;

fn col(v: &[f64]) -> Array2<f64> {
    Array2::from_shape_vec((v.len(), 1), v.to_vec()).expect("n x 1")
}

/// The exact law of a sampler's output (quadrature, [`ancestral_law_1d`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LawSummary {
    pub mean: f64,
    pub variance: f64,
    /// `P(x < 0)`, the mass of the small mode.
    pub frac_neg: f64,
    /// W1 distance of the law to the target.
    pub w1: f64,
}

impl LawSummary {
    /// The exact law of the ancestral sampler of `(schedule, model, variance)` for 1-D data,
    /// on a grid over `[-16, 18]` with spacing `min(0.02, 0.9 sigma_min)`.
    pub fn of<M: EpsModel + ?Sized>(
        schedule: &VarianceSchedule,
        model: &M,
        variance: ReverseVariance,
        target: &GaussianMixture,
    ) -> Result<Self> {
        let s_min = (2..=schedule.num_steps())
            .map(|k| variance.sigma2(schedule, k))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .fold(f64::INFINITY, f64::min)
            .sqrt();
        let h = 0.02f64.min(0.9 * s_min);
        let law = ancestral_law_1d(schedule, model, variance, -16.0, 18.0, h)?;
        Ok(Self {
            mean: law.mean(),
            variance: law.variance(),
            frac_neg: law.cdf(0.0),
            w1: law.w1_to_mixture(target)?,
        })
    }
}

/// The variance of the true reverse kernel at one step, split by the law of total variance:
/// `E Var[x_{k-1} | x_k] = beta_tilde_k + c_k^2 E Var[x_0 | x_k]`,
/// `c_k = sqrt(alpha_bar_{k-1}) beta_k / (1 - alpha_bar_k)`, the expectations over `x_k ~ p_k`
/// (quadrature, exact posterior of the mixture).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReverseVarianceRow {
    pub k: usize,
    pub beta: f64,
    pub beta_tilde: f64,
    pub c: f64,
    /// `E Var[x_0 | x_k]`.
    pub posterior_var: f64,
    /// `c_k^2 E Var[x_0 | x_k]`, the part a Gaussian kernel with fixed variance misses.
    pub extra: f64,
}

/// `E_{x ~ p_k} Var[x_0 | x_k = x]` for 1-D mixture data: given `x`, component `i` has
/// posterior `N(mu_i, v_i)`, `1/v_i = 1/s_i^2 + ab/n`, `mu_i = v_i (m_i/s_i^2 + sqrt(ab) x/n)`,
/// with responsibility `r_i ∝ w_i N(x; sqrt(ab) m_i, ab s_i^2 + n)`; trapezoid over x on a
/// grid of 4001 points spanning 12 sd of `p_k`.
pub fn expected_posterior_var(target: &GaussianMixture, ab: f64, n: f64) -> Result<f64> {
    let pk = target.affine(ab.sqrt(), n)?;
    let (m, sd) = (pk.mean()[0], pk.variance()[0].sqrt());
    let grid = linspace(m - 12.0 * sd, m + 12.0 * sd, 4001);
    let f: Vec<f64> = grid
        .iter()
        .map(|&x| {
            let comps: Vec<(f64, f64, f64)> = (0..target.n_components())
                .map(|i| {
                    let (w, mi, si) = (
                        target.weights()[i],
                        target.means()[[i, 0]],
                        target.stds()[[i, 0]],
                    );
                    let var_x = ab * si * si + n;
                    let logr =
                        w.ln() - 0.5 * (x - ab.sqrt() * mi).powi(2) / var_x - 0.5 * var_x.ln();
                    let v = 1.0 / (1.0 / (si * si) + ab / n);
                    let mu = v * (mi / (si * si) + ab.sqrt() * x / n);
                    (logr, mu, v)
                })
                .collect();
            let lmax = comps.iter().map(|c| c.0).fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = comps.iter().map(|c| (c.0 - lmax).exp()).sum();
            let (mut e1, mut e2) = (0.0, 0.0);
            for &(l, mu, v) in &comps {
                let r = (l - lmax).exp() / z;
                e1 += r * mu;
                e2 += r * (v + mu * mu);
            }
            e2 - e1 * e1
        })
        .collect();
    let p = pk.pdf(col(&grid).view())?;
    let fp: Vec<f64> = f.iter().zip(p.iter()).map(|(a, b)| a * b).collect();
    crate::quadrature::trapezoid(&grid, &fp)
}

/// The rows of [`ReverseVarianceRow`] at steps `ks` of `schedule`.
pub fn reverse_variance_rows(
    schedule: &VarianceSchedule,
    target: &GaussianMixture,
    ks: &[usize],
) -> Result<Vec<ReverseVarianceRow>> {
    ks.iter()
        .map(|&k| {
            let (b, bt) = (schedule.beta(k)?, schedule.beta_tilde(k)?);
            let (ab, n) = (schedule.alpha_bar(k)?, schedule.one_minus_alpha_bar(k)?);
            let c = schedule.alpha_bar(k - 1)?.sqrt() * b / n;
            let pv = expected_posterior_var(target, ab, n)?;
            Ok(ReverseVarianceRow {
                k,
                beta: b,
                beta_tilde: bt,
                c,
                posterior_var: pv,
                extra: c * c * pv,
            })
        })
        .collect()
}

/// `-int p ln p` of a 1-D mixture by adaptive quadrature on `mean +- 12 sd`.
pub fn entropy(target: &GaussianMixture) -> Result<f64> {
    let (m, s) = (target.mean()[0], target.variance()[0].sqrt());
    crate::quadrature::integrate(
        |x| {
            let lp = target
                .log_pdf(col(&[x]).view())
                .map(|v| v[0])
                .unwrap_or(f64::NAN);
            -lp.exp() * lp
        },
        m - 12.0 * s,
        m + 12.0 * s,
        1e-10,
    )
}

/// `eps_theta` against `eps*` at one step on the grid [`x_grid`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpsError {
    pub k: usize,
    /// `sqrt(sum p_k(x) (eps_theta - eps*)^2 / sum p_k(x))` over the grid.
    pub weighted_rms: f64,
    /// `max |eps_theta - eps*|` over the grid points where `p_k(x) >= 1e-3 max p_k`.
    pub max_in_bulk: f64,
}

/// The step of `eps*(., k)` where the posterior switches between the modes, and the
/// network's fit of it: the steepest slope of each on [`x_grid`] (finite differences, spacing
/// 0.05) within `x_switch ± 1.5`, where `x_switch` is the exact curve's steepest point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpsStep {
    pub k: usize,
    pub x_switch: f64,
    pub exact_slope: f64,
    pub net_slope: f64,
    /// Where the network's steepest slope in the window is.
    pub net_x: f64,
}

pub fn eps_step(model: &EpsNet, oracle: &MixtureEpsOracle, k: usize) -> Result<EpsStep> {
    let g = x_grid();
    let [net, exact] = eps_curves(model, oracle, k)?;
    let slope = |v: &[f64], i: usize| (v[i + 1] - v[i]) / (g[i + 1] - g[i]);
    let mid = |i: usize| 0.5 * (g[i] + g[i + 1]);
    let steepest = |v: &[f64], lo: f64, hi: f64| {
        (0..g.len() - 1)
            .filter(|&i| mid(i) >= lo && mid(i) <= hi)
            .max_by(|&a, &b| slope(v, a).abs().total_cmp(&slope(v, b).abs()))
            .unwrap_or(0)
    };
    let i_ex = steepest(&exact, -3.0, 3.0);
    let xs = mid(i_ex);
    let i_net = steepest(&net, xs - 1.5, xs + 1.5);
    Ok(EpsStep {
        k,
        x_switch: xs,
        exact_slope: slope(&exact, i_ex),
        net_slope: slope(&net, i_net),
        net_x: mid(i_net),
    })
}

/// The grid of the `eps` figures: 321 points on `[-8, 8]`.
pub fn x_grid() -> Vec<f64> {
    linspace(-8.0, 8.0, 321)
}

/// `eps_theta(x, k)` and `eps*(x, k)` on [`x_grid`].
pub fn eps_curves(model: &EpsNet, oracle: &MixtureEpsOracle, k: usize) -> Result<[Vec<f64>; 2]> {
    let x = col(&x_grid());
    Ok([
        model.eps(x.view(), k)?.column(0).to_vec(),
        oracle.eps(x.view(), k)?.column(0).to_vec(),
    ])
}

pub fn eps_error(model: &EpsNet, oracle: &MixtureEpsOracle, k: usize) -> Result<EpsError> {
    let [net, exact] = eps_curves(model, oracle, k)?;
    let p = oracle.marginal(k)?.pdf(col(&x_grid()).view())?;
    let pmax = p.iter().cloned().fold(0.0, f64::max);
    let (mut num, mut den, mut max) = (0.0, 0.0, 0.0f64);
    for i in 0..p.len() {
        let e = net[i] - exact[i];
        num += p[i] * e * e;
        den += p[i];
        if p[i] >= 1e-3 * pmax {
            max = max.max(e.abs());
        }
    }
    Ok(EpsError {
        k,
        weighted_rms: (num / den).sqrt(),
        max_in_bulk: max,
    })
}

/// `int p_k(x) (eps_theta(x, k) - eps*(x, k))^2 dx` by the trapezoid rule on [`x_grid`].
pub fn excess_at(model: &EpsNet, oracle: &MixtureEpsOracle, k: usize) -> Result<f64> {
    let grid = x_grid();
    let [net, exact] = eps_curves(model, oracle, k)?;
    let p = oracle.marginal(k)?.pdf(col(&grid).view())?;
    let f: Vec<f64> = (0..grid.len())
        .map(|i| p[i] * (net[i] - exact[i]).powi(2))
        .collect();
    crate::quadrature::trapezoid(&grid, &f)
}
