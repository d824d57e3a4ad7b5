//! The digits chapter's "Training for the likelihood": the network trained on the lattice
//! images, on dequantised images, and on dequantised images with the likelihood weighting,
//! scored in test bits per dimension beside the baselines, and its samples judged by the
//! classifier; where the likelihood-weighted network's flow takes its worst test image.
//! Files `lik_*` in the chapter's folder.
use std::path::Path;

use super::digits::floor_of;
use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::digits_likelihood::{
    run, DigitsLikelihoodConfig, DigitsLikelihoodReport, LikelihoodRow, PathPoint, Runaway, RUNAWAY,
};
use crate::error::Result;

/// Writes the subsection's tables and numbers under `dir` (three trainings, a likelihood
/// integration per network and starting time, and the flows that follow the weighted
/// network's worst image, `lik_runaway.md`).
pub fn write(dir: &Path) -> Result<DigitsLikelihoodReport> {
    create_dir(dir)?;
    let t0 = std::time::Instant::now();
    let r = run(&DigitsLikelihoodConfig::book())?;
    let seconds = t0.elapsed().as_secs_f64();
    write_text(&dir.join("lik_bits.md"), &bits_table(&r))?;
    write_text(&dir.join("lik_median.md"), &median_table(&r))?;
    write_text(&dir.join("lik_quality.md"), &quality_table(&r))?;
    write_text(&dir.join("lik_runaway.md"), &runaway_table(&r)?)?;
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

/// Each network's median bound over test images and how many images cost more than the
/// uniform code.
fn median_table(r: &DigitsLikelihoodReport) -> String {
    let ts = &r.config.t_mins;
    let mut t = String::from("| network (EMA) |");
    for s in ts {
        t += &format!(" flow from t = {s} |");
    }
    t += "\n|---|";
    t += &"---|".repeat(ts.len());
    t += "\n";
    for row in &r.rows {
        t += &format!("| {} |", row.name);
        for (m, k) in row.median.iter().zip(&row.above_uniform) {
            t += &format!(" {m:.3} ({k}) |");
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
        let shifted = row.quality_shifted.iter().map(|q| (q, ", shifted by −Δ/2"));
        for (q, how) in std::iter::once((&row.quality, "")).chain(shifted) {
            t += &format!(
                "| network, {} (EMA), ancestral, {} steps{how} | `{}` | {:.3} | {:.2} | {:.2} |\n",
                row.name,
                r.config.ancestral_steps,
                counts(&q.classes.histogram),
                q.classes.mean_confidence,
                q.fd_pixels,
                q.fd_features
            );
        }
    }
    t
}

/// A positive number with three significant digits: fixed below 1000, else `1.23e4`.
fn sig3(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.2e}")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The weighted network's worst image along its flow, beside the eps network's flow of the
/// same image: `|x(t)|` and the radial gain `γ` against `ζ(t)`.
fn runaway_table(r: &DigitsLikelihoodReport) -> Result<String> {
    let w = runaway_of(r)?;
    let mut t = String::from(
        "| t | ζ(t) | ‖x(t)‖, likelihood weighting | γ, likelihood weighting | ‖x(t)‖, eps loss | γ, eps loss |\n|---|---|---|---|---|---|\n",
    );
    for ((a, b), z) in w.path_weighted.iter().zip(&w.path_eps).zip(&w.zeta) {
        t += &format!(
            "| {} | {:.3} | {} | {:.2} | {} | {:.2} |\n",
            a.t,
            z,
            sig3(a.norm),
            a.gain,
            sig3(b.norm),
            b.gain
        );
    }
    Ok(t)
}

/// The report's [`Runaway`], an error if the run has none.
fn runaway_of(r: &DigitsLikelihoodReport) -> Result<&Runaway> {
    r.runaway
        .as_ref()
        .ok_or_else(|| crate::error::Error::param("lik_report", "has no runaway section"))
}

/// The numbers and checked sentences of the runaway paragraph: not the solver, where the
/// flow leaves the data, how the network extrapolates, and what it is not.
fn runaway_claims(r: &DigitsLikelihoodReport, out: &mut Vec<(String, String)>) -> Result<()> {
    let claim = |ok: bool, what: &str| {
        super::claim("digits chapter, training for the likelihood", ok, what)
    };
    let w = runaway_of(r)?;
    let ends: Vec<f64> = w.solvers.iter().map(|s| s.1).collect();
    let (lo, hi) = ends
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &e| (a.min(e), b.max(e)));
    claim(
        w.solvers.len() == 3 && hi / lo - 1.0 < 0.05,
        "not the solver: three integrations agree to 5%",
    )?;
    let solvers = w
        .solvers
        .iter()
        .map(|(label, end, nfe)| format!("{} ({label}, {nfe} evaluations)", sig3(*end)))
        .collect::<Vec<_>>();
    out.push((
        "lik_runaway_solvers".into(),
        format!("{}, {} and {}", solvers[0], solvers[1], solvers[2]),
    ));
    let (pw, pe) = (&w.path_weighted, &w.path_eps);
    let start = pw[0].norm;
    let at = |p: &[PathPoint], t: f64| p.iter().find(|q| q.t == t).copied();
    let (Some(w01), Some(end_w)) = (at(pw, 0.1), pw.last()) else {
        return claim(false, "the path has t = 0.1 and T");
    };
    claim(
        (w01.norm / start - 1.0).abs() < 0.05,
        "the flow stays at the image's size up to t = 0.1",
    )?;
    claim(
        pw.iter()
            .zip(&w.zeta)
            .filter(|(p, _)| p.t >= 0.1)
            .all(|(p, &z)| p.gain > z),
        "from t = 0.1 on, γ > ζ: |x| grows",
    )?;
    claim(
        end_w.norm > 1000.0 && end_w.gain > 2.0,
        "carried beyond 1000 with γ above 2 at T",
    )?;
    claim(
        pe.iter()
            .all(|p| p.norm < RUNAWAY / 2.0 && p.norm < w.trained_max_norm),
        "the eps network keeps the same image within |x| < 10, inside the trained region",
    )?;
    let Some(leaves) = pw.iter().find(|p| p.norm > w.trained_max_norm) else {
        return claim(false, "the weighted flow leaves the trained region");
    };
    claim(
        leaves.t > 0.1 && end_w.norm > 100.0 * w.trained_max_norm,
        "it leaves the trained region after t = 0.1 and ends 100 times beyond it",
    )?;
    let before = pw
        .iter()
        .rev()
        .find(|p| p.t < leaves.t)
        .map_or(pw[0].t, |p| p.t);
    claim(
        w.far_gain.0 > 2.0 && w.far_gain.1 > 1.0,
        "far out, both networks' γ at T exceeds ζ(T) = 1 along the escape direction",
    )?;
    claim(
        w.train_runaways.0 > 0 && w.train_runaways.1 == 0 && w.test_runaways.1 == 0,
        "training images run away too, never under the eps network",
    )?;
    claim(
        w.q_above_half > 0.3,
        "large t is not starved: over 30% of the draws above t = 0.5",
    )?;
    claim(
        (0.1..0.9).contains(&w.nearest_share),
        "an ordinary image by its distance to the training images",
    )?;
    out.extend([
        ("lik_runaway_class".to_string(), w.class.to_string()),
        (
            "lik_runaway_farther".to_string(),
            format!("{:.0}%", 100.0 * (1.0 - w.nearest_share)),
        ),
        ("lik_runaway_start".to_string(), sig3(start)),
        (
            "lik_runaway_trained_max".to_string(),
            sig3(w.trained_max_norm),
        ),
        ("lik_runaway_leaves".to_string(), format!("{}", leaves.t)),
        ("lik_runaway_before".to_string(), format!("{before}")),
        (
            "lik_runaway_draws".to_string(),
            crate::book::experiment::digits_likelihood::TRAINING_DRAWS.to_string(),
        ),
        (
            "lik_runaway_eps_max".to_string(),
            sig3(pe.iter().fold(0.0f64, |a, p| a.max(p.norm))),
        ),
        (
            "lik_runaway_far_weighted".to_string(),
            format!("{:.2}", w.far_gain.0),
        ),
        (
            "lik_runaway_far_eps".to_string(),
            format!("{:.2}", w.far_gain.1),
        ),
        (
            "lik_runaway_train".to_string(),
            w.train_runaways.0.to_string(),
        ),
        (
            "lik_runaway_test".to_string(),
            w.test_runaways.0.to_string(),
        ),
        ("lik_runaway_n".to_string(), w.n_test.to_string()),
        (
            "lik_q_above_half".to_string(),
            format!("{:.0}%", 100.0 * w.q_above_half),
        ),
        (
            "lik_q_uniform_above_half".to_string(),
            format!("{:.0}%", 100.0 * 0.5 / (1.0 - r.config.train.t_eps)),
        ),
    ]);
    Ok(())
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
/// errors, `(a − b)/sqrt(se_a² + se_b²)` (which ignores that both are over the same images);
/// distances of samples from the floor in floor spreads, `(fd − floor mean)/floor sd`, of
/// the samples shifted by `−Δ/2` for the dequantised networks.
fn claims(r: &DigitsLikelihoodReport) -> Result<Vec<(String, String)>> {
    let claim = |ok: bool, what: &str| {
        super::claim("digits chapter, training for the likelihood", ok, what)
    };
    let z = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0) / (a.1 * a.1 + b.1 * b.1).sqrt();
    claim(r.rows.len() == 3, "three networks")?;
    let (lattice, deq, weighted) = (&r.rows[0], &r.rows[1], &r.rows[2]);
    let uniform = r.baselines[0].bpd;
    let gauss = (r.baselines[1].bpd, r.baselines[1].se);
    let ((px, px_sd), (ft, ft_sd)) = floor_of(&r.real);
    let judged = |row: &LikelihoodRow| row.quality_shifted.clone().unwrap_or(row.quality.clone());
    let mut out = vec![
        ("lik_gauss".to_string(), format!("{:.3}", gauss.0)),
        ("lik_uniform".to_string(), format!("{uniform:.3}")),
        ("lik_t_first".to_string(), format!("{}", r.config.t_mins[0])),
        ("lik_floor_px".to_string(), format!("{px:.2}")),
    ];
    for (key, row) in ["lattice", "deq", "weighted"].iter().zip(&r.rows) {
        let (t, bpd, se) = best(row);
        let (_, first, first_se) = row.bits[0];
        let q = judged(row);
        out.extend([
            (
                format!("lik_{key}_first"),
                format!("{first:.3} ± {first_se:.3}"),
            ),
            (format!("lik_{key}_best"), format!("{bpd:.3} ± {se:.3}")),
            (format!("lik_{key}_best_t"), format!("{t}")),
            (
                format!("lik_{key}_z_gauss"),
                format!("{:.1}", z((bpd, se), gauss)),
            ),
            (
                format!("lik_{key}_median_first"),
                format!("{:.3}", row.median[0]),
            ),
            (
                format!("lik_{key}_above_first"),
                row.above_uniform[0].to_string(),
            ),
            (
                format!("lik_{key}_z_px"),
                format!("{:.1}", (q.fd_pixels - px) / px_sd),
            ),
            (
                format!("lik_{key}_z_ft"),
                format!("{:.1}", (q.fd_features - ft) / ft_sd),
            ),
            (
                format!("lik_{key}_confidence"),
                format!("{:.3}", q.classes.mean_confidence),
            ),
        ]);
    }
    // Dequantisation: at the cut-off, below the lattice network at every starting time, with
    // fewer images above the uniform code.
    let (_, deq_first, deq_first_se) = deq.bits[0];
    let (_, lat_best, lat_best_se) = best(lattice);
    claim(deq_first < lat_best, "dequantisation lowers the bound")?;
    out.push((
        "lik_deq_z_lattice".into(),
        format!(
            "{:.1}",
            z((lat_best, lat_best_se), (deq_first, deq_first_se))
        ),
    ));
    claim(
        deq.above_uniform[0] < lattice.above_uniform[0],
        "dequantisation removes most of the tail",
    )?;
    claim(
        best(deq).0 == r.config.t_mins[0],
        "the dequantised network is best at the cut-off",
    )?;
    // No network beats the single Gaussian; the dequantised eps network comes closest.
    claim(
        r.rows.iter().all(|row| best(row).1 > gauss.0),
        "no network beats the single Gaussian",
    )?;
    claim(
        best(deq).1 < best(weighted).1 && best(deq).1 < best(lattice).1,
        "the dequantised eps network comes closest",
    )?;
    // The likelihood weighting: the lowest median at the cut-off, but more images above the
    // uniform code and a mean above it; its best mean is above the eps network's.
    claim(
        weighted.median[0] < deq.median[0] && weighted.median[0] < lattice.median[0],
        "the weighting gives the lowest median",
    )?;
    claim(
        weighted.above_uniform[0] > deq.above_uniform[0] && weighted.bits[0].1 > uniform,
        "the weighting's tail: a mean above the uniform code",
    )?;
    // Where the worst image's cost comes from: the prior term, the flow having carried it
    // far beyond prior draws (|x| about sqrt(64) = 8).
    let (share, far) = (weighted.worst_prior_share[0], weighted.worst_x_end[0]);
    claim(
        share > 0.99 && far > 100.0,
        "the prior term: carried far out",
    )?;
    out.push((
        "lik_weighted_worst_share".into(),
        format!("{:.1}%", 100.0 * share),
    ));
    out.push(("lik_weighted_worst_x_end".into(), format!("{far:.1e}")));
    runaway_claims(r, &mut out)?;
    claim(
        best(weighted).1 > best(deq).1,
        "the weighting's best mean is above the eps network's",
    )?;
    // Samples: the Δ/2 offset costs pixel distance; shifted back, all three networks lie
    // within 2 floor spreads in features and 3 in pixels; the weighting lowers confidence.
    for row in [deq, weighted] {
        let shifted = judged(row);
        claim(
            row.quality.fd_pixels > shifted.fd_pixels,
            "the offset costs pixel distance",
        )?;
    }
    for row in &r.rows {
        let q = judged(row);
        claim(
            (q.fd_features - ft) / ft_sd < 2.0 && (q.fd_pixels - px) / px_sd < 3.0,
            "within 2 floor spreads in features and 3 in pixels",
        )?;
    }
    let (zf, zp): (Vec<f64>, Vec<f64>) = r
        .rows
        .iter()
        .map(|row| {
            let q = judged(row);
            ((q.fd_features - ft) / ft_sd, (q.fd_pixels - px) / px_sd)
        })
        .unzip();
    let spread = |v: &[f64]| {
        v.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b))
            - v.iter().fold(f64::INFINITY, |a, &b| a.min(b))
    };
    claim(
        spread(&zf) < 1.5 && spread(&zp) < 1.5,
        "the networks' samples differ by less than 1.5 floor spreads",
    )?;
    let conf: Vec<f64> = r
        .rows
        .iter()
        .map(|row| judged(row).classes.mean_confidence)
        .collect();
    claim(
        conf[2] < conf[0] && conf[2] < conf[1] && zf[2] > zf[0] && zf[2] > zf[1],
        "the weighted network's samples: least confident, furthest in features",
    )?;
    for row in [deq, weighted] {
        let d = row.quality.fd_pixels - judged(row).fd_pixels;
        claim((0.15..0.4).contains(&d), "the offset adds about 0.25")?;
    }
    claim(
        r.baselines[2].bpd < gauss.0,
        "the per-class Gaussians are further below",
    )?;
    claim(
        weighted.bits[0].1 > 10.0 * uniform
            && weighted.above_uniform[weighted.above_uniform.len() - 1] < weighted.above_uniform[0],
        "far above the uniform code; started later, the tail shrinks",
    )?;
    Ok(out)
}
