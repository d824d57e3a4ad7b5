//! Classifier-free guidance on the digits: the class-conditional eps network (label dropout)
//! trained on the training images, sampled by ancestral sampling with
//! [`ClassifierFree`] at several strengths `w`, `per_class` images of each class from the
//! same prior draws and noise at every `w`, and judged, clipped to the data's range
//! `[-1, 1]` (guidance pushes pixels past it), by the digit classifier: the fraction
//! classified as the requested class, the mean probability it gives that class, the
//! within-class spread, and the Fréchet distances of all samples pooled to all test images
//! beside the same distances for as many real training images, class-balanced the same way.
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::digits_inpainting::{InpaintingConfig, InpaintingRow};
use super::digits_network::{Judge, Quality, FLOOR_DRAWS};
use crate::digits::{
    pixel_range, train_conditional_digits, ClassifierConfig, ConditionalDigitsModel,
    DigitClassifier, Digits, DigitsTrainConfig, Labels, CLASSES, LABEL_DROPOUT,
};
use crate::error::{Error, Result};
use crate::progress::ProgressBar;
use crate::rng::seeded;
use crate::sampling::{ClassifierFree, Sampler, Schedule};
use crate::score::ScoreFn;
use crate::sde::Vp;

/// Training, the strengths, sampling.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsGuidanceConfig {
    pub train: DigitsTrainConfig,
    /// The probability that a training row's label is replaced by the null label.
    pub label_dropout: f64,
    /// Guidance strengths `w` (`(1 + w) s(x | y) - w s(x)`).
    pub guidance: Vec<f64>,
    /// Samples per class at each strength.
    pub per_class: usize,
    /// Ancestral steps (equal steps in `t` down to `t_eps`).
    pub ancestral_steps: usize,
    pub classifier: ClassifierConfig,
    /// Inpainting with the same network at its null label.
    pub inpainting: InpaintingConfig,
    pub seed: u64,
}

impl DigitsGuidanceConfig {
    /// The book's run: the digits chapter's network and sampler, 20 images per class.
    pub fn book() -> Self {
        Self {
            train: DigitsTrainConfig::book(),
            label_dropout: LABEL_DROPOUT,
            guidance: vec![0.0, 1.0, 3.0],
            per_class: 20,
            ancestral_steps: 200,
            classifier: ClassifierConfig::book(),
            inpainting: InpaintingConfig::book(),
            seed: 31,
        }
    }
}

/// The samples at one strength.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GuidanceRow {
    pub guidance: f64,
    /// The fraction classified as the requested class.
    pub accuracy: f64,
    /// The mean probability the classifier gives the requested class.
    pub confidence: f64,
    /// Per class `0..=9`, the fraction classified as that class.
    pub class_accuracy: Vec<f64>,
    /// [`within_class_spread`] of the samples.
    pub spread: f64,
    /// All samples pooled, against all test images.
    pub quality: Quality,
    /// The smallest and largest pixel value before clipping.
    pub pixel_range: (f64, f64),
    /// The fraction of pixel values outside `[-1, 1]` before clipping.
    pub outside: f64,
}

/// Everything the section shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsGuidanceReport {
    pub config: DigitsGuidanceConfig,
    pub rows: Vec<GuidanceRow>,
    /// [`FLOOR_DRAWS`] class-balanced sets of `per_class` real training images per class.
    pub real: Vec<Quality>,
    /// [`within_class_spread`] of all training images.
    pub real_spread: f64,
    pub classifier_accuracy: f64,
    /// Mean of the last 10 recorded training losses.
    pub final_loss: f64,
    pub train_seconds: f64,
    pub sample_seconds: f64,
    /// Lower halves of test images from their upper halves, per method.
    pub inpainting: Vec<InpaintingRow>,
}

/// A finished run: the report and the samples (unclipped) at each strength (rows class-major:
/// `per_class` images of class 0, then of class 1, ...).
pub struct DigitsGuidanceRun {
    pub report: DigitsGuidanceReport,
    pub samples: Vec<Array2<f64>>,
    /// The inpainted test images, one array per row of `report.inpainting`.
    pub inpainted: Vec<Array2<f64>>,
}

/// Draws `labels.len()` images with classifier-free guidance at strength `w`, row `i` of
/// class `labels[i]`, by `sampler` on `ts` from prior draws of `seed`, then Tweedie's
/// denoising step `(x + zeta² s(t, x)) / mu` with the guided score at the last time.
pub fn guided_sample(
    model: &ConditionalDigitsModel,
    labels: &[usize],
    w: f64,
    sampler: &Sampler,
    ts: &[f64],
    seed: u64,
) -> Result<Array2<f64>> {
    if !(w.is_finite() && w >= 0.0) {
        return Err(Error::param(
            "guidance",
            format!("must be finite and >= 0, got {w}"),
        ));
    }
    let t = *ts
        .last()
        .ok_or_else(|| Error::param("times", "need a grid"))?;
    let sde = model.sde;
    let conditional = model.at(Labels::Rows(labels.to_vec()));
    let unconditional = model.at(Labels::Null);
    let guided = ClassifierFree {
        conditional: &conditional,
        unconditional: &unconditional,
        guidance: w,
    };
    let mut rng = seeded(seed);
    let x = sde.sample_prior(labels.len(), model.net.output_dim(), &mut rng);
    let (x, _) = sampler.run(sde, &guided, x, ts, &mut rng)?;
    let zeta = sde.kernel_std(t);
    Ok((&x + &(guided.score(t, x.view())? * (zeta * zeta))) / sde.mean_factor(t))
}

