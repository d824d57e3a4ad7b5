//! Inpainting the digits: the lower half of each test image from its upper half, with an
//! unconditional score of the digits (the book uses the class-conditional network at its null
//! label), by the replacement method and by reconstruction guidance, judged by the digit classifier against the test
//! labels. Beside them, the classifier on the whole test images (the ceiling), on the upper
//! halves with the training images' mean lower half (nothing imputed), with a random training
//! image's lower half (the observation ignored), and with the lower half of the training image
//! whose upper half is nearest (a lookup, no model).
use ndarray::{s, Array2, ArrayView2, Axis};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::digits::{DigitClassifier, Digits};
use crate::error::{Error, Result};
use crate::rng::seeded;
use crate::sampling::{Observation, ReconstructionGuided, Replacement, Sampler};
use crate::score::ScoreFn;
use crate::sde::LinearSde;

/// The first `KNOWN` pixels (rows 0 to 3 of the 8x8 image) are observed.
pub const KNOWN: usize = 32;

/// The settings (the network and the sampler's grid come from the guidance experiment).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InpaintingConfig {
    /// Test images inpainted (the first ones of the test set).
    pub n_images: usize,
    /// Reconstruction-guidance scales.
    pub scales: Vec<f64>,
    pub seed: u64,
}

impl InpaintingConfig {
    /// The book's run: every test image.
    pub fn book() -> Self {
        Self {
            n_images: 297,
            scales: vec![1.0, 4.0],
            seed: 41,
        }
    }
}

/// One way of filling the lower halves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InpaintingRow {
    pub method: String,
    /// The fraction of images the classifier assigns their test label.
    pub accuracy: f64,
    /// Root-mean-square pixel error of the lower half against the test image.
    pub rmse_lower: f64,
    /// Root-mean-square distance of the upper half from the observed one (0 when it is kept).
    pub rmse_upper: f64,
}

/// The rows, and the images (observed halves pasted back, clipped to `[-1, 1]`) per method.
pub struct InpaintingRun {
    pub rows: Vec<InpaintingRow>,
    pub images: Vec<Array2<f64>>,
}

fn rms(a: ArrayView2<f64>, b: ArrayView2<f64>) -> f64 {
    let d = &a - &b;
    (d.mapv(|v| v * v).sum() / d.len() as f64).sqrt()
}

/// Inpaints with `joint`, a score of whole images under `sde`, on the decreasing grid `ts`
/// (ancestral sampler, then Tweedie's denoising step with the same score) and judges with
/// `classifier`.
pub fn run(
    joint: &dyn ScoreFn,
    sde: &dyn LinearSde,
    digits: &Digits,
    classifier: &DigitClassifier,
    ts: &[f64],
    config: &InpaintingConfig,
) -> Result<InpaintingRun> {
    let n = config.n_images;
    if n == 0 || n > digits.test.nrows() {
        return Err(Error::param(
            "n_images",
            format!("must lie in 1..={}, got {n}", digits.test.nrows()),
        ));
    }
    let t = *ts
        .last()
        .ok_or_else(|| Error::param("times", "need a grid"))?;
    let (mu, zeta2) = (sde.mean_factor(t), sde.kernel_var(t));
    let truth = digits.test.slice(s![..n, ..]).to_owned();
    let labels: Vec<u8> = digits.test_labels[..n].to_vec();
    let upper = truth.slice(s![.., ..KNOWN]).to_owned();
    let observation = Observation::new(truth.ncols(), (0..KNOWN).collect(), upper.clone())?;
    let tweedie = |score: &dyn ScoreFn, x: Array2<f64>| -> Result<Array2<f64>> {
        let s = score.score(t, x.view())?;
        Ok((x + &(s * zeta2)) / mu)
    };
    let paste = |lower: ArrayView2<f64>| -> Result<Array2<f64>> {
        let x = observation.assemble(lower, upper.view())?;
        Ok(x.mapv(|p| p.clamp(-1.0, 1.0)))
    };
    let mut rng = seeded(config.seed);
    let mut methods: Vec<(String, Array2<f64>, f64)> = vec![];

    // Replacement: the sampler runs on the lower half only.
    let replacement = Replacement::new(joint, sde, &observation, seeded(config.seed + 1));
    let x = sde.sample_prior(n, truth.ncols() - KNOWN, &mut rng);
    let (x, _) = Sampler::Ancestral.run(sde, &replacement, x, ts, &mut rng)?;
    let lower = tweedie(&replacement, x)?;
    methods.push(("replacement".into(), paste(lower.view())?, 0.0));

    // Reconstruction guidance: the sampler runs on whole images.
    for &scale in &config.scales {
        let guided = ReconstructionGuided {
            score: joint,
            sde,
            observation: &observation,
            scale,
        };
        let x = sde.sample_prior(n, truth.ncols(), &mut rng);
        let (x, _) = Sampler::Ancestral.run(sde, &guided, x, ts, &mut rng)?;
        let x = tweedie(&guided, x)?;
        let drift = rms(x.slice(s![.., ..KNOWN]), upper.view());
        let lower = observation.unknown_part(x.view())?;
        methods.push((
            format!("reconstruction guidance, w = {scale}"),
            paste(lower.view())?,
            drift,
        ));
    }

    // No model: the training images' mean lower half, and the nearest upper half's lower half.
    let train_lower = digits.train.slice(s![.., KNOWN..]);
    let mean_lower = train_lower
        .mean_axis(Axis(0))
        .ok_or_else(|| Error::param("training images", "none"))?;
    let mean = Array2::from_shape_fn((n, mean_lower.len()), |(_, j)| mean_lower[j]);
    methods.push(("mean lower half".into(), paste(mean.view())?, 0.0));
    let random: Vec<usize> = (0..n)
        .map(|_| rng.random_range(0..train_lower.nrows()))
        .collect();
    methods.push((
        "lower half of a random training image".into(),
        paste(train_lower.select(Axis(0), &random).view())?,
        0.0,
    ));
    let train_upper = digits.train.slice(s![.., ..KNOWN]).to_owned();
    let (nearest, _) = crate::digits::nearest_neighbours(upper.view(), train_upper.view())?;
    let looked_up = train_lower.select(Axis(0), &nearest);
    methods.push((
        "lower half of the nearest upper half".into(),
        paste(looked_up.view())?,
        0.0,
    ));

    let truth_lower = truth.slice(s![.., KNOWN..]);
    let mut rows = vec![InpaintingRow {
        method: "test images as they are".into(),
        accuracy: classifier.accuracy(truth.view(), &labels)?,
        rmse_lower: 0.0,
        rmse_upper: 0.0,
    }];
    let mut images = vec![truth.clone()];
    for (method, x, drift) in methods {
        rows.push(InpaintingRow {
            method,
            accuracy: classifier.accuracy(x.view(), &labels)?,
            rmse_lower: rms(x.slice(s![.., KNOWN..]), truth_lower),
            rmse_upper: drift,
        });
        images.push(x);
    }
    Ok(InpaintingRun { rows, images })
}
