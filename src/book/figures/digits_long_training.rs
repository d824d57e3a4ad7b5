//! The digits chapter's section "Memorisation under longer training": the table
//! (`long_training.md`, `long_training.json`), its quoted numbers (`long_*.txt`) and the checks
//! of its prose.
use std::path::Path;

use super::{write_numbers, write_text};
use crate::book::experiment::digits_long_training::{run, LongTrainingConfig, LongTrainingRow};
use crate::error::{Error, Result};

/// Runs the study and writes its assets into `dir`.
pub fn write(dir: &Path) -> Result<Vec<LongTrainingRow>> {
    super::create_dir(dir)?;
    let config = LongTrainingConfig::book();
    let t0 = std::time::Instant::now();
    let rows = run(&config, None)?;
    let seconds = t0.elapsed().as_secs_f64();
    let mut t = String::from(
        "| training images | passes over them | denoiser | median distance to nearest training image | same for test images | near-copies (one grey level) | within two grey levels |\n|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        t += &format!(
            "| {} | {:.0} | {} | {:.2} | {:.2} | {:.1}% | {:.1}% |\n",
            r.n_train,
            r.epochs,
            if r.clipped { "clipped" } else { "as learnt" },
            r.sample_nn_median,
            r.test_nn_median,
            100.0 * r.copies,
            100.0 * r.copies_two_levels,
        );
    }
    write_text(&dir.join("long_training.md"), &t)?;
    write_text(
        &dir.join("long_training.json"),
        &serde_json::to_string_pretty(&rows).map_err(|e| Error::param("json", e.to_string()))?,
    )?;
    let mut numbers = vec![
        ("long_steps".to_string(), config.train.steps.to_string()),
        ("long_batch".to_string(), config.train.batch.to_string()),
        ("long_seconds".to_string(), format!("{seconds:.0}")),
    ];
    numbers.extend(claims(&rows)?);
    write_numbers(dir, &numbers)?;
    Ok(rows)
}

/// Checks the section's sentences and returns the numbers they quote.
fn claims(rows: &[LongTrainingRow]) -> Result<Vec<(String, String)>> {
    let claim = |ok: bool, what: &str| super::claim("digits chapter, longer training", ok, what);
    let get = |n: usize, clipped: bool| {
        rows.iter()
            .find(|r| r.n_train == n && r.clipped == clipped)
            .ok_or_else(|| Error::param("long-training rows", format!("no row for {n}")))
    };
    let smallest = rows.iter().map(|r| r.n_train).min().unwrap_or(0);
    let largest = rows.iter().map(|r| r.n_train).max().unwrap_or(0);
    let (small, small_clip) = (get(smallest, false)?, get(smallest, true)?);
    claim(
        small_clip.copies > 0.0 || small.copies > 0.0,
        "near-copies appear on the smallest set",
    )?;
    claim(
        rows.iter()
            .filter(|r| r.n_train == largest)
            .all(|r| r.copies == 0.0),
        "no near-copies on the largest set",
    )?;
    claim(
        small.sample_nn_median < small.test_nn_median
            && rows
                .iter()
                .filter(|r| r.n_train == largest)
                .all(|r| r.sample_nn_median > r.test_nn_median),
        "closer than test images on the smallest set, further on the largest (both denoisers)",
    )?;
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    Ok(vec![
        ("long_copies_small".into(), pct(small.copies)),
        ("long_copies_small_clip".into(), pct(small_clip.copies)),
        (
            "long_two_small_clip".into(),
            pct(small_clip.copies_two_levels),
        ),
        (
            "long_median_small".into(),
            format!("{:.2}", small.sample_nn_median),
        ),
        (
            "long_test_small".into(),
            format!("{:.2}", small.test_nn_median),
        ),
        ("long_epochs_small".into(), format!("{:.0}", small.epochs)),
    ])
}
