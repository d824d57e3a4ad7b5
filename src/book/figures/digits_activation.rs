//! The digits chapter's section "Which activation": the table (`activation.md`,
//! `activation.json`), its quoted numbers (`act_*.txt`) and the checks of its prose.
use std::path::Path;

use super::{write_numbers, write_text};
use crate::book::experiment::digits_activation::{run, ActivationConfig, ActivationRow};
use crate::error::{Error, Result};

/// Runs the comparison and writes its assets into `dir`.
pub fn write(dir: &Path) -> Result<Vec<ActivationRow>> {
    super::create_dir(dir)?;
    let config = ActivationConfig::book();
    let rows = run(&config)?;
    let mut t = String::from(
        "| activation | held-out eps loss | difference from ReLU, image by image | training loss, last tenth of the steps |\n|---|---|---|---|\n",
    );
    for r in &rows {
        t += &format!(
            "| {} | {:.4} ± {:.4} | {:+.4} ± {:.4} | {:.4} |\n",
            r.activation,
            r.test_loss,
            r.test_loss_se,
            r.paired_difference.0,
            r.paired_difference.1,
            r.final_train_loss
        );
    }
    write_text(&dir.join("activation.md"), &t)?;
    write_text(
        &dir.join("activation.json"),
        &serde_json::to_string_pretty(&rows).map_err(|e| Error::param("json", e.to_string()))?,
    )?;
    let claim = |ok: bool, what: &str| super::claim("digits chapter, activation", ok, what);
    let find = |name: &str| {
        rows.iter()
            .find(|r| r.activation == name)
            .ok_or_else(|| Error::param("activation rows", format!("no {name} row")))
    };
    let (relu, silu) = (find("relu")?, find("silu")?);
    claim(
        rows.iter().all(|r| silu.test_loss <= r.test_loss),
        "SiLU has the lowest held-out loss",
    )?;
    claim(
        silu.paired_difference.0 < -3.0 * silu.paired_difference.1,
        "SiLU is below ReLU by more than three standard errors of the paired difference",
    )?;
    write_numbers(
        dir,
        &[
            ("act_steps", config.steps.to_string()),
            ("act_batch", config.batch.to_string()),
            ("act_times", config.times.to_string()),
            (
                "act_silu_gain",
                format!("{:.1}%", -100.0 * silu.paired_difference.0 / relu.test_loss),
            ),
        ],
    )?;
    Ok(rows)
}
