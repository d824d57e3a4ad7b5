//! A training batch in the fused trainer's form ([`FusedBatch`]): the network input and the
//! weighted residual loss [`ResidualLoss`], on preallocated buffers. [`DsmBuffers`] draws the
//! continuous DSM batch (`loss::dsm_batch` + `loss::dsm_loss_and_grad`) into them,
//! [`SdeEpsBuffers`] the noise-prediction (eps) batch of a continuous SDE with any
//! [`TimeFeatures`].
use ndarray::ArrayView2;
use rand::{Rng, RngExt};

use super::features::TimeFeatures;
use super::float::Float;
use super::likelihood_times::LikelihoodTimes;
use crate::error::{Error, Result};
use crate::loss::{draw_dsm, Weighting};
use crate::sde::LinearSde;

/// The loss `J = c Σ_i w_i Σ_j (α_i y_ij + β_ij)²` of the network output `y` (`[n, d]`).
///
/// The continuous DSM loss (`loss::dsm_loss_and_grad`) is `α = ζ(t)`, `β = z`,
/// `w = λ(t)/ζ(t)²`, `c = 1/(n d)` (seed) or `1/(2n)`; the DDPM loss `mean |ε_θ − ε|²` is
/// `α = 1`, `β = −ε`, `w = 1`, `c = 1/(n d)`.
#[derive(Clone, Copy, Debug)]
pub struct ResidualLoss<'a, F> {
    /// `α_i`, one per row.
    pub alpha: &'a [F],
    /// `β_ij`, `[n, d]` row-major.
    pub beta: &'a [F],
    /// `w_i`, one per row.
    pub weight: &'a [F],
    /// `c`.
    pub scale: F,
}

/// A batch the fused trainer can take a step on: the network input rows and the loss.
pub trait FusedBatch<F> {
    /// The network input, `[n, d_in]` row-major.
    fn input(&self) -> &[F];
    /// The loss of the network output on this batch.
    fn loss(&self) -> ResidualLoss<'_, F>;
}

/// `dst[i] = src[i]` rounded to `F` (the buffers have equal lengths).
pub(crate) fn round_into<F: Float>(dst: &mut [F], src: &[f64]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = F::from_f64(s);
    }
}

/// Buffers for one draw of `t_n ~ U(t_eps, T)`, `z_n ~ N(0, I)`, `x̃_n = mu(t_n) x_n + zeta(t_n) z_n`
/// on a fixed data set of `n` points in `d` dimensions, for [`FusedTrainer`](super::FusedTrainer).
#[derive(Clone, Debug)]
pub struct DsmBuffers<F> {
    n: usize,
    d: usize,
    t: Vec<f64>,
    noise: Vec<f64>,
    /// The network input `[x̃, t]` as drawn, `[n, d + 1]` row-major.
    drawn: Vec<f64>,
    /// `drawn` rounded to `F`.
    input: Vec<F>,
    alpha: Vec<F>,
    beta: Vec<F>,
    weight: Vec<F>,
    scale: F,
}

impl<F: Float> DsmBuffers<F> {
    /// Buffers for `n` points in `d` dimensions.
    pub fn new(n: usize, d: usize) -> Self {
        Self {
            n,
            d,
            t: vec![0.0; n],
            noise: vec![0.0; n * d],
            drawn: vec![0.0; n * (d + 1)],
            input: vec![F::ZERO; n * (d + 1)],
            alpha: vec![F::ZERO; n],
            beta: vec![F::ZERO; n * d],
            weight: vec![F::ZERO; n],
            scale: F::ZERO,
        }
    }

    /// Draws a batch from `rng` with the draw of `loss::dsm_batch` (the same function, so the
    /// same random numbers in the same order and the same batch), allocating nothing. Errors
    /// like `dsm_batch` on a bad `t_eps` or non-finite data, and on data that is not `[n, d]`.
    pub fn draw(
        &mut self,
        sde: &dyn LinearSde,
        x0: ArrayView2<f64>,
        t_eps: f64,
        weighting: Weighting,
        rng: &mut dyn Rng,
    ) -> Result<()> {
        if x0.dim() != (self.n, self.d) {
            return Err(Error::shape(
                "DsmBuffers::draw data",
                format!("[{}, {}]", self.n, self.d),
                format!("{:?}", x0.dim()),
            ));
        }
        draw_dsm(
            sde,
            x0,
            t_eps,
            rng,
            &mut self.t,
            &mut self.noise,
            &mut self.drawn,
        )?;
        round_into(&mut self.input, &self.drawn);
        round_into(&mut self.beta, &self.noise);
        for ((&t, alpha), weight) in self.t.iter().zip(&mut self.alpha).zip(&mut self.weight) {
            let s = sde.kernel_std(t);
            *alpha = F::from_f64(s);
            *weight = F::from_f64(weighting.lambda(sde, t) / (s * s));
        }
        self.scale = F::from_f64(weighting.normaliser(self.n, self.d));
        Ok(())
    }

