//! Which activation for the digits network: the chapter's MLP with ReLU, SiLU and tanh,
//! trained on the tape with Adam from the same initial draw of weights, on the same
//! minibatches, times and noise, and scored by the eps loss on the held-out test images at
//! fixed times and noise, each against ReLU image by image (paired: the same images, times
//! and noise).
use ndarray::{Array2, ArrayView2};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::digits::Digits;
use crate::error::Result;
use crate::fast::{SdeEpsBuffers, TimeFeatures};
use crate::nn::{Activation, Adam, Mlp};
use crate::rng::seeded;
use crate::sde::{LinearSde, Vp};

/// The networks, the training budget and the held-out score.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActivationConfig {
    pub activations: Vec<Activation>,
    pub hidden: Vec<usize>,
    /// Fourier frequencies and scale of the time features (the chapter's).
    pub frequencies: usize,
    pub scale: f64,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub t_eps: f64,
    /// Held-out score: each test image at `times` equally spaced times in `(t_eps, T)` (the
    /// midpoints of equal cells), with one fixed noise draw each.
    pub times: usize,
    pub seed: u64,
}

impl ActivationConfig {
    /// The book's run: the chapter's widths and time features, a short budget (the tape is
    /// slow) of 64-image minibatches.
    pub fn book() -> Self {
        Self {
            activations: vec![Activation::Relu, Activation::Silu, Activation::Tanh],
            hidden: vec![256, 256, 256],
            frequencies: 16,
            scale: 16.0,
            steps: 3000,
            batch: 64,
            lr: 1e-3,
            t_eps: 1e-3,
            times: 8,
            seed: 41,
        }
    }
}

/// One activation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActivationRow {
    /// `relu`, `silu`, `tanh`.
    pub activation: String,
    /// The eps loss on the held-out test images after training.
    pub test_loss: f64,
    /// Its standard error over the test images.
    pub test_loss_se: f64,
    /// The per-image difference of the held-out loss from the first activation's (ReLU in
    /// the book), mean and standard error over the test images.
    pub paired_difference: (f64, f64),
    /// The mean training loss of the last tenth of the steps.
    pub final_train_loss: f64,
}

/// The eps loss `mean |net([x_t, f(t)]) − ε|²` of each test image, averaged over `times`
/// equally spaced times in `(t_eps, T)` (the midpoints of equal cells) with one noise draw
/// each from `seed`.
pub(crate) fn held_out(
    net: &Mlp,
    features: &TimeFeatures,
    sde: &dyn LinearSde,
    test: ArrayView2<f64>,
    (times, t_eps, seed): (usize, f64, u64),
) -> Result<Vec<f64>> {
    let (n, d) = test.dim();
    let k = features.count();
    let mut rng = seeded(seed);
    let mut per_image = vec![0.0; n];
    let t_max = sde.t_max();
    let mut f = vec![0.0; k];
    for j in 0..times {
        let t = t_eps + (j as f64 + 0.5) / times as f64 * (t_max - t_eps);
        let (m, s) = (sde.mean_factor(t), sde.kernel_std(t));
        features.write(t, &mut f)?;
        let eps: Array2<f64> = Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng));
        let mut input = Array2::zeros((n, d + k));
        for i in 0..n {
            for c in 0..d {
                input[[i, c]] = m * test[[i, c]] + s * eps[[i, c]];
            }
            for (c, &v) in f.iter().enumerate() {
                input[[i, d + c]] = v;
            }
        }
        let out = net.forward(input.view())?;
        for (i, acc) in per_image.iter_mut().enumerate() {
            let r: f64 = (0..d).map(|c| (out[[i, c]] - eps[[i, c]]).powi(2)).sum();
            *acc += r / (d * times) as f64;
        }
    }
    Ok(per_image)
}

/// Trains every activation on the tape on the training images and scores each on the test
/// images.
pub fn run(config: &ActivationConfig) -> Result<Vec<ActivationRow>> {
    let digits = Digits::book()?;
    let sde = Vp::song();
    let (n, d) = digits.train.dim();
    let mut rows = vec![];
    let mut first: Option<Vec<f64>> = None;
    for &activation in &config.activations {
        // Every run draws the same features, weights, minibatches, times and noise.
        let mut rng = seeded(config.seed);
        let features = TimeFeatures::gaussian_fourier(config.frequencies, config.scale, &mut rng)?;
        let mut sizes = vec![d + features.count()];
        sizes.extend(&config.hidden);
        sizes.push(d);
        let mut net = Mlp::new(&sizes, activation, &mut rng)?;
        let mut adam = Adam::new(config.lr)?;
        let mut bufs = SdeEpsBuffers::<f64>::new(config.batch, d, features.clone());
        let mut x0 = Array2::zeros((config.batch, d));
        let mut losses = vec![];
        for _ in 0..config.steps {
            for mut row in x0.rows_mut() {
                row.assign(&digits.train.row(rng.random_range(0..n)));
            }
            bufs.draw(&sde, x0.view(), config.t_eps, &mut rng)?;
            let (loss, grads) = tape_eps_loss(&net, &bufs, config.batch, d)?;
            adam.step(net.parameters_mut(), &grads)?;
            losses.push(loss);
        }
        let score = (config.times, config.t_eps, config.seed + 1);
        let per_image = held_out(&net, &features, &sde, digits.test.view(), score)?;
        let (test_loss, test_loss_se) = crate::metrics::mean_se(&per_image);
        let base = first.get_or_insert_with(|| per_image.clone());
        let diff: Vec<f64> = per_image
            .iter()
            .zip(base.iter())
            .map(|(a, b)| a - b)
            .collect();
        let tail = &losses[losses.len() - (losses.len() / 10).max(1)..];
        rows.push(ActivationRow {
            activation: activation.name().to_string(),
            test_loss,
            test_loss_se,
            paired_difference: crate::metrics::mean_se(&diff),
            final_train_loss: tail.iter().sum::<f64>() / tail.len() as f64,
        });
    }
    Ok(rows)
}

/// The eps loss of the drawn batch and its gradient, on the tape.
fn tape_eps_loss(
    net: &Mlp,
    bufs: &SdeEpsBuffers<f64>,
    n: usize,
    d: usize,
) -> Result<(f64, Vec<Array2<f64>>)> {
    let input = ArrayView2::from_shape((n, bufs.input_dim()), bufs.drawn_input())
        .map_err(|e| crate::error::Error::param("batch", e.to_string()))?;
    let eps = ArrayView2::from_shape((n, d), bufs.eps())
        .map_err(|e| crate::error::Error::param("batch", e.to_string()))?
        .to_owned();
    let c = 1.0 / eps.len() as f64;
    net.loss_and_grad(input, |tape, out| {
        let e = tape.constant(eps);
        let r = tape.sub(out, e)?;
        let r2 = tape.square(r)?;
        let total = tape.sum(r2)?;
        tape.scale(total, c)
    })
}
