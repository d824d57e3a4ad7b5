//! How long one step of the digits network's fused trainer takes, compared side by side.
//!
//! A wall-clock comparison of two trainings run one after the other measures the machine as
//! much as the trainer: on a shared host the speed of the cores drifts over seconds. Here the
//! trainers take turns in short blocks of steps, so every trainer sees the same phases of the
//! machine, and each step is timed alone: the minibatch is drawn outside the clock, as are the
//! EMA and everything else of a training loop that is not the trainer's step.
use std::time::Instant;

use ndarray::ArrayView2;

use super::model::{Run, Stepper};
use super::{DigitsTrainConfig, Precision};
use crate::error::{Error, Result};
use crate::fast::Float;
use crate::rng::SeededRng;
use crate::sde::LinearSde;

/// One trainer's steps in order: the seconds of each (the trainer's step alone) and its loss.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepTimes {
    pub seconds: Vec<f64>,
    pub losses: Vec<f64>,
}

/// The steps of each configuration's fused trainer, in the order of `configs`: `rounds`
/// rounds in which each trainer in turn takes `block` steps (so `rounds * block` steps each).
/// Each trainer is set up as [`train_digits`](super::train_digits) sets it up, from its
/// configuration's seed, and its loss at each step is the one `train_digits` has at that
/// step (it records every 100th); `config.steps` is ignored. Errors on no configurations, zero `rounds` or `block`, more
/// than `2^24` steps, a non-finite loss and what `train_digits` refuses.
pub fn time_steps(
    train: ArrayView2<f64>,
    sde: &dyn LinearSde,
    configs: &[DigitsTrainConfig],
    rounds: usize,
    block: usize,
) -> Result<Vec<StepTimes>> {
    if configs.is_empty() || rounds == 0 || block == 0 {
        return Err(Error::param(
            "step timing",
            "needs at least one configuration, round and step per block",
        ));
    }
    let steps = rounds
        .checked_mul(block)
        .filter(|&s| s <= 1 << 24)
        .ok_or_else(|| Error::param("step timing", "rounds * block must be at most 2^24"))?;
    let runs = configs
        .iter()
        .map(|c| Run::new(train, None, sde, c, None))
        .collect::<Result<Vec<_>>>()?;
    let mut trainers = runs
        .iter()
        .map(|(run, net, rng)| -> Result<Box<dyn Timed + '_>> {
            Ok(match run.config.precision {
                Precision::F64 => Box::new((run, run.stepper::<f64>(net)?, rng.clone())),
                Precision::F32 => Box::new((run, run.stepper::<f32>(net)?, rng.clone())),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut times = vec![
        StepTimes {
            seconds: Vec::with_capacity(steps),
            losses: Vec::with_capacity(steps),
        };
        configs.len()
    ];
    for _ in 0..rounds {
        for (trainer, t) in trainers.iter_mut().zip(&mut times) {
            for _ in 0..block {
                let (secs, loss) = trainer.timed_step()?;
                t.seconds.push(secs);
                t.losses.push(loss);
            }
        }
    }
    Ok(times)
}

/// A trainer of either precision that draws its next minibatch and times its step:
/// the seconds and the loss.
trait Timed {
    fn timed_step(&mut self) -> Result<(f64, f64)>;
}

impl<F: Float> Timed for (&Run<'_>, Stepper<F>, SeededRng) {
    fn timed_step(&mut self) -> Result<(f64, f64)> {
        let (run, s, rng) = self;
        run.draw(s, rng)?;
        let t0 = Instant::now();
        let loss = s.trainer.step(&s.bufs)?.to_f64();
        let secs = t0.elapsed().as_secs_f64();
        if !loss.is_finite() {
            return Err(Error::param(
                "step timing",
                "non-finite loss: lower the learning rate",
            ));
        }
        Ok((secs, loss))
    }
}
