//! The variance schedule `beta_1, ..., beta_K` and the quantities derived from it.
//!
//! With `alpha_k = 1 - beta_k` and `alpha_bar_k = alpha_1 ... alpha_k` (Ho et al. sec. 2),
//! the forward chain has the closed-form marginal
//! `q(x_k | x_0) = N(sqrt(alpha_bar_k) x_0, (1 - alpha_bar_k) I)` (Ho et al. eq. 4) and the
//! posterior variance `beta_tilde_k = (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) beta_k`
//! (Ho et al. eq. 7), with `alpha_bar_0 = 1`, so `beta_tilde_1 = 0`.
//!
//! Steps are 1-based, `k = 1..=K` (see the [module docs](super)).
use crate::{Error, Result};

/// A validated variance schedule with every derived quantity precomputed.
///
/// `alpha_bar_k` is computed as `exp(sum_j ln(1 - beta_j))` and `1 - alpha_bar_k` as
/// `-expm1(sum_j ln(1 - beta_j))`, so both stay accurate when `beta` is tiny (`1e-4`) or
/// `alpha_bar` underflows.
#[derive(Debug, Clone, PartialEq)]
pub struct VarianceSchedule {
    beta: Vec<f64>,
    alpha: Vec<f64>,
    alpha_bar: Vec<f64>,
    one_minus_alpha_bar: Vec<f64>,
    beta_tilde: Vec<f64>,
}

