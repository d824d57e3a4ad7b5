//! Denoising diffusion probabilistic models (DDPM): the mathematics of
//! Sohl-Dickstein et al. (2015) and Ho, Jain & Abbeel (2020), "Ho et al." below.
//!
//! # Index convention
//!
//! Steps are numbered `k = 1..=K` exactly as in Ho et al. (their `t = 1..T`) and in the
//! seed note: `x_0` is data, `x_K` is (nearly) pure noise. Every accessor and every
//! function here takes `k` in that 1-based sense and returns an error (never panics)
//! for `k` outside `1..=K`. The one exception is [`VarianceSchedule::alpha_bar`], which
//! also accepts `k = 0` with the convention `alpha_bar_0 = 1`. Internally the arrays are
//! stored 0-based (`beta[k - 1]` holds `beta_k`), and the raw slices returned by
//! [`VarianceSchedule::betas`] and friends are 0-based too.
//!
//! # Map
//!
//! * [`schedule`]: `beta_k`, `alpha_k`, `alpha_bar_k`, `beta_tilde_k`; linear, cosine and
//!   custom schedules; the link to the VP SDE.
//! * [`chain`]: the forward chain (one step, a whole simulated chain, the closed-form
//!   marginal), the posterior `q(x_{k-1} | x_k, x_0)`, the eps-parametrised model mean,
//!   and the seed's forward-chain code reproduced literally.
//! * [`bound`]: Gaussian KL, the terms of the variational bound, the eps-loss weights and
//!   the simplified loss of Ho et al.
//! * [`sampling`]: ancestral sampling (Ho et al. Algorithm 2).
//! * [`MixtureEpsOracle`]: the exact noise predictor for 1-D Gaussian-mixture data.
//! * [`eps_net`]: a network `eps_theta(x_k, k)` and its training with the simplified loss.
//!
//! Data are batches `Array2<f64>` of shape `[n, d]`: one row per sample.
pub mod bound;
pub mod chain;
pub mod eps_net;
pub mod oracle;
pub mod sampling;
pub mod schedule;

pub use bound::{
    decoder_term, gaussian_kl_diag, gaussian_kl_iso, gaussian_log_pdf_iso, kl_term, prior_term,
    sample_eps_targets, simple_loss, variational_bound, vlb_constant, vlb_weight, BoundTerms,
    EpsTargets,
};
pub use chain::{
    forward_step, forward_step_with_noise, marginal_sample, marginal_sample_with_noise, mu_theta,
    posterior, posterior_mean, predict_x0, seed_forward_chain, simulate_chain, Posterior,
};
pub use eps_net::{simple_loss_and_grad, train_eps_net, EpsNet, StepFeature};
pub use oracle::MixtureEpsOracle;
pub use sampling::{ancestral_law_1d, ancestral_sample, ancestral_sample_path, reverse_step};
pub use schedule::{vp_alpha_bar_link, VarianceSchedule, VpLink};

use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// A noise predictor `eps_theta(x_k, k)`: given a batch `x` of states at step `k`
/// (shape `[n, d]`), predict the noise `eps` with which `x_k` was made from `x_0` in the
/// closed form `x_k = sqrt(alpha_bar_k) x_0 + sqrt(1 - alpha_bar_k) eps` (Ho et al. eq. 4).
///
/// Implemented by closures `Fn(ArrayView2<f64>, usize) -> Result<Array2<f64>>`, by the
/// exact oracle [`MixtureEpsOracle`], and by trained networks ([`EpsNet`]). The returned array
/// must have the shape of `x`; callers in this module check it and report
/// [`Error::ShapeMismatch`] otherwise.
pub trait EpsModel {
    /// Predicted noise for every row of `x`, all at the same step `k` (1-based).
    fn eps(&self, x: ArrayView2<f64>, k: usize) -> Result<Array2<f64>>;

    /// Predicted noise when each row has its own step: row `i` is at step `ks[i]`.
    ///
    /// The default groups rows by step and calls [`EpsModel::eps`] once per distinct `k`;
    /// a network taking `k` as an input may override it with a single forward pass.
    fn eps_rows(&self, x: ArrayView2<f64>, ks: &[usize]) -> Result<Array2<f64>> {
        if ks.len() != x.nrows() {
            return Err(Error::shape(
                "eps_rows: one step per row",
                x.nrows(),
                ks.len(),
            ));
        }
        let mut out = Array2::zeros(x.raw_dim());
        let mut distinct: Vec<usize> = ks.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for &k in &distinct {
            let rows: Vec<usize> = (0..ks.len()).filter(|&i| ks[i] == k).collect();
            let xs = x.select(ndarray::Axis(0), &rows);
            let e = self.eps(xs.view(), k)?;
            check_same_shape("eps_rows: model output", xs.view(), e.view())?;
            for (j, &i) in rows.iter().enumerate() {
                out.row_mut(i).assign(&e.row(j));
            }
        }
        Ok(out)
    }
}

