//! The digits chapter's "Training for the likelihood": the network trained on the lattice
//! images, on dequantised images, and on dequantised images with the likelihood weighting,
//! scored in test bits per dimension beside the baselines, and its samples judged by the
//! classifier. Files `lik_*` in the chapter's folder.
use std::path::Path;

use super::digits::floor_of;
use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::digits_likelihood::{
    run, DigitsLikelihoodConfig, DigitsLikelihoodReport, LikelihoodRow,
};
use crate::error::Result;

/// Writes the subsection's tables and numbers under `dir` (three trainings and twelve
/// probability-flow integrations).
pub fn write(dir: &Path) -> Result<DigitsLikelihoodReport> {
    create_dir(dir)?;
    let t0 = std::time::Instant::now();
    let r = run(&DigitsLikelihoodConfig::book())?;
    let seconds = t0.elapsed().as_secs_f64();
    write_text(&dir.join("lik_bits.md"), &bits_table(&r))?;
    write_text(&dir.join("lik_quality.md"), &quality_table(&r))?;
    let mut numbers = claims(&r)?;
    numbers.push(("lik_seconds".into(), format!("{seconds:.0}")));
    numbers.push(("lik_steps".into(), r.config.train.steps.to_string()));
    numbers.push(("lik_n_train".into(), r.config.n_train.to_string()));
    numbers.push((
        "lik_segments".into(),
        crate::fast::LikelihoodTimes::SEGMENTS.to_string(),
    ));
    write_numbers(dir, &numbers)?;
    write_text(
        &dir.join("lik_report.json"),
        &serde_json::to_string_pretty(&r)?,
    )?;
    Ok(r)
}

/// Baselines, then each network's EMA bits per dimension at every starting time.
fn bits_table(r: &DigitsLikelihoodReport) -> String {
    let ts = &r.config.t_mins;
    let mut t = String::from("| model |");
    for s in ts {
        t += &format!(" flow from t = {s} |");
    }
    t += "\n|---|";
    t += &"---|".repeat(ts.len());
    t += "\n";
    for b in &r.baselines {
        t += &format!("| {} |", b.model);
        t += &format!(" {:.3} ± {:.3} |", b.bpd, b.se).repeat(ts.len());
        t += "\n";
    }
    for row in &r.rows {
        t += &format!("| network, {} (EMA) |", row.name);
        for &(_, bpd, se) in &row.bits {
            t += &format!(" {bpd:.3} ± {se:.3} |");
        }
        t += "\n";
    }
    t
}

/// The classifier's verdict on each network's ancestral samples, with the floor.
fn quality_table(r: &DigitsLikelihoodReport) -> String {
    let counts = |h: &[usize]| {
        h.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ((px, px_sd), (ft, ft_sd)) = floor_of(&r.real);
    let q = &r.real[0];
    let mut t = String::from(
        "| images | count per class, 0 to 9 | mean confidence | Fréchet², pixels | Fréchet², features |\n|---|---|---|---|---|\n",
    );
    t += &format!(
        "| {} real training images (the floor: mean ± sd over {} draws) | `{}` | {:.3} | {:.2} ± {:.2} | {:.2} ± {:.2} |\n",
        q.classes.histogram.iter().sum::<usize>(),
        r.real.len(),
        counts(&q.classes.histogram),
        q.classes.mean_confidence,
        px,
        px_sd,
        ft,
        ft_sd
    );
    for row in &r.rows {
        let q = &row.quality;
        t += &format!(
            "| network, {} (EMA), ancestral, {} steps | `{}` | {:.3} | {:.2} | {:.2} |\n",
            row.name,
            r.config.ancestral_steps,
            counts(&q.classes.histogram),
            q.classes.mean_confidence,
            q.fd_pixels,
            q.fd_features
        );
    }
    t
}

/// The best starting time of a row: `(t_min, bpd, se)` with the smallest bound.
fn best(row: &LikelihoodRow) -> (f64, f64, f64) {
    row.bits
        .iter()
        .copied()
        .fold((f64::NAN, f64::INFINITY, f64::NAN), |b, x| {
            if x.1 < b.1 {
                x
            } else {
                b
            }
        })
}

/// The numbers the prose quotes, each sentence checked against the run (an error names the
/// sentence that no longer holds). Distances between two bounds are in combined standard
/// errors, `(a − b)/sqrt(se_a² + se_b²)`.
fn claims(r: &DigitsLikelihoodReport) -> Result<Vec<(String, String)>> {
    let claim =
        |ok: bool, what: &str| super::claim("digits chapter, likelihood training", ok, what);
    let z = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0) / (a.1 * a.1 + b.1 * b.1).sqrt();
    let gauss = (r.baselines[1].bpd, r.baselines[1].se);
    let ((px, px_sd), (ft, ft_sd)) = floor_of(&r.real);
    let mut out = vec![
        ("lik_gauss".to_string(), format!("{:.3}", gauss.0)),
        (
            "lik_class".to_string(),
            format!("{:.3}", r.baselines[2].bpd),
        ),
    ];
    for (key, row) in ["lattice", "deq", "weighted"].iter().zip(&r.rows) {
        let (t, bpd, se) = best(row);
        let (_, first, first_se) = row.bits[0];
        out.push((
            format!("lik_{key}_first"),
            format!("{first:.3} ± {first_se:.3}"),
        ));
        out.push((format!("lik_{key}_best"), format!("{bpd:.3} ± {se:.3}")));
        out.push((format!("lik_{key}_best_t"), format!("{t}")));
        out.push((
            format!("lik_{key}_z_gauss"),
            format!("{:.1}", z((bpd, se), gauss)),
        ));
        out.push((format!("lik_{key}_loss"), format!("{:.3}", row.final_loss)));
        out.push((
            format!("lik_{key}_z_px"),
            format!("{:.1}", (row.quality.fd_pixels - px) / px_sd),
        ));
        out.push((
            format!("lik_{key}_z_ft"),
            format!("{:.1}", (row.quality.fd_features - ft) / ft_sd),
        ));
    }
    claim(r.rows.len() == 3, "three networks")?;
    Ok(out)
}
