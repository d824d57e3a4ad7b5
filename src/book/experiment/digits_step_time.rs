//! How long a step of the digits network's fused trainer takes in `f64` and `f32` with ReLU,
//! and in `f32` with SiLU: the three trainers take turns in blocks of steps
//! ([`time_steps`]), and each one's median step counts.
use serde::{Deserialize, Serialize};

use crate::digits::{time_steps, Digits, DigitsTrainConfig, Precision};
use crate::error::Result;
use crate::nn::Activation;
use crate::sde::Vp;

/// The three trainers and how they take turns.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepTimeConfig {
    /// The chapter's training (its `steps` are not used); the VP SDE.
    pub train: DigitsTrainConfig,
    /// Rounds in which each trainer takes `block` steps.
    pub rounds: usize,
    pub block: usize,
}

impl StepTimeConfig {
    /// The book's timing: 600 steps of each trainer, in 60 rounds of 10.
    pub fn book() -> Self {
        Self {
            train: DigitsTrainConfig::book(),
            rounds: 60,
            block: 10,
        }
    }

    /// The trainers in the order of [`StepTimeReport::median_ms`].
    pub fn trainers(&self) -> [DigitsTrainConfig; 3] {
        [
            (Precision::F64, Activation::Relu),
            (Precision::F32, Activation::Relu),
            (Precision::F32, Activation::Silu),
        ]
        .map(|(precision, activation)| DigitsTrainConfig {
            precision,
            activation,
            ..self.train.clone()
        })
    }
}

/// The median milliseconds per step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepTimeReport {
    pub config: StepTimeConfig,
    /// `f64` ReLU, `f32` ReLU, `f32` SiLU.
    pub median_ms: [f64; 3],
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// Times the three trainers on the digits' training images.
pub fn run(config: &StepTimeConfig) -> Result<StepTimeReport> {
    let t0 = std::time::Instant::now();
    let digits = Digits::book()?;
    let times = time_steps(
        digits.train.view(),
        &Vp::song(),
        &config.trainers(),
        config.rounds,
        config.block,
    )?;
    let mut median_ms = [0.0; 3];
    for (m, t) in median_ms.iter_mut().zip(times) {
        let mut s = t.seconds;
        s.sort_by(f64::total_cmp);
        *m = 1e3 * s[s.len() / 2];
    }
    Ok(StepTimeReport {
        config: config.clone(),
        median_ms,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
