//! One digits run, as `score-sde digits` and the digits notebook do it: train the eps network
//! on the first `n_train` training images (VP SDE), sample it from its EMA weights with one
//! sampler, and judge the samples: nearest training images, near-copies, the classifier's
//! class histogram and the Fréchet distances to the test images beside the real-image floor.
//! With a class, the class-conditional network is trained instead and sampled for that class
//! with classifier-free guidance, and the samples are also judged by how many the classifier
//! puts in the requested class.
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use super::digits_guidance::{class_fidelity, guided_sample};
use super::digits_inpainting::{run as inpaint_run, InpaintingConfig, InpaintingRow};
use super::digits_network::{sample, Judge, Quality};
use crate::digits::{
    near_copy_fraction, nearest_neighbours, pixel_range, train_conditional_digits, train_digits,
    ClassifierConfig, ConditionalDigitsModel, Digits, DigitsModel, DigitsTrainConfig, Labels,
    NearCopy, Trained, CLASSES, LABEL_DROPOUT,
};
use crate::error::{Error, Result};
use crate::metrics::quantile;
use crate::progress::ProgressBar;
use crate::rng::seeded;
use crate::sampling::sigma::sigma_of_t;
use crate::sampling::{Sampler, Schedule};
use crate::sde::Vp;

/// What to train, how to sample.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsRunConfig {
    /// Train on the first `n_train` training images (1 to 1500).
    pub n_train: usize,
    pub train: DigitsTrainConfig,
    pub n_samples: usize,
    /// A sampler name of [`Sampler::parse`].
    pub sampler: String,
    pub sampler_steps: usize,
    /// `karras` (rho = 7, down to `sigma(t_eps)`) or `uniform` (equal steps in `t` down to
    /// `t_eps`).
    pub schedule: String,
    pub classifier: ClassifierConfig,
    pub seed: u64,
    /// Sample this class (0 to 9) from the class-conditional network.
    #[serde(default)]
    pub class: Option<usize>,
    /// The classifier-free guidance strength `w >= 0` for `class` (none: 0).
    #[serde(default)]
    pub guidance: Option<f64>,
    /// The conditional network's label dropout.
    #[serde(default = "label_dropout")]
    pub label_dropout: f64,
    /// Also inpaint the lower halves of the first `n_samples` test images with the trained
    /// network's unconditional score (`digits_inpainting`).
    #[serde(default)]
    pub impute: bool,
}

/// The test set's size (1797 images, 1500 for training).
const TEST_IMAGES: usize = 297;

fn label_dropout() -> f64 {
    LABEL_DROPOUT
}

impl DigitsRunConfig {
    /// The book's network on all training images, 64 ancestral samples in 200 steps.
    pub fn book() -> Self {
        Self {
            n_train: 1500,
            train: DigitsTrainConfig::book(),
            n_samples: 64,
            sampler: "ancestral".into(),
            sampler_steps: 200,
            schedule: "uniform".into(),
            classifier: ClassifierConfig::book(),
            seed: 31,
            class: None,
            guidance: None,
            label_dropout: LABEL_DROPOUT,
            impute: false,
        }
    }

    /// The sampler and its time grid; errors on an unknown name, zero steps, more training
    /// images than the training set holds, a class outside 0..=9, a guidance strength that is
    /// not finite and >= 0 or given without a class.
    pub fn validate(&self) -> Result<(Sampler, Vec<f64>)> {
        if let Some(k) = self.class.filter(|&k| k >= CLASSES) {
            return Err(Error::param("class", format!("must be 0 to 9, got {k}")));
        }
        if let Some(w) = self.guidance {
            if self.class.is_none() {
                return Err(Error::param(
                    "guidance",
                    "needs a class (--class K): guidance strengthens a class",
                ));
            }
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::param(
                    "guidance",
                    format!("must be finite and >= 0, got {w}"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.label_dropout) {
            return Err(Error::param(
                "label_dropout",
                format!("must lie in [0, 1], got {}", self.label_dropout),
            ));
        }
        if !(1..=1500).contains(&self.n_train) {
            return Err(Error::param(
                "n_train",
                format!("must be 1 to 1500, got {}", self.n_train),
            ));
        }
        if self.n_samples < 2 {
            return Err(Error::param(
                "n_samples",
                format!(
                    "must be >= 2 (a covariance is fitted), got {}",
                    self.n_samples
                ),
            ));
        }
        if self.impute && self.n_samples > TEST_IMAGES {
            return Err(Error::param(
                "n_samples",
                format!(
                    "inpainting takes the first n_samples test images: at most {TEST_IMAGES}, got {}",
                    self.n_samples
                ),
            ));
        }
        let sampler = Sampler::parse(&self.sampler)?;
        let sde = Vp::song();
        let t_eps = self.train.t_eps;
        let schedule = match self.schedule.as_str() {
            "uniform" => Schedule::UniformT { t_min: t_eps },
            "karras" => Schedule::Karras {
                rho: 7.0,
                sigma_min: sigma_of_t(&sde, t_eps),
            },
            other => {
                return Err(Error::param(
                    "schedule",
                    format!("unknown schedule {other:?}; one of uniform, karras"),
                ))
            }
        };
        Ok((sampler, schedule.times(&sde, self.sampler_steps)?))
    }
}

/// The numbers of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigitsRunReport {
    pub config: DigitsRunConfig,
    /// Mean of the last 10 recorded training losses.
    pub final_loss: f64,
    pub classifier_accuracy: f64,
    /// The samples' verdict, and that of as many real training images (the floor).
    pub samples: Quality,
    pub floor: Quality,
    pub sample_nn_median: f64,
    pub test_nn_median: f64,
    pub near_copies: f64,
    pub pixel_range: (f64, f64),
    pub train_seconds: f64,
    pub sample_seconds: f64,
    /// With a class: how the classifier sees the guided samples.
    pub guided: Option<GuidedClass>,
    /// With `impute`: the classifier's verdict on the inpainted test images, per method.
    #[serde(default)]
    pub inpainting: Option<Vec<InpaintingRow>>,
}

/// The class asked for, the guidance strength, the fraction of samples classified as that
/// class and the mean probability the classifier gives it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GuidedClass {
    pub class: usize,
    pub guidance: f64,
    pub accuracy: f64,
    pub confidence: f64,
}

