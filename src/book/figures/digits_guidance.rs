//! The guidance chapter's section on real images: classifier-free guidance of the
//! class-conditional digits network, one image grid per strength and a table, with the
//! prose's claims checked against the run.
use std::path::Path;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::digits_guidance::{
    run, DigitsGuidanceConfig, DigitsGuidanceReport, DigitsGuidanceRun,
};
use crate::book::experiment::digits_inpainting::InpaintingRow;
use crate::book::plot::ImageGrid;
use crate::digits::SIDE;
use crate::error::{Error, Result};

/// Writes `digits_cfg_w{w}.{png,svg}`, `digits_cfg.md`, the quoted numbers (`digits_cfg_*`)
/// and `digits_cfg.json` under `dir` (trains one network: under a minute on two cores).
pub fn write(dir: &Path) -> Result<DigitsGuidanceReport> {
    create_dir(dir)?;
    let config = DigitsGuidanceConfig::book();
    let r = run(&config, None)?;
    for (row, x) in r.report.rows.iter().zip(&r.samples) {
        let clipped = x.mapv(|p| p.clamp(-1.0, 1.0));
        ImageGrid::new(clipped, SIDE, config.per_class, (-1.0, 1.0))?
            .save(dir.join(format!("digits_cfg_w{}", row.guidance)))?;
    }
    write_inpainting(dir, &r)?;
    let r = r.report;
    write_text(&dir.join("digits_cfg.md"), &table(&r))?;
    let c = &r.config;
    let strengths: Vec<String> = c.guidance.iter().map(|w| format!("{w}")).collect();
    for row in &r.rows {
        let w = row.guidance;
        write_numbers(
            dir,
            &[
                (
                    &format!("digits_cfg_acc_w{w}"),
                    format!("{:.0}%", 100.0 * row.accuracy),
                ),
                (
                    &format!("digits_cfg_outside_w{w}"),
                    format!("{:.0}%", 100.0 * row.outside),
                ),
            ],
        )?;
    }
    write_numbers(
        dir,
        &[
            ("digits_cfg_dropout", format!("{}", c.label_dropout)),
            ("digits_cfg_steps", c.train.steps.to_string()),
            ("digits_cfg_per_class", c.per_class.to_string()),
            ("digits_cfg_ancestral", c.ancestral_steps.to_string()),
            ("digits_cfg_strengths", strengths.join(", ")),
            (
                "digits_cfg_train_seconds",
                format!("{:.0}", r.train_seconds),
            ),
            (
                "digits_cfg_sample_seconds",
                format!("{:.0}", r.sample_seconds),
            ),
            ("digits_cfg_loss", format!("{:.3}", r.final_loss)),
            ("digits_cfg_real_spread", format!("{:.2}", r.real_spread)),
        ],
    )?;
    write_text(
        &dir.join("digits_cfg.json"),
        &serde_json::to_string_pretty(&r)?,
    )?;
    claims(&r)?;
    Ok(r)
}

/// The inpainting table, its quoted numbers and a grid: for the first test image of each
/// class (columns), one row per method, the test images first.
fn write_inpainting(dir: &Path, r: &DigitsGuidanceRun) -> Result<()> {
    let rows = &r.report.inpainting;
    let mut t = String::from(
        "| lower half from | classified as its test label | RMS pixel error, lower half | RMS drift of the observed upper half |\n|---|---|---|---|\n",
    );
    for row in rows {
        t += &format!(
            "| {} | {:.1}% | {:.3} | {:.4} |\n",
            row.method,
            100.0 * row.accuracy,
            row.rmse_lower,
            row.rmse_upper
        );
    }
    write_text(&dir.join("digits_inpaint.md"), &t)?;
    let find = |prefix: &str| -> Result<&InpaintingRow> {
        rows.iter()
            .find(|row| row.method.starts_with(prefix))
            .ok_or_else(|| Error::param("inpainting", format!("no row '{prefix}'")))
    };
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    let (test, replacement, w1, w4, mean, random, nearest) = (
        find("test images")?,
        find("replacement")?,
        find("reconstruction guidance, w = 1")?,
        find("reconstruction guidance, w = 4")?,
        find("mean lower half")?,
        find("lower half of a random")?,
        find("lower half of the nearest")?,
    );
    write_numbers(
        dir,
        &[
            (
                "digits_inpaint_n",
                r.report.config.inpainting.n_images.to_string(),
            ),
            ("digits_inpaint_acc_test", pct(test.accuracy)),
            ("digits_inpaint_acc_replacement", pct(replacement.accuracy)),
            ("digits_inpaint_acc_w1", pct(w1.accuracy)),
            ("digits_inpaint_acc_w4", pct(w4.accuracy)),
            ("digits_inpaint_acc_mean", pct(mean.accuracy)),
            ("digits_inpaint_acc_random", pct(random.accuracy)),
            ("digits_inpaint_acc_nearest", pct(nearest.accuracy)),
            ("digits_inpaint_drift_w1", format!("{:.1e}", w1.rmse_upper)),
            ("digits_inpaint_drift_w4", format!("{:.2}", w4.rmse_upper)),
        ],
    )?;
    let claim = |ok: bool, what: &str| super::claim("guidance chapter, inpainting", ok, what);
    claim(
        replacement.accuracy > random.accuracy && w1.accuracy > random.accuracy,
        "the network's inpaintings use the observation",
    )?;
    claim(
        [replacement, w1, w4]
            .iter()
            .all(|m| m.accuracy < mean.accuracy && m.accuracy < nearest.accuracy),
        "every network inpainting below the mean lower half and the lookup",
    )?;
    claim(
        w4.accuracy > w1.accuracy && w4.rmse_upper > 100.0 * w1.rmse_upper,
        "w = 4 agrees more with the label but moves the observed half",
    )?;
    claim(
        rows.iter().skip(1).all(|m| m.accuracy < test.accuracy),
        "nothing reaches the test images",
    )?;
    let digits = crate::digits::Digits::book()?;
    let n = r.report.config.inpainting.n_images;
    let firsts: Vec<usize> = (0..crate::digits::CLASSES as u8)
        .filter_map(|c| digits.test_labels[..n].iter().position(|&y| y == c))
        .collect();
    let picked: Vec<_> = r
        .inpainted
        .iter()
        .map(|x| x.select(ndarray::Axis(0), &firsts))
        .collect();
    let views: Vec<_> = picked.iter().map(|x| x.view()).collect();
    let stacked = ndarray::concatenate(ndarray::Axis(0), &views)
        .map_err(|e| Error::param("inpainting grid", e.to_string()))?;
    ImageGrid::new(stacked, SIDE, firsts.len(), (-1.0, 1.0))?.save(dir.join("digits_inpaint"))?;
    Ok(())
}

