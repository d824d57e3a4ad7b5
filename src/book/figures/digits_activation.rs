//! The digits chapter's section "Which activation": the short tape comparison (`activation.md`,
//! `activation.json`), the chapter's recipe with ReLU and SiLU on the fused trainer
//! (`act_fused.md`, from the `f32` networks of the VE run), their quoted numbers (`act_*.txt`)
//! and the checks of the section's prose.
use std::path::Path;

use super::{write_numbers, write_text};
use crate::book::experiment::digits_activation::{run, ActivationConfig, ActivationRow};
use crate::book::experiment::digits_network::DigitsNetworkReport;
use crate::book::experiment::digits_ve::{DigitsVeReport, HeldOut, VeRow};
use crate::error::{Error, Result};

/// The section's name in claim errors.
const SECTION: &str = "digits chapter, activation";

/// Runs the tape comparison and writes the section's assets into `dir`, with the fused
/// comparison from the VE run `ve` and the real-image floor of `network`.
pub fn write(
    dir: &Path,
    ve: &DigitsVeReport,
    network: &DigitsNetworkReport,
) -> Result<Vec<ActivationRow>> {
    let rows = write_tape(dir)?;
    write_fused(dir, ve, network, &rows)?;
    Ok(rows)
}

/// The short comparison on the tape: ReLU, SiLU and tanh.
fn write_tape(dir: &Path) -> Result<Vec<ActivationRow>> {
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
    let claim = |ok: bool, what: &str| super::claim(SECTION, ok, what);
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

/// The chapter's recipe in `f32` with ReLU and with SiLU: held-out eps loss (EMA weights),
/// sample quality against the floor, and the time of a short training; `tape` is the short
/// comparison, for the gain it found.
fn write_fused(
    dir: &Path,
    ve: &DigitsVeReport,
    network: &DigitsNetworkReport,
    tape: &[ActivationRow],
) -> Result<()> {
    let row = |act: &str| -> Result<(&VeRow, &HeldOut)> {
        let sampled = ve
            .rows
            .iter()
            .find(|r| r.sde == "VP" && r.precision == "f32" && r.activation == act)
            .ok_or_else(|| Error::param("VE report", format!("no VP f32 {act} row")))?;
        let held = ve
            .held_out
            .iter()
            .find(|h| h.activation == act)
            .ok_or_else(|| Error::param("VE report", format!("no held-out {act} loss")))?;
        Ok((sampled, held))
    };
    let (relu, silu) = (row("relu")?, row("silu")?);
    let mut t = String::from(
        "| activation | held-out eps loss (EMA) | difference from ReLU, image by image | final training loss | Fréchet², pixels | Fréchet², features |\n|---|---|---|---|---|---|\n",
    );
    for (sampled, held) in [relu, silu] {
        t += &format!(
            "| {} | {:.4} ± {:.4} | {:+.4} ± {:.4} | {:.4} | {:.2} | {:.2} |\n",
            held.activation,
            held.loss.0,
            held.loss.1,
            held.paired_difference.0,
            held.paired_difference.1,
            sampled.final_loss,
            sampled.quality.fd_pixels,
            sampled.quality.fd_features,
        );
    }
    write_text(&dir.join("act_fused.md"), &t)?;
    let ((_, px_sd), (_, ft_sd)) = super::digits::floor_of(&network.real);
    let (d, d_se) = silu.1.paired_difference;
    let gain = -d / relu.1.loss.0;
    let tape_relu = tape
        .iter()
        .find(|r| r.activation == "relu")
        .ok_or_else(|| Error::param("activation rows", "no relu row"))?;
    let tape_gain = tape
        .iter()
        .find(|r| r.activation == "silu")
        .map_or(f64::NAN, |r| -r.paired_difference.0 / tape_relu.test_loss);
    write_numbers(
        dir,
        &[
            ("act_fused_steps", ve.config.train.steps.to_string()),
            ("act_fused_batch", ve.config.train.batch.to_string()),
            ("act_fused_gain", format!("{:.1}%", 100.0 * gain)),
            ("act_fused_z", format!("{:.1}", -d / d_se)),
            ("act_fused_samples", ve.config.n_samples.to_string()),
        ],
    )?;
    let claim = |ok: bool, what: &str| super::claim(SECTION, ok, what);
    claim(
        d < -3.0 * d_se,
        "at the chapter's recipe SiLU's held-out loss is still below ReLU's by more than three standard errors",
    )?;
    claim(
        gain < tape_gain,
        "the gain is smaller at the chapter's recipe than in the short tape run",
    )?;
    let (qr, qs) = (&relu.0.quality, &silu.0.quality);
    claim(
        (qr.fd_pixels - qs.fd_pixels).abs() < px_sd
            && (qr.fd_features - qs.fd_features).abs() < ft_sd,
        "the two networks' samples are within one floor spread of each other in both spaces",
    )?;
    claim(
        4 * ActivationConfig::book().batch == ve.config.train.batch,
        "the tape run uses a quarter of the chapter's minibatch",
    )
}
