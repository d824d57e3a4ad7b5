//! The digits chapter's section on the VE SDE and on training in `f32`: the table `ve_table.md`
//! (the VE network with `c_in`, the VP network trained in `f32`, beside the VP `f64` network of
//! [`digits::write_network`](super::digits::write_network) and the real-image floor) and the
//! numbers `ve_*.txt`, with the section's sentences checked against the run.
use std::path::Path;

use super::{claim, create_dir, write_numbers, write_text};
use crate::book::experiment::digits_network::{DigitsNetworkReport, NetworkRow, Quality};
use crate::book::experiment::digits_ve::{DigitsVeReport, VeRow, FAR};
use crate::error::{Error, Result};
use crate::fast::input_scale;
use crate::sde::LinearSde;

/// The section's name in claim errors.
const SECTION: &str = "digits chapter, VE and f32";

/// Writes the section's assets under `dir` (the `digits` folder) from the VE run and the VP
/// `f64` network's report.
pub fn write(dir: &Path, r: &DigitsVeReport, network: &DigitsNetworkReport) -> Result<()> {
    create_dir(dir)?;
    let vp64 = vp_f64_row(network)?;
    let find = |sde: &str, precision: &str, sampler: &str| {
        r.rows
            .iter()
            .find(|row| {
                row.sde == sde
                    && row.precision == precision
                    && row.activation == "relu"
                    && row.sampler.starts_with(sampler)
            })
            .ok_or_else(|| Error::param("VE report", format!("no {sde} {precision} {sampler} row")))
    };
    let (ve, em, vp32) = (
        find("VE", "f64", "ancestral")?,
        find("VE", "f64", "Euler")?,
        find("VP", "f32", "ancestral")?,
    );
    let ((px, px_sd), (ft, ft_sd)) = super::digits::floor_of(&network.real);
    let vp64_loss = network
        .final_loss
        .iter()
        .max_by_key(|(n, _)| *n)
        .map_or(f64::NAN, |p| p.1);
    write_text(
        &dir.join("ve_table.md"),
        &table(network, vp64, vp64_loss, [ve, em, vp32]),
    )?;
    let ve_near = ve.quality_near.as_ref();
    let sde = crate::book::experiment::digits_ve::digits_ve_sde(
        crate::digits::Digits::book()?.train.view(),
        r.config.sigma_min,
    )?;
    let (far_z, far_eps) = r.far_trace.first().copied().unwrap_or((f64::NAN, f64::NAN));
    let fd = |v: f64| format!("{v:.2}");
    let near = |f: fn(&Quality) -> f64| ve_near.map_or(String::new(), |q| fd(f(q)));
    write_numbers(
        dir,
        &[
            ("ve_sigma_max", format!("{:.2}", r.sigma_max)),
            ("ve_sigma_min", format!("{}", r.config.sigma_min)),
            ("ve_data_var", format!("{:.3}", r.data_var)),
            ("ve_data_sd", format!("{:.2}", r.data_var.sqrt())),
            ("ve_zeta_max", format!("{:.2}", sde.kernel_std(1.0))),
            (
                "ve_c_in_0",
                format!("{:.2}", input_scale(&sde, 0.0, r.data_var)?),
            ),
            (
                "ve_c_in_1",
                format!("{:.3}", input_scale(&sde, 1.0, r.data_var)?),
            ),
            ("ve_samples", r.config.n_samples.to_string()),
            ("ve_steps", r.config.steps.to_string()),
            ("ve_train_steps", r.config.train.steps.to_string()),
            ("ve_fd_px", fd(ve.quality.fd_pixels)),
            ("ve_fd_ft", fd(ve.quality.fd_features)),
            ("ve_fd_px_em", fd(em.quality.fd_pixels)),
            ("ve_fd_ft_em", fd(em.quality.fd_features)),
            ("ve_fd_px_near", near(|q| q.fd_pixels)),
            ("ve_fd_ft_near", near(|q| q.fd_features)),
            ("ve_fd_px_f32", fd(vp32.quality.fd_pixels)),
            ("ve_fd_ft_f32", fd(vp32.quality.fd_features)),
            ("ve_fd_px_f64", fd(vp64.quality.fd_pixels)),
            ("ve_fd_ft_f64", fd(vp64.quality.fd_features)),
            ("ve_floor_px", format!("{px:.2} ± {px_sd:.2}")),
            ("ve_floor_ft", format!("{ft:.2} ± {ft_sd:.2}")),
            ("ve_far", FAR.to_string()),
            ("ve_far_count", ve.far.to_string()),
            ("ve_far_count_em", em.far.to_string()),
            ("ve_largest_pixel", format!("{:.1}", ve.largest_pixel)),
            ("ve_loss_f32", format!("{:.3}", vp32.final_loss)),
            ("ve_loss_f64", format!("{vp64_loss:.3}")),
            ("ve_loss_ve", format!("{:.3}", ve.final_loss)),
            ("ve_seconds_ve", format!("{:.0}", ve.train_seconds)),
            ("ve_seconds_f32", format!("{:.0}", vp32.train_seconds)),
            ("ve_far_z", format!("{far_z:.2}")),
            ("ve_far_eps", format!("{far_eps:.2}")),
            (
                "ve_far_x0_error",
                format!("{:.0}", (far_z - far_eps).abs() * sde.kernel_std(1.0)),
            ),
            ("ve_zeta_mid", format!("{:.2}", sde.kernel_std(0.5))),
            (
                "ve_zeta_mid_vp",
                format!("{:.2}", crate::sde::Vp::song().kernel_std(0.5)),
            ),
        ],
    )?;
    write_text(
        &dir.join("ve_report.json"),
        &serde_json::to_string_pretty(r)?,
    )?;
    claims_hold(ve, em, vp32, vp64, (px_sd, ft_sd))
}

