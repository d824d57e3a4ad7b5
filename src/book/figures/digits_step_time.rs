//! The step times the digits chapter quotes: `f32` against `f64` (section "The VE SDE, and
//! training in f32") and SiLU against ReLU (section "Which activation"), as `step_*.txt` and
//! `step_time.json`, with the two sentences checked. The book runs this after every other
//! experiment has finished, so that the trainers time the machine alone.
use std::path::Path;

use super::{claim, create_dir, write_numbers, write_text};
use crate::book::experiment::digits_step_time::{run, StepTimeConfig, StepTimeReport};
use crate::error::Result;

/// Runs the timing and writes its assets under `dir` (the `digits` folder).
pub fn write(dir: &Path) -> Result<StepTimeReport> {
    create_dir(dir)?;
    let r = run(&StepTimeConfig::book())?;
    let [f64_relu, f32_relu, f32_silu] = r.median_ms;
    let ms = |v: f64| format!("{v:.2}");
    write_numbers(
        dir,
        &[
            ("step_f64", ms(f64_relu)),
            ("step_f32", ms(f32_relu)),
            ("step_silu", ms(f32_silu)),
            ("step_f64_over_f32", format!("{:.1}", f64_relu / f32_relu)),
            (
                "step_silu_slower",
                format!("{:.0}%", 100.0 * (f32_silu / f32_relu - 1.0)),
            ),
            ("step_rounds", r.config.rounds.to_string()),
            ("step_block", r.config.block.to_string()),
            ("step_count", (r.config.rounds * r.config.block).to_string()),
            ("step_threads", r.config.train.threads.to_string()),
        ],
    )?;
    write_text(
        &dir.join("step_time.json"),
        &serde_json::to_string_pretty(&r)?,
    )?;
    claim(
        "digits chapter, VE and f32",
        f32_relu < f64_relu,
        "and faster: an f32 training step takes less time than an f64 one",
    )?;
    claim(
        "digits chapter, activation",
        f32_silu > f32_relu,
        "a SiLU step takes longer than a ReLU step on the fused trainer",
    )?;
    Ok(r)
}