impl<F> EpsModel for F
where
    F: Fn(ArrayView2<f64>, usize) -> Result<Array2<f64>>,
{
    fn eps(&self, x: ArrayView2<f64>, k: usize) -> Result<Array2<f64>> {
        self(x, k)
    }
}

/// The variance `sigma_k^2` of the reverse kernel
/// `p_theta(x_{k-1} | x_k) = N(mu_theta(x_k, k), sigma_k^2 I)` (Ho et al. sec. 3.2, eq. 1).
///
/// Ho et al. report both choices give similar samples: `Beta` is optimal when
/// `x_0 ~ N(0, I)`, `BetaTilde` when `x_0` is a single point.
///
/// # Step 1 with `beta_tilde`
///
/// `beta_tilde_1 = 0` (given `x_1` and `x_0`, `x_0` is known), so `sigma_1^2 = beta_tilde_1`
/// makes the Gaussian decoder `p_theta(x_0 | x_1)` a point mass: the decoder term `L_0` and
/// the weight `w_1` of the bound are infinite. Sampling is not affected (the last step adds
/// no noise, whatever `sigma_1`), but the bound is. The crate does not substitute anything
/// silently: [`ReverseVariance::BetaTilde`] reports an error when `sigma_1^2` is asked for,
/// and [`ReverseVariance::BetaTildeClipped`] names the substitution of Ho et al.'s code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReverseVariance {
    /// `sigma_k^2 = beta_k`: the forward variance ("fixedlarge" in Ho et al.'s code).
    Beta,
    /// `sigma_k^2 = beta_tilde_k = (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) beta_k`, the
    /// posterior variance, at every step. [`ReverseVariance::sigma2`] is an error at `k = 1`,
    /// where `beta_tilde_1 = 0`: use it for sampling, and
    /// [`ReverseVariance::BetaTildeClipped`] for the bound.
    BetaTilde,
    /// `sigma_k^2 = beta_tilde_k` for `k >= 2` and `sigma_1^2 = beta_tilde_2` (`beta_1` when
    /// `K = 1`): Ho et al.'s "fixedsmall", whose code clips the log-variance at step 1 to
    /// that of step 2 so that the decoder stays a proper density. Samples are the same as
    /// with [`ReverseVariance::BetaTilde`]; only the decoder term `L_0` and `w_1` differ.
    BetaTildeClipped,
}

impl ReverseVariance {
    /// `sigma_k^2` for step `k` in `1..=K`.
    ///
    /// Errors for `k` outside `1..=K`, and for [`ReverseVariance::BetaTilde`] at `k = 1`
    /// (`beta_tilde_1 = 0`; see the type's docs).
    pub fn sigma2(self, schedule: &VarianceSchedule, k: usize) -> Result<f64> {
        schedule.check_k(k)?;
        match self {
            ReverseVariance::Beta => schedule.beta(k),
            ReverseVariance::BetaTilde => {
                if k == 1 {
                    Err(Error::param(
                        "k",
                        "sigma_1^2 = beta_tilde_1 = 0: the decoder p_theta(x_0 | x_1) is a point \
                         mass and L_0, w_1 are infinite; use ReverseVariance::BetaTildeClipped \
                         (sigma_1^2 = beta_tilde_2, Ho et al.'s choice) for the bound",
                    ))
                } else {
                    schedule.beta_tilde(k)
                }
            }
            ReverseVariance::BetaTildeClipped => {
                if k >= 2 {
                    schedule.beta_tilde(k)
                } else if schedule.num_steps() >= 2 {
                    schedule.beta_tilde(2)
                } else {
                    schedule.beta(1)
                }
            }
        }
    }
}

/// A `[n, d]` array of independent standard normal draws.
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R, n: usize, d: usize) -> Array2<f64> {
    Array2::from_shape_simple_fn((n, d), || rng.sample(StandardNormal))
}

/// `Err(ShapeMismatch)` unless `a` and `b` have the same shape.
pub(crate) fn check_same_shape(what: &str, a: ArrayView2<f64>, b: ArrayView2<f64>) -> Result<()> {
    if a.shape() == b.shape() {
        Ok(())
    } else {
        Err(Error::shape(
            what,
            format!("{:?}", a.shape()),
            format!("{:?}", b.shape()),
        ))
    }
}

/// Calls the model and checks that its output has the shape of its input and is finite.
pub(crate) fn eval_eps<M: EpsModel + ?Sized>(
    model: &M,
    x: ArrayView2<f64>,
    k: usize,
) -> Result<Array2<f64>> {
    let e = model.eps(x, k)?;
    check_same_shape("eps model output", x, e.view())?;
    crate::error::all_finite(e.iter(), "eps model output")?;
    Ok(e)
}
