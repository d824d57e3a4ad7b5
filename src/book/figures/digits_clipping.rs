//! The digits chapter's section "Keeping the samples in range": the clipped-denoiser table
//! (`clipping.md`, `clipping.json`), its quoted numbers (`clip_*.txt`) and the checks of its
//! prose.
use std::path::Path;

use super::{write_numbers, write_text};
use crate::book::experiment::digits_clipping::{run, ClippingConfig, ClippingRow};
use crate::digits::Trained;
use crate::error::{Error, Result};
use crate::sde::Vp;

/// The real-image floor of the Fréchet distances, `((pixels mean, sd), (features mean, sd))`
/// over the draws of real images, and their mean classifier confidence.
pub type Floor = (((f64, f64), (f64, f64)), f64);

/// Runs the comparison on the EMA weights of the network trained on the largest set of
/// `networks`, beside the real-image `floor`, and writes its assets into `dir`.
pub fn write(dir: &Path, networks: &[(usize, Trained)], floor: Floor) -> Result<()> {
    let sde = Vp::song();
    let (_, trained) = networks
        .iter()
        .max_by_key(|(n, _)| *n)
        .ok_or_else(|| Error::param("networks", "none trained"))?;
    let model = trained.model(&trained.ema, &sde);
    let config = ClippingConfig::book();
    let rows = run(&model, &config)?;
    let (((px, px_sd), (ft, ft_sd)), real_confidence) = floor;
    let mut t = String::from(
        "| sampler | denoiser | pixel range | pixels outside [-1, 1] | by more than a grey level | mean confidence | Fréchet², pixels | Fréchet², features |\n|---|---|---|---|---|---|---|---|\n",
    );
    t += &format!(
        "| {} real training images (the floor: mean ± sd) | | [-1.0, 1.0] | 0% | 0% | {:.3} | {px:.2} ± {px_sd:.2} | {ft:.2} ± {ft_sd:.2} |\n",
        config.n_samples, real_confidence
    );
    for r in &rows {
        t += &format!(
            "| {} | {} | [{:.1}, {:.1}] | {:.1}% | {:.1}% | {:.3} | {:.2} | {:.2} |\n",
            r.sampler,
            if r.clipped { "clipped" } else { "as learnt" },
            r.pixel_range.0,
            r.pixel_range.1,
            100.0 * r.outside,
            100.0 * r.outside_level,
            r.quality.classes.mean_confidence,
            r.quality.fd_pixels,
            r.quality.fd_features,
        );
    }
    write_text(&dir.join("clipping.md"), &t)?;
    write_text(
        &dir.join("clipping.json"),
        &serde_json::to_string_pretty(&rows).map_err(|e| Error::param("json", e.to_string()))?,
    )?;
    let mut numbers = claims(&rows, (px, px_sd), (ft, ft_sd))?;
    let train = crate::digits::Digits::book()?.train;
    let edge = train.iter().filter(|v| v.abs() == 1.0).count() as f64 / train.len() as f64;
    numbers.push(("clip_data_edge".into(), format!("{:.0}%", 100.0 * edge)));
    numbers.push(("clip_n".into(), config.n_samples.to_string()));
    write_numbers(dir, &numbers)
}

/// The rows of one sampler: (as learnt, clipped).
fn pair<'a>(rows: &'a [ClippingRow], sampler: &str) -> Result<(&'a ClippingRow, &'a ClippingRow)> {
    let find = |c: bool| {
        rows.iter()
            .find(|r| r.sampler.starts_with(sampler) && r.clipped == c)
            .ok_or_else(|| Error::param("clipping rows", format!("no {sampler} row")))
    };
    Ok((find(false)?, find(true)?))
}

/// Checks the section's sentences and returns its quoted numbers: per row (`anc`, `pp40`,
/// `pp200`; `raw` as learnt, `clip` clipped) the Fréchet distances in floor spreads above the
/// floor (`clip_z_{px,ft}_*`) and the shares of pixels outside the range (`clip_out_*`, by more
/// than a grey level `clip_outl_*`).
fn claims(
    rows: &[ClippingRow],
    (px, px_sd): (f64, f64),
    (ft, ft_sd): (f64, f64),
) -> Result<Vec<(String, String)>> {
    let claim = |ok: bool, what: &str| super::claim("digits chapter, clipping", ok, what);
    let mut numbers = vec![];
    for r in rows {
        let key = format!(
            "{}_{}",
            if r.sampler.starts_with("ancestral") {
                "anc".to_string()
            } else {
                let steps = r.sampler.rsplit(", ").next().unwrap_or("");
                format!("pp{}", steps.trim_end_matches(" steps"))
            },
            if r.clipped { "clip" } else { "raw" }
        );
        let q = &r.quality;
        numbers.push((
            format!("clip_z_px_{key}"),
            format!("{:.1}", (q.fd_pixels - px) / px_sd),
        ));
        numbers.push((
            format!("clip_z_ft_{key}"),
            format!("{:.1}", (q.fd_features - ft) / ft_sd),
        ));
        numbers.push((
            format!("clip_out_{key}"),
            format!("{:.0}%", 100.0 * r.outside),
        ));
        numbers.push((
            format!("clip_outl_{key}"),
            format!("{:.0}%", 100.0 * r.outside_level),
        ));
        if r.clipped {
            claim(r.outside == 0.0, "clipped samples stay in [-1, 1]")?;
        }
    }
    let (anc, anc_clip) = pair(rows, "ancestral")?;
    let ode: Vec<&ClippingRow> = rows
        .iter()
        .filter(|r| !r.sampler.starts_with("ancestral"))
        .collect();
    let (first, last) = match (
        ode.iter().find(|r| !r.clipped),
        ode.iter().rev().find(|r| !r.clipped),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(Error::param("clipping rows", "no DPM-Solver++ row")),
    };
    let close = |a: f64, b: f64| (a / b - 1.0).abs() < 0.05;
    claim(
        close(first.quality.fd_pixels, last.quality.fd_pixels)
            && close(first.quality.fd_features, last.quality.fd_features)
            && first.quality.fd_pixels > 10.0 * px,
        "more steps do not help: the same distances to within 5%, far off",
    )?;
    for r in ode.iter().filter(|r| r.clipped) {
        claim(
            r.quality.fd_pixels < 0.1 * first.quality.fd_pixels
                && r.quality.fd_features < 0.1 * first.quality.fd_features,
            "clipping brings DPM-Solver++(2M) an order of magnitude closer",
        )?;
    }
    claim(
        anc_clip.quality.fd_pixels > anc.quality.fd_pixels
            && anc_clip.quality.fd_features > anc.quality.fd_features,
        "clipping costs the ancestral sampler in both spaces",
    )?;
    claim(
        rows.iter().all(|r| {
            r.quality.fd_pixels >= anc.quality.fd_pixels
                && r.quality.fd_features >= anc.quality.fd_features
        }),
        "ancestral sampling as learnt is the best row",
    )?;
    claim(
        anc.outside_level > 0.35 * anc.outside && anc.outside_level < 0.65 * anc.outside,
        "about half of the out-of-range ancestral pixels are more than a grey level out",
    )?;
    Ok(numbers)
}