    /// The network input `[x̃, t]` of the last draw, `[n, d + 1]` row-major.
    pub fn input(&self) -> &[F] {
        &self.input
    }

    /// The loss of the last draw: `α = ζ(t)`, `β = z`, `w = λ(t)/ζ(t)²`.
    pub fn loss(&self) -> ResidualLoss<'_, F> {
        ResidualLoss {
            alpha: &self.alpha,
            beta: &self.beta,
            weight: &self.weight,
            scale: self.scale,
        }
    }
}

impl<F: Float> FusedBatch<F> for DsmBuffers<F> {
    fn input(&self) -> &[F] {
        &self.input
    }
    fn loss(&self) -> ResidualLoss<'_, F> {
        DsmBuffers::loss(self)
    }
}

/// Buffers for one draw of the noise-prediction batch of a continuous SDE on a fixed data set
/// of `n` points in `d` dimensions: `t_n ~ U(t_eps, T)` (all rows first), `ε_n ~ N(0, I)` (row
/// by row), `x_n(t) = mu(t_n) x_n + zeta(t_n) ε_n`, network input `[x_n(t), f(t_n)]` with the
/// time features `f`, and the loss `mean_{n,j} (ε_θ(x_n(t), t_n)_j − ε_nj)²`
/// (`α = 1`, `β = −ε`, `w = 1`, `c = 1/(n d)`). Drawing allocates nothing.
///
/// With `classes > 0` ([`labelled`](Self::labelled)) each row also carries its class as a
/// one-hot `e_y` of `classes` columns, `[x_n(t), f(t_n), e_{y_n}]`; the null label (no class,
/// for classifier-free guidance) is all zeros.
///
/// Two options, both off by default (then the draw is the one above, bit for bit):
/// - [`with_dequantisation(Δ)`](Self::with_dequantisation): each data row becomes
///   `x_n + Δ u_n`, `u_n ~ U[0, 1)^d`, uniform in its cell `[x_n, x_n + Δ)`;
/// - [`with_likelihood_weighting`](Self::with_likelihood_weighting): `t_n ~ q ∝ g²/ζ²`
///   ([`LikelihoodTimes`]) instead of uniform, and row `n` weighted by
///   `w_n = (g²/ζ²)(t_n)/(Z q(t_n))`, so the loss estimates the likelihood-weighted
///   `∫ (g²/ζ²) E|ε_θ − ε|² dt / Z` (Song et al. 2021, eq. 8 in eps units, divided by `Z`).
///
/// The order of the draws from the one `rng`: the `n` times first (uniform: `t_n` by
/// `random_range(t_eps..T)`; likelihood weighting: one `u ~ U[0, 1)` per row, inverted by the
/// table), then `ε` row by row, then (dequantisation only) the offsets `u` row by row.
///
/// With [`with_input_scaling`](Self::with_input_scaling) the input holds `c_in(t_n) x_n(t)`
/// ([`input_scale`]) in place of `x_n(t)`; the target `ε_n` is unchanged.
#[derive(Clone, Debug)]
pub struct SdeEpsBuffers<F> {
    n: usize,
    d: usize,
    features: TimeFeatures,
    classes: usize,
    /// `s_d²` of [`input_scale`], when the input is scaled.
    data_var: Option<f64>,
    t: Vec<f64>,
    eps: Vec<f64>,
    /// The network input as drawn, `[n, d + features]` row-major.
    drawn: Vec<f64>,
    input: Vec<F>,
    beta: Vec<F>,
    ones: Vec<F>,
    scale: F,
    /// The data rows as used (dequantised if `delta` is set), `[n, d]`.
    data: Vec<f64>,
    /// The cell width `Δ` of the dequantisation, if any.
    delta: Option<f64>,
    /// The time table of the likelihood weighting, if any, and the rows' weights.
    times: Option<LikelihoodTimes>,
    weight: Vec<F>,
}