/// Checks the section's sentences against the run (after its numbers are written, so that a
/// failing sentence can be read against them).
fn claims_hold(
    ve: &VeRow,
    em: &VeRow,
    vp32: &VeRow,
    vp64: &NetworkRow,
    (px_sd, ft_sd): (f64, f64),
) -> Result<()> {
    let ve_near = ve.quality_near.as_ref();
    for row in [ve, em, vp32] {
        claim(
            SECTION,
            row.quality.classes.histogram.iter().all(|&c| c > 0),
            "every class",
        )?;
    }
    let q64 = &vp64.quality;
    for row in [ve, em] {
        claim(
            SECTION,
            row.quality.fd_pixels > q64.fd_pixels && row.quality.fd_features > q64.fd_features,
            "the VE samples are further from the test images than the VP network's, in both spaces",
        )?;
    }
    claim(
        SECTION,
        (vp32.quality.fd_pixels - q64.fd_pixels).abs() < px_sd
            && (vp32.quality.fd_features - q64.fd_features).abs() < ft_sd,
        "the f32 network's distances are within one floor spread of the f64 network's",
    )?;
    claim(
        SECTION,
        ve.far == 1
            && em.far == 1
            && vp32.far == 0
            && vp64.pixel_range.0 > -FAR
            && vp64.pixel_range.1 < FAR,
        "one VE sample per sampler has a pixel beyond the far threshold, no VP sample does",
    )?;
    claim(
        SECTION,
        ve_near.is_some_and(|q| q.fd_pixels < ve.quality.fd_pixels),
        "without the far samples the pixel distance drops",
    )?;
    claim(
        SECTION,
        ve_near.is_some_and(|q| {
            (q.fd_pixels - q64.fd_pixels).abs() < 2.0 * px_sd
                && q.fd_features - q64.fd_features > 2.0 * ft_sd
        }),
        "without the far sample: pixels within two floor spreads of VP, features more than two above",
    )?;
    Ok(())
}

/// The VP `f64` network on the largest training set: Fourier features, EMA, ancestral.
fn vp_f64_row(r: &DigitsNetworkReport) -> Result<&NetworkRow> {
    let largest = r.rows.iter().map(|row| row.n_train).max().unwrap_or(0);
    r.rows
        .iter()
        .find(|row| {
            row.n_train == largest
                && row.time_input == "Fourier"
                && row.weights == "EMA"
                && row.sampler.starts_with("ancestral")
        })
        .ok_or_else(|| Error::param("network report", "no EMA ancestral row"))
}

/// The floor, the VP `f64` row, then the rows of this run (and the VE ancestral samples
/// without the far ones).
fn table(
    network: &DigitsNetworkReport,
    vp64: &NetworkRow,
    vp64_loss: f64,
    [ve, em, vp32]: [&VeRow; 3],
) -> String {
    let counts = |q: &Quality| {
        let h: Vec<String> = q.classes.histogram.iter().map(|c| c.to_string()).collect();
        format!("`{}`", h.join(" "))
    };
    let cells = |q: &Quality| {
        format!(
            "{} | {:.3} | {:.2} | {:.2}",
            counts(q),
            q.classes.mean_confidence,
            q.fd_pixels,
            q.fd_features
        )
    };
    let ((px, px_sd), (ft, ft_sd)) = super::digits::floor_of(&network.real);
    let mut t = String::from(
        "| images | training | final loss | count per class, 0 to 9 | mean confidence | Fréchet², pixels | Fréchet², features | pixel range | training seconds |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let real = &network.real[0];
    t += &format!(
        "| {} real training images (floor: mean ± sd over {} draws) | | | {} | {:.3} | {px:.2} ± {px_sd:.2} | {ft:.2} ± {ft_sd:.2} | [-1, 1] | |\n",
        real.classes.histogram.iter().sum::<usize>(),
        network.real.len(),
        counts(real),
        real.classes.mean_confidence,
    );
    t += &format!(
        "| VP, {} | f64 | {vp64_loss:.3} | {} | [{:.1}, {:.1}] | (other thread) |\n",
        vp64.sampler,
        cells(&vp64.quality),
        vp64.pixel_range.0,
        vp64.pixel_range.1
    );
    for row in [vp32, ve, em] {
        let name = match row.sde.as_str() {
            "VE" => "VE with c_in",
            other => other,
        };
        t += &format!(
            "| {name}, {} | {} | {:.3} | {} | [{:.1}, {:.1}] | {:.0} |\n",
            row.sampler,
            row.precision,
            row.final_loss,
            cells(&row.quality),
            row.pixel_range.0,
            row.pixel_range.1,
            row.train_seconds
        );
    }
    if let Some(q) = &ve.quality_near {
        t += &format!(
            "| VE with c_in, {}, without the {} samples with a pixel beyond ±{FAR} | f64 | | {} | | |\n",
            ve.sampler,
            ve.far,
            cells(q)
        );
    }
    t
}