impl VarianceSchedule {
    /// A schedule from explicit `beta_1, ..., beta_K` (`betas[k - 1] = beta_k`).
    ///
    /// Errors ([`Error::InvalidParameter`]) if `K = 0` or any `beta_k` is NaN, infinite or
    /// outside the open interval `(0, 1)`.
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        if betas.is_empty() {
            return Err(Error::param(
                "K",
                "a variance schedule needs at least one step (K >= 1), got K = 0",
            ));
        }
        for (i, &b) in betas.iter().enumerate() {
            if !(b.is_finite() && b > 0.0 && b < 1.0) {
                return Err(Error::param(
                    "beta",
                    format!(
                        "beta_{} = {b} must be a finite number in the open interval (0, 1)",
                        i + 1
                    ),
                ));
            }
        }
        let k_max = betas.len();
        let alpha: Vec<f64> = betas.iter().map(|b| 1.0 - b).collect();
        let mut alpha_bar = Vec::with_capacity(k_max);
        let mut one_minus_alpha_bar = Vec::with_capacity(k_max);
        let mut log_alpha_bar = 0.0;
        for &b in &betas {
            log_alpha_bar += (-b).ln_1p();
            alpha_bar.push(log_alpha_bar.exp());
            one_minus_alpha_bar.push(-log_alpha_bar.exp_m1());
        }
        let mut beta_tilde = Vec::with_capacity(k_max);
        for k in 1..=k_max {
            let prev = if k == 1 {
                0.0
            } else {
                one_minus_alpha_bar[k - 2]
            };
            beta_tilde.push(prev / one_minus_alpha_bar[k - 1] * betas[k - 1]);
        }
        Ok(Self {
            beta: betas,
            alpha,
            alpha_bar,
            one_minus_alpha_bar,
            beta_tilde,
        })
    }

    /// The linear schedule `beta_k = beta_1 + (k - 1)/(K - 1) (beta_K - beta_1)`, `k = 1..=K`
    /// (Julia's `range(beta_1, beta_K, K)`; with `K = 1` it is just `beta_1`).
    ///
    /// The seed note uses `linear(0.02, 0.4, 40)`; Ho et al. (sec. 4) use
    /// `linear(1e-4, 0.02, 1000)`.
    pub fn linear(beta_1: f64, beta_k_last: f64, num_steps: usize) -> Result<Self> {
        for (name, b) in [("beta_1", beta_1), ("beta_K", beta_k_last)] {
            if !(b.is_finite() && b > 0.0 && b < 1.0) {
                return Err(Error::param(
                    name,
                    format!("{name} = {b} must be a finite number in the open interval (0, 1)"),
                ));
            }
        }
        let betas = (1..=num_steps)
            .map(|k| {
                if num_steps == 1 {
                    beta_1
                } else {
                    beta_1 + (k - 1) as f64 / (num_steps - 1) as f64 * (beta_k_last - beta_1)
                }
            })
            .collect();
        Self::from_betas(betas)
    }

    /// The cosine schedule of Nichol & Dhariwal (2021, eq. 17):
    /// `alpha_bar_k = f(k)/f(0)`, `f(k) = cos^2(pi/2 (k/K + s)/(1 + s))`, hence
    /// `beta_k = 1 - f(k)/f(k-1)`, clipped to at most `0.999` as they do (the last step
    /// would otherwise have `beta_K = 1`). They use `s = 0.008`.
    ///
    /// The stored `alpha_bar_k` is the product of the (clipped) `alpha_k`, so it equals
    /// `f(k)/f(0)` up to the first clipped step.
    pub fn cosine(num_steps: usize, s: f64) -> Result<Self> {
        if num_steps == 0 {
            return Err(Error::param(
                "K",
                "a variance schedule needs at least one step (K >= 1), got K = 0",
            ));
        }
        if !(s.is_finite() && s >= 0.0) {
            return Err(Error::param(
                "s",
                format!("the cosine offset s = {s} must be finite and >= 0"),
            ));
        }
        let betas = (1..=num_steps)
            .map(|k| {
                let b = 1.0 - cosine_f(k, num_steps, s) / cosine_f(k - 1, num_steps, s);
                b.min(0.999)
            })
            .collect();
        Self::from_betas(betas)
    }

    /// The DDPM discretisation of a VP SDE `dx = -beta(t)/2 x dt + sqrt(beta(t)) dw` on
    /// `[0, t_end]` (Song et al. 2021, eq. 11 and appendix B): `K` steps of size
    /// `dt = t_end / K`, `t_k = k dt`, `beta_k = beta(t_k) dt`.
    ///
    /// Errors if `t_end` is not positive, `K = 0`, or some `beta_k` leaves `(0, 1)` (then `K`
    /// is too small for this `beta(t)`).
    pub fn from_vp<F: Fn(f64) -> f64>(beta: F, t_end: f64, num_steps: usize) -> Result<Self> {
        crate::error::positive(t_end, "t_end")?;
        let dt = t_end / num_steps as f64;
        let betas = (1..=num_steps).map(|k| beta(k as f64 * dt) * dt).collect();
        Self::from_betas(betas)
    }

    /// Number of steps `K`.
    pub fn num_steps(&self) -> usize {
        self.beta.len()
    }

    /// `Ok(())` if `1 <= k <= K`, else a clear [`Error::InvalidParameter`].
    pub fn check_k(&self, k: usize) -> Result<()> {
        if (1..=self.num_steps()).contains(&k) {
            Ok(())
        } else {
            Err(Error::param(
                "k",
                format!(
                    "step index k = {k} is outside 1..={} (steps are 1-based)",
                    self.num_steps()
                ),
            ))
        }
    }

    /// `beta_k`, `k` in `1..=K`.
    pub fn beta(&self, k: usize) -> Result<f64> {
        self.check_k(k)?;
        Ok(self.beta[k - 1])
    }

    /// `alpha_k = 1 - beta_k`, `k` in `1..=K`.
    pub fn alpha(&self, k: usize) -> Result<f64> {
        self.check_k(k)?;
        Ok(self.alpha[k - 1])
    }

    /// `alpha_bar_k = alpha_1 ... alpha_k`, `k` in `0..=K` (`alpha_bar_0 = 1`).
    pub fn alpha_bar(&self, k: usize) -> Result<f64> {
        if k == 0 {
            return Ok(1.0);
        }
        self.check_k(k)?;
        Ok(self.alpha_bar[k - 1])
    }

    /// `1 - alpha_bar_k`, computed without cancellation, `k` in `0..=K`.
    pub fn one_minus_alpha_bar(&self, k: usize) -> Result<f64> {
        if k == 0 {
            return Ok(0.0);
        }
        self.check_k(k)?;
        Ok(self.one_minus_alpha_bar[k - 1])
    }

    /// `beta_tilde_k = (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) beta_k` (Ho et al. eq. 7),
    /// the variance of `q(x_{k-1} | x_k, x_0)`; `k` in `1..=K`, and `beta_tilde_1 = 0`.
    pub fn beta_tilde(&self, k: usize) -> Result<f64> {
        self.check_k(k)?;
        Ok(self.beta_tilde[k - 1])
    }

    /// All `beta_k`, 0-based: `betas()[k - 1] = beta_k`.
    pub fn betas(&self) -> &[f64] {
        &self.beta
    }

    /// All `alpha_k`, 0-based.
    pub fn alphas(&self) -> &[f64] {
        &self.alpha
    }

    /// All `alpha_bar_k` for `k = 1..=K`, 0-based (`alpha_bar_0 = 1` is not stored).
    pub fn alpha_bars(&self) -> &[f64] {
        &self.alpha_bar
    }

    /// All `beta_tilde_k`, 0-based.
    pub fn beta_tildes(&self) -> &[f64] {
        &self.beta_tilde
    }

    /// The two coefficients of the posterior mean (Ho et al. eq. 7),
    /// `mu_tilde_k = c_0 x_0 + c_k x_k` with
    /// `c_0 = sqrt(alpha_bar_{k-1}) beta_k / (1 - alpha_bar_k)` and
    /// `c_k = sqrt(alpha_k) (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k)`; returns `(c_0, c_k)`.
    pub fn posterior_coefficients(&self, k: usize) -> Result<(f64, f64)> {
        self.check_k(k)?;
        let denom = self.one_minus_alpha_bar[k - 1];
        let c0 = self.alpha_bar(k - 1)?.sqrt() * self.beta[k - 1] / denom;
        let ck = self.alpha[k - 1].sqrt() * self.one_minus_alpha_bar(k - 1)? / denom;
        Ok((c0, ck))
    }
}