/// The fraction of rows of `x` the classifier assigns to `labels[i]`, and the mean of the
/// probability it gives `labels[i]`.
pub fn class_fidelity(
    classifier: &DigitClassifier,
    x: ArrayView2<f64>,
    labels: &[usize],
) -> Result<(f64, f64)> {
    let p = classifier.probabilities(x)?;
    crate::error::check_len("labels", p.nrows(), labels.len())?;
    if labels.is_empty() {
        return Err(Error::param("images", "need at least one"));
    }
    let predicted = classifier.predict(x)?;
    let hits = predicted
        .iter()
        .zip(labels)
        .filter(|(&p, &y)| p as usize == y)
        .count();
    let confidence = labels
        .iter()
        .enumerate()
        .map(|(i, &y)| p[[i, y]])
        .sum::<f64>();
    let n = labels.len() as f64;
    Ok((hits as f64 / n, confidence / n))
}

/// The mean over classes of the RMS distance of a class's images to their class mean,
/// `sqrt(tr Cov_y)` with the unbiased covariance (so that a set's size does not bias its
/// square). Classes with fewer than two images are skipped; an error if none has two.
pub fn within_class_spread(x: ArrayView2<f64>, labels: &[usize]) -> Result<f64> {
    crate::error::check_len("labels", x.nrows(), labels.len())?;
    let mut spreads = vec![];
    for c in 0..CLASSES {
        let rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        if rows.len() < 2 {
            continue;
        }
        let xc = x.select(Axis(0), &rows);
        let var = xc.var_axis(Axis(0), 1.0);
        spreads.push(var.sum().sqrt());
    }
    if spreads.is_empty() {
        return Err(Error::param("images", "need a class with two images"));
    }
    Ok(spreads.iter().sum::<f64>() / spreads.len() as f64)
}

/// Runs it; `progress` counts training steps.
pub fn run(
    config: &DigitsGuidanceConfig,
    progress: Option<ProgressBar>,
) -> Result<DigitsGuidanceRun> {
    if config.per_class < 2 || config.guidance.is_empty() {
        return Err(Error::param(
            "per_class, guidance",
            "need two images per class and one strength",
        ));
    }
    let digits = Digits::book()?;
    let sde = Vp::song();
    let ts = Schedule::UniformT {
        t_min: config.train.t_eps,
    }
    .times(&sde, config.ancestral_steps)?;
    let t0 = std::time::Instant::now();
    let trained = train_conditional_digits(
        digits.train.view(),
        &digits.train_labels,
        &sde,
        &config.train,
        config.label_dropout,
        progress,
    )?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let final_loss = trained.final_loss();
    let model = ConditionalDigitsModel {
        net: trained.ema,
        features: trained.features,
        sde: &sde,
    };
    let labels: Vec<usize> = (0..CLASSES * config.per_class)
        .map(|i| i / config.per_class)
        .collect();
    let (judge, classifier_accuracy) = Judge::new(&digits, &config.classifier)?;
    let t1 = std::time::Instant::now();
    let samples = config
        .guidance
        .iter()
        .map(|&w| guided_sample(&model, &labels, w, &Sampler::Ancestral, &ts, config.seed))
        .collect::<Result<Vec<_>>>()?;
    let sample_seconds = t1.elapsed().as_secs_f64();
    let inpainting = super::digits_inpainting::run(
        &model.at(Labels::Null),
        model.sde,
        &digits,
        &judge.classifier,
        &ts,
        &config.inpainting,
    )?;
    let mut rows = vec![];
    for (&w, raw) in config.guidance.iter().zip(&samples) {
        let (lo, hi) = pixel_range(raw.view());
        let x = &raw.mapv(|p| p.clamp(-1.0, 1.0));
        let (accuracy, confidence) = class_fidelity(&judge.classifier, x.view(), &labels)?;
        let predicted = judge.classifier.predict(x.view())?;
        let class_accuracy = (0..CLASSES)
            .map(|c| {
                let rows = c * config.per_class..(c + 1) * config.per_class;
                rows.filter(|&i| predicted[i] as usize == c).count() as f64
                    / config.per_class as f64
            })
            .collect();
        rows.push(GuidanceRow {
            guidance: w,
            accuracy,
            confidence,
            class_accuracy,
            spread: within_class_spread(x.view(), &labels)?,
            quality: judge.quality(x.view())?,
            pixel_range: (lo, hi),
            outside: raw.iter().filter(|p| p.abs() > 1.0).count() as f64 / raw.len() as f64,
        });
    }
    let train_labels: Vec<usize> = digits.train_labels.iter().map(|&y| y as usize).collect();
    let by_class: Vec<Vec<usize>> = (0..CLASSES)
        .map(|c| {
            (0..train_labels.len())
                .filter(|&i| train_labels[i] == c)
                .collect()
        })
        .collect();
    let mut rng = seeded(config.seed);
    let real = (0..FLOOR_DRAWS)
        .map(|_| {
            let mut pick = vec![];
            for idx in &by_class {
                let k = config.per_class.min(idx.len());
                pick.extend(
                    rand::seq::index::sample(&mut rng, idx.len(), k)
                        .iter()
                        .map(|j| idx[j]),
                );
            }
            judge.quality(digits.train.select(Axis(0), &pick).view())
        })
        .collect::<Result<Vec<_>>>()?;
    let report = DigitsGuidanceReport {
        config: config.clone(),
        rows,
        real,
        real_spread: within_class_spread(digits.train.view(), &train_labels)?,
        classifier_accuracy,
        final_loss,
        train_seconds,
        sample_seconds,
        inpainting: inpainting.rows,
    };
    Ok(DigitsGuidanceRun {
        report,
        samples,
        inpainted: inpainting.images,
    })
}
