//! A digit classifier trained on the real training images: the judge of generated samples
//! (their class histogram and confidence) and the feature map of the Fréchet distance.
//!
//! An MLP `64 -> hidden -> 10` (ReLU) trained by the mean softmax cross-entropy
//! `-(1/n) Σ_i log softmax(f(x_i))_{y_i}` with Adam on minibatches drawn with replacement;
//! its features are the activations of the last hidden layer.
use ndarray::{Array2, ArrayView2, Axis};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::{Adam, Mlp};
use crate::rng::seeded;

/// The ten digit classes.
pub const CLASSES: usize = 10;

/// How the classifier is trained.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Hidden widths; the last one is the feature dimension.
    pub hidden: Vec<usize>,
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
}

impl ClassifierConfig {
    /// The book's settings: one hidden layer of 128, 3000 Adam steps of 128 images.
    pub fn book() -> Self {
        Self {
            hidden: vec![128],
            steps: 3000,
            batch: 128,
            lr: 1e-3,
            seed: 31,
        }
    }
}

/// A trained digit classifier.
#[derive(Clone, Debug)]
pub struct DigitClassifier {
    pub net: Mlp,
    /// The training loss every 100 steps.
    pub losses: Vec<f64>,
}

/// The classes the classifier gives a set of images: how many of each, and the mean of the
/// probability it gives its own choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub histogram: [usize; CLASSES],
    pub mean_confidence: f64,
}

impl DigitClassifier {
    /// Trains on `x` (`[n, 64]`) with labels `0..=9`. Errors on an empty or non-finite set,
    /// a label out of range, a count mismatch and bad settings.
    pub fn train(x: ArrayView2<f64>, labels: &[u8], config: &ClassifierConfig) -> Result<Self> {
        let n = x.nrows();
        if n == 0 || x.ncols() == 0 {
            return Err(Error::param("training set", "needs at least one image"));
        }
        if labels.len() != n {
            return Err(Error::shape("classifier labels", n, labels.len()));
        }
        if let Some(&y) = labels.iter().find(|&&y| y as usize >= CLASSES) {
            return Err(Error::param("labels", format!("must be < 10, got {y}")));
        }
        crate::error::all_finite(x.iter(), "training set")?;
        if config.steps == 0 || config.batch == 0 || config.hidden.is_empty() {
            return Err(Error::param(
                "steps, batch, hidden",
                "need at least one step, one image per batch and one hidden layer",
            ));
        }
        let mut rng = seeded(config.seed);
        let mut sizes = vec![x.ncols()];
        sizes.extend(&config.hidden);
        sizes.push(CLASSES);
        let mut net = Mlp::new(&sizes, crate::nn::Activation::Relu, &mut rng)?;
        let mut adam = Adam::new(config.lr)?;
        let mut xb = Array2::zeros((config.batch, x.ncols()));
        let mut onehot = Array2::zeros((config.batch, CLASSES));
        let mut losses = vec![];
        for step in 0..config.steps {
            onehot.fill(0.0);
            for (b, mut row) in xb.rows_mut().into_iter().enumerate() {
                let i = rng.random_range(0..n);
                row.assign(&x.row(i));
                onehot[[b, labels[i] as usize]] = 1.0;
            }
            let (loss, grads) = net.loss_and_grad(xb.view(), |tape, logits| {
                let t = tape.constant(onehot.clone());
                tape.softmax_cross_entropy(logits, t)
            })?;
            adam.step(net.parameters_mut(), &grads)?;
            if step % 100 == 0 {
                losses.push(loss);
            }
        }
        Ok(Self { net, losses })
    }

    /// Class probabilities `softmax(f(x))`, `[n, 10]`.
    pub fn probabilities(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let mut p = self.net.forward(x)?;
        for mut row in p.rows_mut() {
            let m = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            row.mapv_inplace(|v| (v - m).exp());
            let z = row.sum();
            row /= z;
        }
        Ok(p)
    }

    /// The most probable class of each row.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<u8>> {
        let p = self.probabilities(x)?;
        Ok(p.rows()
            .into_iter()
            .map(|r| argmax(r.iter()) as u8)
            .collect())
    }

    /// The fraction of rows whose predicted class is the label.
    pub fn accuracy(&self, x: ArrayView2<f64>, labels: &[u8]) -> Result<f64> {
        if labels.len() != x.nrows() || labels.is_empty() {
            return Err(Error::shape("accuracy labels", x.nrows(), labels.len()));
        }
        let hits = self
            .predict(x)?
            .iter()
            .zip(labels)
            .filter(|(p, y)| p == y)
            .count();
        Ok(hits as f64 / labels.len() as f64)
    }

    /// The activations of the last hidden layer, `[n, hidden.last()]`: the feature space of
    /// the Fréchet distance.
    pub fn features(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let hidden = Mlp::from_layers(
            self.net.layers[..self.net.layers.len() - 1].to_vec(),
            self.net.activation,
        )?;
        let mut h = hidden.forward(x)?;
        let act = self.net.activation;
        h.mapv_inplace(|v| act.apply(v));
        Ok(h)
    }

    /// The class histogram and mean confidence of the rows of `x`. Errors on no rows.
    pub fn report(&self, x: ArrayView2<f64>) -> Result<ClassReport> {
        if x.nrows() == 0 {
            return Err(Error::param("images", "need at least one to report on"));
        }
        let p = self.probabilities(x)?;
        let mut histogram = [0; CLASSES];
        for row in p.rows() {
            histogram[argmax(row.iter())] += 1;
        }
        let confidence = p.map_axis(Axis(1), |r| r.fold(0.0, |m: f64, &v| m.max(v)));
        Ok(ClassReport {
            histogram,
            mean_confidence: confidence.mean().unwrap_or(f64::NAN),
        })
    }
}

/// The index of the largest value (the first on ties).
fn argmax<'a>(values: impl Iterator<Item = &'a f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, &v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}