/// A finished run: the report, the trained network, the samples and each one's nearest
/// training image (rows of 64 pixels).
pub struct DigitsRun {
    pub report: DigitsRunReport,
    pub trained: Trained,
    pub samples: Array2<f64>,
    pub nearest: Array2<f64>,
}

/// Runs it; `progress` counts training steps.
pub fn run(config: &DigitsRunConfig, progress: Option<ProgressBar>) -> Result<DigitsRun> {
    let (sampler, ts) = config.validate()?;
    let digits = Digits::book()?;
    let sde = Vp::song();
    let train = digits.train_subset(config.n_train)?;
    let labels = &digits.train_labels[..config.n_train];
    let t0 = std::time::Instant::now();
    let trained = match config.class {
        None => train_digits(train.view(), &sde, &config.train, progress)?,
        Some(_) => train_conditional_digits(
            train.view(),
            labels,
            &sde,
            &config.train,
            config.label_dropout,
            progress,
        )?,
    };
    let train_seconds = t0.elapsed().as_secs_f64();
    let final_loss = trained.final_loss();
    let t1 = std::time::Instant::now();
    let x0 = match config.class {
        None => {
            let model = trained.model(&trained.ema, &sde);
            sample(&model, &sde, &sampler, &ts, config.n_samples, config.seed)?
        }
        Some(k) => {
            let model = ConditionalDigitsModel {
                net: trained.ema.clone(),
                features: trained.features.clone(),
                sde: &sde,
            };
            let w = config.guidance.unwrap_or(0.0);
            guided_sample(
                &model,
                &vec![k; config.n_samples],
                w,
                &sampler,
                &ts,
                config.seed,
            )?
        }
    };
    let sample_seconds = t1.elapsed().as_secs_f64();
    let (idx, nn) = nearest_neighbours(x0.view(), train.view())?;
    let (_, test_nn) = nearest_neighbours(digits.test.view(), train.view())?;
    let (judge, classifier_accuracy) = Judge::new(&digits, &config.classifier)?;
    // The floor: as many real training images, of the requested class if there is one.
    let pool: Vec<usize> = (0..digits.train.nrows())
        .filter(|&i| {
            config
                .class
                .is_none_or(|k| digits.train_labels[i] as usize == k)
        })
        .collect();
    let m = config.n_samples.min(pool.len());
    let pick = rand::seq::index::sample(&mut seeded(config.seed), pool.len(), m);
    let pick: Vec<usize> = pick.iter().map(|j| pool[j]).collect();
    let floor = judge.quality(digits.train.select(Axis(0), &pick).view())?;
    let guided = match config.class {
        None => None,
        Some(k) => {
            let (accuracy, confidence) =
                class_fidelity(&judge.classifier, x0.view(), &vec![k; x0.nrows()])?;
            Some(GuidedClass {
                class: k,
                guidance: config.guidance.unwrap_or(0.0),
                accuracy,
                confidence,
            })
        }
    };
    let inpainting = if config.impute {
        let inpaint = InpaintingConfig {
            n_images: config.n_samples,
            ..InpaintingConfig::book()
        };
        let (net, features) = (trained.ema.clone(), trained.features.clone());
        let rows = match config.class {
            None => {
                let model = DigitsModel::new(net, features, &sde);
                inpaint_run(&model, &sde, &digits, &judge.classifier, &ts, &inpaint)?
            }
            Some(_) => {
                let model = ConditionalDigitsModel {
                    net,
                    features,
                    sde: &sde,
                };
                let joint = model.at(Labels::Null);
                inpaint_run(&joint, &sde, &digits, &judge.classifier, &ts, &inpaint)?
            }
        };
        Some(rows.rows)
    } else {
        None
    };
    let (lo, hi) = pixel_range(x0.view());
    let report = DigitsRunReport {
        config: config.clone(),
        final_loss,
        classifier_accuracy,
        samples: judge.quality(x0.view())?,
        floor,
        sample_nn_median: quantile(&nn, 0.5)?,
        test_nn_median: quantile(&test_nn, 0.5)?,
        near_copies: near_copy_fraction(&nn, NearCopy::one_grey_level(64))?,
        pixel_range: (lo, hi),
        train_seconds,
        sample_seconds,
        guided,
        inpainting,
    };
    Ok(DigitsRun {
        report,
        nearest: train.select(Axis(0), &idx),
        trained,
        samples: x0,
    })
}