/// One row per strength, and the real images' floor.
fn table(r: &DigitsGuidanceReport) -> String {
    let mut t = String::from(
        "| images | classified as requested | mean probability of the requested class | within-class spread | Fréchet², pixels | Fréchet², features | pixel range before clipping | pixels outside [-1, 1] |\n|---|---|---|---|---|---|---|---|\n",
    );
    let ((pm, ps), (fm, fs)) = super::digits::floor_of(&r.real);
    t += &format!(
        "| {} real training images per class (floor: mean ± sd over {} draws) | | | {:.2} (all training images) | {:.2} ± {:.2} | {:.2} ± {:.2} | [-1, 1] | 0% |\n",
        r.config.per_class,
        r.real.len(),
        r.real_spread,
        pm,
        ps,
        fm,
        fs
    );
    for row in &r.rows {
        t += &format!(
            "| guided, w = {} | {:.0}% | {:.3} | {:.2} | {:.2} | {:.2} | [{:.1}, {:.1}] | {:.0}% |\n",
            row.guidance,
            100.0 * row.accuracy,
            row.confidence,
            row.spread,
            row.quality.fd_pixels,
            row.quality.fd_features,
            row.pixel_range.0,
            row.pixel_range.1,
            100.0 * row.outside
        );
    }
    t
}

/// Checks the sentences of the section against the run; an error names the one that no
/// longer holds. The strengths are in increasing order (the book's config).
fn claims(r: &DigitsGuidanceReport) -> Result<()> {
    let claim = |ok: bool, what: &str| super::claim("guidance chapter, digits", ok, what);
    let rows = &r.rows;
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) if rows.len() >= 2 => (f, l),
        _ => return claim(false, "three strengths"),
    };
    let pairs = || rows.windows(2).map(|p| (&p[0], &p[1]));
    claim(
        pairs().all(|(a, b)| b.accuracy >= a.accuracy && b.confidence > a.confidence)
            && last.accuracy > first.accuracy,
        "accuracy and confidence rise with w",
    )?;
    claim(
        pairs().all(|(a, b)| {
            b.quality.fd_pixels > a.quality.fd_pixels
                && b.quality.fd_features > a.quality.fd_features
        }),
        "the Fréchet distances rise with w",
    )?;
    let ((pm, ps), (fm, fs)) = super::digits::floor_of(&r.real);
    claim(
        first.quality.fd_pixels > pm + 2.0 * ps && first.quality.fd_features > fm + 2.0 * fs,
        "w = 0 is above the floor",
    )?;
    claim(
        last.quality.fd_pixels > 3.0 * pm && last.quality.fd_features > 3.0 * fm,
        "the strongest guidance is several times the floor",
    )?;
    claim(
        rows.iter().all(|row| row.spread < r.real_spread),
        "less spread within a class than real images at every w",
    )?;
    claim(
        rows.iter()
            .all(|row| (0.8..=1.2).contains(&(row.spread / first.spread))),
        "the spread within a class changes little with w",
    )?;
    claim(
        pairs().all(|(a, b)| {
            b.pixel_range.0 < a.pixel_range.0
                && b.pixel_range.1 > a.pixel_range.1
                && b.outside > a.outside
        }),
        "guidance pushes more pixels further out of range",
    )
}