impl<F: Float> SdeEpsBuffers<F> {
    /// Buffers for `n` points in `d` dimensions with time features `features`.
    pub fn new(n: usize, d: usize, features: TimeFeatures) -> Self {
        Self::labelled(n, d, features, 0)
    }

    /// Buffers whose rows end in a one-hot label of `classes` columns (0: no label columns,
    /// the same as [`new`](Self::new)).
    pub fn labelled(n: usize, d: usize, features: TimeFeatures, classes: usize) -> Self {
        let din = d + features.count() + classes;
        Self {
            n,
            d,
            features,
            classes,
            data_var: None,
            t: vec![0.0; n],
            eps: vec![0.0; n * d],
            drawn: vec![0.0; n * din],
            input: vec![F::ZERO; n * din],
            beta: vec![F::ZERO; n * d],
            ones: vec![F::ONE; n],
            scale: F::from_f64(1.0 / (n * d).max(1) as f64),
            data: vec![0.0; n * d],
            delta: None,
            times: None,
            weight: vec![F::ONE; n],
        }
    }

    /// Dequantises every drawn data row: `x_n + Δ u_n`, `u_n ~ U[0, 1)^d`. Errors unless `Δ`
    /// is finite and positive.
    pub fn with_dequantisation(mut self, delta: f64) -> Result<Self> {
        crate::error::positive(delta, "dequantisation cell width")?;
        self.delta = Some(delta);
        Ok(self)
    }

    /// Draws `t ~ q ∝ g²/ζ²` on `[t_eps, T]` and weights the rows by
    /// `w = (g²/ζ²)/(Z q)` (the likelihood weighting by importance sampling, with the table
    /// [`LikelihoodTimes`] built here once). Every later draw must pass the same `sde` and
    /// `t_eps` (an error otherwise). Errors like [`LikelihoodTimes::new`].
    pub fn with_likelihood_weighting(mut self, sde: &dyn LinearSde, t_eps: f64) -> Result<Self> {
        self.times = Some(LikelihoodTimes::new(sde, t_eps)?);
        Ok(self)
    }

    /// The same buffers drawing the scaled input `c_in(t) x(t)` with the data variance
    /// `data_var` = `s_d²` ([`input_scale`]). Errors unless `data_var` is finite and `> 0`.
    pub fn with_input_scaling(mut self, data_var: f64) -> Result<Self> {
        crate::error::positive(data_var, "data variance s_d^2")?;
        self.data_var = Some(data_var);
        Ok(self)
    }

    /// The network's input width: `d`, the time features and the label columns.
    pub fn input_dim(&self) -> usize {
        self.d + self.features.count() + self.classes
    }

    /// The number of label columns.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Draws a batch for the data `x0` (`[n, d]`) from `rng`; label columns, if any, hold the
    /// null label. Errors on `t_eps` outside `(0, T)`, non-finite data or data that is not
    /// `[n, d]`.
    pub fn draw(
        &mut self,
        sde: &dyn LinearSde,
        x0: ArrayView2<f64>,
        t_eps: f64,
        rng: &mut dyn Rng,
    ) -> Result<()> {
        self.draw_rows(sde, x0, None, t_eps, rng)
    }

    /// Draws a batch like [`draw`](Self::draw) (the same random numbers in the same order),
    /// with row `i` labelled `labels[i]` (`None`: the null label). Errors as `draw`, and on
    /// `labels.len() != n` or a label `>= classes`.
    pub fn draw_labelled(
        &mut self,
        sde: &dyn LinearSde,
        x0: ArrayView2<f64>,
        labels: &[Option<usize>],
        t_eps: f64,
        rng: &mut dyn Rng,
    ) -> Result<()> {
        crate::error::check_len("labels", self.n, labels.len())?;
        if let Some(y) = labels.iter().flatten().find(|&&y| y >= self.classes) {
            return Err(Error::param(
                "labels",
                format!("class {y} with {} label columns", self.classes),
            ));
        }
        self.draw_rows(sde, x0, Some(labels), t_eps, rng)
    }

