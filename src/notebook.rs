//! Small helpers for the evcxr notebooks in `notebooks/`, so that a notebook cell stays a
//! few lines: exact forward paths of a linear SDE, per-sample paths for
//! [`Chart::paths`](crate::plot::Chart::paths), and the DDPM noise predictor `eps_theta(x_k, k)`
//! as an MLP with its simplified loss (Ho et al. 2020, eq. 14).
use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use crate::ddpm::{sample_eps_targets, EpsModel, VarianceSchedule};
use crate::error::{all_finite, Error, Result};
use crate::nn::Mlp;
use crate::sde::LinearSde;

/// Paths of the forward SDE started at `x0` (time 0), recorded at the increasing `times`
/// in `[0, T]`, drawn with the exact Gaussian transition of a linear SDE:
/// `x_t | x_s ~ N(a x_s, (zeta(t)^2 - a^2 zeta(s)^2) I)` with `a = mu(t) / mu(s)`
/// (the kernel `p(t | 0)` composed with the inverse of `p(s | 0)`; no discretisation error).
///
/// Returns one `[n, d]` state per time. Errors if `times` is empty, not non-decreasing,
/// outside `[0, T]`, or `x0` is not finite.
pub fn forward_paths(
    sde: &dyn LinearSde,
    x0: ArrayView2<f64>,
    times: &[f64],
    rng: &mut dyn Rng,
) -> Result<Vec<Array2<f64>>> {
    all_finite(x0.iter(), "forward_paths: x0")?;
    if times.is_empty() {
        return Err(Error::param("times", "need at least one time"));
    }
    let t_max = sde.t_max();
    let mut s = 0.0;
    for &t in times {
        if !(t.is_finite() && t >= s && t <= t_max) {
            return Err(Error::param(
                "times",
                format!("must be non-decreasing in [0, {t_max}], got {t} after {s}"),
            ));
        }
        s = t;
    }
    let mut x = x0.to_owned();
    let mut out = Vec::with_capacity(times.len());
    let mut s = 0.0;
    for &t in times {
        if t > s {
            let a = sde.mean_factor(t) / sde.mean_factor(s);
            let v = (sde.kernel_var(t) - a * a * sde.kernel_var(s)).max(0.0);
            let sd = v.sqrt();
            x.mapv_inplace(|xi| a * xi + sd * rng.sample::<f64, _>(StandardNormal));
            s = t;
        }
        out.push(x.clone());
    }
    Ok(out)
}

/// Coordinate `dim` of a list of states `[n, d]` (one per time) regrouped per sample:
/// `result[i][j]` is sample `i` at time `j`, the layout of
/// [`Chart::paths`](crate::plot::Chart::paths).
pub fn per_sample(states: &[Array2<f64>], dim: usize) -> Result<Vec<Vec<f64>>> {
    let Some(first) = states.first() else {
        return Ok(Vec::new());
    };
    let (n, d) = first.dim();
    if dim >= d {
        return Err(Error::param(
            "dim",
            format!("must be < {d} (the state dimension), got {dim}"),
        ));
    }
    for s in states {
        if s.dim() != (n, d) {
            return Err(Error::shape(
                "per_sample: every state",
                format!("[{n}, {d}]"),
                format!("{:?}", s.shape()),
            ));
        }
    }
    Ok((0..n)
        .map(|i| states.iter().map(|s| s[[i, dim]]).collect())
        .collect())
}

/// The network input `[x_k, k]` of the DDPM noise predictor: the state, then the raw step
/// `k` as a float (the seed note's choice; `k` is not rescaled to `k / K`).
pub fn eps_input(x: ArrayView2<f64>, ks: &[usize]) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    if ks.len() != n {
        return Err(Error::shape("eps_input: one step per row", n, ks.len()));
    }
    let mut input = Array2::zeros((n, d + 1));
    input.slice_mut(ndarray::s![.., ..d]).assign(&x);
    for (i, &k) in ks.iter().enumerate() {
        input[[i, d]] = k as f64;
    }
    Ok(input)
}

/// A noise predictor `eps_theta(x_k, k)`: an MLP on `[x_k, k]` (see [`eps_input`]).
#[derive(Clone, Debug)]
pub struct EpsNet {
    pub net: Mlp,
}

impl EpsModel for EpsNet {
    fn eps(&self, x: ArrayView2<f64>, k: usize) -> Result<Array2<f64>> {
        self.eps_rows(x, &vec![k; x.nrows()])
    }

    /// One forward pass for the whole batch.
    fn eps_rows(&self, x: ArrayView2<f64>, ks: &[usize]) -> Result<Array2<f64>> {
        self.net.forward(eps_input(x, ks)?.view())
    }
}

/// The simplified DDPM loss on one batch draw (Ho et al. Algorithm 1, eq. 14) and its
/// gradient: `k ~ U{1..K}`, `eps ~ N(0, I)` per row of `x0`, then
/// `mean |eps - eps_theta(x_k, k)|^2` over rows **and** coordinates (the seed's
/// `mean(abs2, eps_pred - eps)`, i.e. [`simple_loss`](crate::ddpm::simple_loss) divided by `d`).
pub fn eps_loss_and_grad(
    net: &Mlp,
    schedule: &VarianceSchedule,
    x0: ArrayView2<f64>,
    rng: &mut dyn Rng,
) -> Result<(f64, Vec<Array2<f64>>)> {
    if x0.nrows() == 0 {
        return Err(Error::param("x0", "need at least one data point"));
    }
    let t = sample_eps_targets(schedule, x0, rng)?;
    let input = eps_input(t.x_k.view(), &t.k)?;
    let c = 1.0 / t.eps.len() as f64;
    net.loss_and_grad(input.view(), |tape, out| {
        let eps = tape.constant(t.eps);
        let r = tape.sub(out, eps)?;
        let r2 = tape.square(r);
        let total = tape.sum(r2);
        Ok(tape.scale(total, c))
    })
}