/// `f(k) = cos^2(pi/2 (k/K + s)/(1 + s))` of the cosine schedule.
fn cosine_f(k: usize, num_steps: usize, s: f64) -> f64 {
    let u = (k as f64 / num_steps as f64 + s) / (1.0 + s);
    (u * std::f64::consts::FRAC_PI_2).cos().powi(2)
}

/// The DDPM chain next to the VP SDE it discretises: see [`vp_alpha_bar_link`].
#[derive(Debug, Clone, PartialEq)]
pub struct VpLink {
    /// The discretised schedule, `beta_k = beta(t_k) dt`.
    pub schedule: VarianceSchedule,
    /// `t_k = k dt`, `k = 1..=K` (0-based vector).
    pub t: Vec<f64>,
    /// `alpha_bar_k` of the chain (0-based vector, entry `k - 1`).
    pub alpha_bar_chain: Vec<f64>,
    /// `exp(-int_0^{t_k} beta(s) ds)`, the VP SDE's squared mean factor at `t_k`.
    pub alpha_bar_sde: Vec<f64>,
}

impl VpLink {
    /// `max_k |ln alpha_bar_chain_k - ln alpha_bar_sde_k|`, the relative error of the chain.
    pub fn max_abs_log_error(&self) -> f64 {
        self.alpha_bar_chain
            .iter()
            .zip(&self.alpha_bar_sde)
            .map(|(c, s)| (c.ln() - s.ln()).abs())
            .fold(0.0, f64::max)
    }
}

/// The link between DDPM and the VP SDE (Song et al. 2021, sec. 3.4 and appendix B).
///
/// The VP SDE `dx = -beta(t)/2 x dt + sqrt(beta(t)) dw` has
/// `x(t) | x(0) ~ N(exp(-B(t)/2) x(0), (1 - exp(-B(t))) I)`, `B(t) = int_0^t beta`, so
/// `exp(-B(t))` plays the role of `alpha_bar`. Discretising with `beta_k = beta(t_k) dt`,
/// `dt = t_end/K`, gives `ln alpha_bar_k = sum_{j<=k} ln(1 - beta(t_j) dt)
/// = -B(t_k) - dt [ (beta(t_k) - beta(0))/2 + 1/2 int_0^{t_k} beta^2 ] + O(dt^2)`:
/// the chain converges to the SDE at first order in `1/K`.
///
/// `integral(t)` must return `B(t) = int_0^t beta(s) ds`.
pub fn vp_alpha_bar_link<F, G>(beta: F, integral: G, t_end: f64, num_steps: usize) -> Result<VpLink>
where
    F: Fn(f64) -> f64,
    G: Fn(f64) -> f64,
{
    let schedule = VarianceSchedule::from_vp(&beta, t_end, num_steps)?;
    let dt = t_end / num_steps as f64;
    let t: Vec<f64> = (1..=num_steps).map(|k| k as f64 * dt).collect();
    let mut alpha_bar_sde = Vec::with_capacity(num_steps);
    for &tk in &t {
        let b = crate::error::finite(integral(tk), "int_0^t beta")?;
        alpha_bar_sde.push((-b).exp());
    }
    Ok(VpLink {
        alpha_bar_chain: schedule.alpha_bars().to_vec(),
        schedule,
        t,
        alpha_bar_sde,
    })
}