    fn draw_rows(
        &mut self,
        sde: &dyn LinearSde,
        x0: ArrayView2<f64>,
        labels: Option<&[Option<usize>]>,
        t_eps: f64,
        rng: &mut dyn Rng,
    ) -> Result<()> {
        let (n, d) = (self.n, self.d);
        if x0.dim() != (n, d) {
            return Err(Error::shape(
                "SdeEpsBuffers::draw data",
                format!("[{n}, {d}]"),
                format!("{:?}", x0.dim()),
            ));
        }
        crate::loss::check_t_eps(sde, t_eps)?;
        let t_max = sde.t_max();
        crate::error::all_finite(x0.iter(), "training data")?;
        if let Some(times) = &self.times {
            times.check(sde, t_eps)?;
            for (t, w) in self.t.iter_mut().zip(&mut self.weight) {
                let (ti, wi) = times.draw(sde, rng.random::<f64>());
                *t = ti;
                *w = F::from_f64(wi);
            }
        } else {
            for t in self.t.iter_mut() {
                *t = rng.random_range(t_eps..t_max);
            }
        }
        for e in self.eps.iter_mut() {
            *e = rng.sample(rand_distr::StandardNormal);
        }
        let din = self.input_dim();
        for (i, x) in x0.rows().into_iter().enumerate() {
            let data = &mut self.data[i * d..(i + 1) * d];
            for (y, &x) in data.iter_mut().zip(x) {
                *y = match self.delta {
                    Some(delta) => x + delta * rng.random::<f64>(),
                    None => x,
                };
            }
            let t = self.t[i];
            let (m, s) = (sde.mean_factor(t), sde.kernel_std(t));
            let (row, rest) = self.drawn[i * din..(i + 1) * din].split_at_mut(d);
            for ((xt, &x), &e) in row
                .iter_mut()
                .zip(&*data)
                .zip(&self.eps[i * d..(i + 1) * d])
            {
                *xt = m * x + s * e;
            }
            if let Some(v) = self.data_var {
                let c = input_scale(sde, t, v)?;
                row.iter_mut().for_each(|xt| *xt *= c);
            }
            let (feat, onehot) = rest.split_at_mut(self.features.count());
            self.features.write(t, feat)?;
            onehot.fill(0.0);
            if let Some(y) = labels.and_then(|l| l[i]) {
                onehot[y] = 1.0;
            }
        }
        round_into(&mut self.input, &self.drawn);
        for (b, &e) in self.beta.iter_mut().zip(&self.eps) {
            *b = F::from_f64(-e);
        }
        Ok(())
    }

    /// The network input `[x(t), f(t)]` (then the label columns) of the last draw as drawn
    /// (in `f64`), `[n, d_in]`.
    pub fn drawn_input(&self) -> &[f64] {
        &self.drawn
    }

    /// The noise `ε` of the last draw, `[n, d]` row-major.
    pub fn eps(&self) -> &[f64] {
        &self.eps
    }

    /// The times `t_n` of the last draw.
    pub fn t(&self) -> &[f64] {
        &self.t
    }

    /// The data rows of the last draw as used (`x_n + Δ u_n` when dequantising), `[n, d]`.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// The rows' loss weights of the last draw (all 1 without the likelihood weighting).
    pub fn weights(&self) -> &[F] {
        &self.weight
    }
}

/// The input scaling `c_in(t) = 1 / sqrt(s_d² mu(t)² + zeta(t)²)` (Karras et al. 2022, the
/// preconditioning `c_in` of Table 1, with `sigma² = zeta²/mu²` and the `1/mu` of their scaled
/// `x` folded in): for data of per-pixel variance `s_d²`, `x(t) = mu(t) x + zeta(t) ε` has
/// variance `s_d² mu² + zeta²`, so `c_in(t) x(t)` has variance 1 at every `t`. Errors where
/// it is not finite and positive (`s_d² = 0` at a time with `zeta = 0`, a non-finite `t`).
pub fn input_scale(sde: &dyn LinearSde, t: f64, data_var: f64) -> Result<f64> {
    let (m, s) = (sde.mean_factor(t), sde.kernel_std(t));
    let c = 1.0 / (data_var * m * m + s * s).sqrt();
    if c.is_finite() && c > 0.0 {
        Ok(c)
    } else {
        Err(Error::param(
            "t",
            format!("input scale c_in = {c} at t = {t} (s_d^2 = {data_var})"),
        ))
    }
}

impl<F: Float> FusedBatch<F> for SdeEpsBuffers<F> {
    fn input(&self) -> &[F] {
        &self.input
    }
    fn loss(&self) -> ResidualLoss<'_, F> {
        ResidualLoss {
            alpha: &self.ones,
            beta: &self.beta,
            weight: &self.weight,
            scale: self.scale,
        }
    }
}
