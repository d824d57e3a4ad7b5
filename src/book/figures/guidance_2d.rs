//! The guidance chapter's 2-D comparison: classifier-free guided Euler-Maruyama and
//! DPM-Solver++(2M) against the tilted law `q_w`, by sliced W1 beside the exact-draw noise
//! floor, with the prose's claims checked on the numbers.
use std::path::Path;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::guidance_2d::{example, run, Guidance2dConfig, Guidance2dReport};
use crate::book::plot::{Chart, Figure, Legend};
use crate::error::{Error, Result};
use crate::sampling::TiltedLaw2d;

const SIZE: (u32, u32) = (1100, 420);

/// Writes the assets under `dir`.
pub fn write(dir: &Path) -> Result<()> {
    create_dir(dir)?;
    let r = run(&Guidance2dConfig::book())?;
    claims(&r)?;
    write_table(&r, dir)?;
    write_figure(&r, dir)
}

/// The prose's claims, checked on the numbers it quotes. Runs are ordered EM coarse, EM fine,
/// ODE coarse, ODE fine.
fn claims(r: &Guidance2dReport) -> Result<()> {
    let claim = |ok: bool, what: &str| super::claim("guidance in two dimensions", ok, what);
    let mut last = (0.0, 0.0);
    for row in &r.rows {
        let sw = |k: usize| row.runs[k].summary.sliced_w1;
        let share = |k: usize| row.runs[k].summary.minor_share;
        if row.w == 0.0 {
            claim(
                (0..4).all(|k| sw(k) < row.floor_q95),
                "at w = 0 every run is within the noise floor",
            )?;
            continue;
        }
        claim(
            (0..4).all(|k| sw(k) > 10.0 * row.floor_mean),
            "for w > 0 every run is more than ten times the floor",
        )?;
        claim(
            (sw(1) - sw(0)).abs() < 0.1 * sw(1) && (sw(3) - sw(2)).abs() < 0.1 * sw(3),
            "for w > 0 more steps change the distance by under 10%",
        )?;
        claim(sw(3) > sw(1), "the ODE is farther from q_w than the SDE")?;
        claim(
            share(3) < share(1) && share(1) < row.minor_share_tilted,
            "minor share: ODE < SDE < q_w",
        )?;
        claim(
            sw(1) > last.0 && sw(3) > last.1,
            "the distance grows with w for both samplers",
        )?;
        last = (sw(1), sw(3));
    }
    let top = &r.rows[r.rows.len() - 1];
    claim(
        top.minor_share_tilted > 0.75 * r.rows[0].minor_share_tilted,
        "the tilt itself is mild: q_w keeps most of the minor share",
    )?;
    let major = example()?.mixture().means().row(0).to_owned();
    let m = top.runs[3].summary.mean;
    claim(
        m[0] < major[0] && m[1] < major[1],
        "at the largest w the ODE's mean lies beyond the major component's centre",
    )?;
    Ok(())
}

fn pair(v: [f64; 2]) -> String {
    format!("({:.2}, {:.2})", v[0], v[1])
}

fn write_table(r: &Guidance2dReport, dir: &Path) -> Result<()> {
    let c = &r.config;
    let (e0, e1, o0, o1) = (c.em_steps[0], c.em_steps[1], c.ode_steps[0], c.ode_steps[1]);
    let mut t = format!(
        "| w | Z | minor share, q_w | minor share, SDE | minor share, ODE | mean, q_w | mean, SDE | mean, ODE | SW1, SDE {e0} | SW1, SDE {e1} | SW1, ODE {o0} | SW1, ODE {o1} | floor (mean / 95%) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for row in &r.rows {
        let s = |k: usize| &row.runs[k].summary;
        t += &format!(
            "| {} | {:.3} | {:.4} | {:.4} | {:.4} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} / {:.4} |\n",
            row.w,
            row.z,
            row.minor_share_tilted,
            s(1).minor_share,
            s(3).minor_share,
            pair(row.mean_tilted),
            pair(s(1).mean),
            pair(s(3).mean),
            s(0).sliced_w1,
            s(1).sliced_w1,
            s(2).sliced_w1,
            s(3).sliced_w1,
            row.floor_mean,
            row.floor_q95
        );
    }
    write_text(&dir.join("table.md"), &t)?;
    let mut numbers: Vec<(String, String)> = vec![
        ("paths".into(), c.paths.to_string()),
        ("directions".into(), c.directions.to_string()),
        ("floor_reps".into(), c.floor_reps.to_string()),
        ("em_coarse".into(), e0.to_string()),
        ("em_fine".into(), e1.to_string()),
        ("ode_coarse".into(), o0.to_string()),
        ("ode_fine".into(), o1.to_string()),
        ("panels".into(), (8 * c.panels).to_string()),
        ("h".into(), c.h.to_string()),
        ("seconds".into(), format!("{:.1}", r.seconds)),
    ];
    for row in &r.rows {
        let key = format!("w{}", row.w);
        let s = |k: usize| &row.runs[k].summary;
        numbers.extend([
            (format!("floor_{key}"), format!("{:.4}", row.floor_mean)),
            (format!("floor95_{key}"), format!("{:.4}", row.floor_q95)),
            (format!("sde_{key}"), format!("{:.4}", s(1).sliced_w1)),
            (format!("ode_{key}"), format!("{:.4}", s(3).sliced_w1)),
            (
                format!("share_q_{key}"),
                format!("{:.4}", row.minor_share_tilted),
            ),
            (
                format!("share_sde_{key}"),
                format!("{:.4}", s(1).minor_share),
            ),
            (
                format!("share_ode_{key}"),
                format!("{:.4}", s(3).minor_share),
            ),
            (format!("mean_q_{key}"), pair(row.mean_tilted)),
            (format!("mean_sde_{key}"), pair(s(1).mean)),
            (format!("mean_ode_{key}"), pair(s(3).mean)),
        ]);
    }
    write_numbers(dir, &numbers)?;
    write_text(
        &dir.join("report.json"),
        &serde_json::to_string_pretty(r).map_err(Error::from)?,
    )
}

/// Density of `values` on `bins` equal bins of `[lo, hi]`, normalised by all values.
fn density(values: &[f64], lo: f64, hi: f64, bins: usize) -> (Vec<f64>, Vec<f64>) {
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0.0; bins];
    for &v in values {
        let k = ((v - lo) / width).floor();
        if k >= 0.0 && (k as usize) < bins {
            counts[k as usize] += 1.0;
        }
    }
    let n = values.len() as f64;
    (
        (0..bins).map(|k| lo + (k as f64 + 0.5) * width).collect(),
        counts.into_iter().map(|c| c / (n * width)).collect(),
    )
}

fn write_figure(r: &Guidance2dReport, dir: &Path) -> Result<()> {
    let c = &r.config;
    let ws: Vec<f64> = r.rows.iter().map(|row| row.w).collect();
    let col = |k: usize| -> Vec<f64> {
        r.rows
            .iter()
            .map(|row| row.runs[k].summary.sliced_w1)
            .collect()
    };
    let distances = Chart::new("sliced W1 to q_w")
        .x_label("guidance strength w")
        .y_label("sliced W1")
        .log_y()
        .y_range(2e-3, 60.0)
        .legend(Legend::UpperLeft)
        .line(
            format!("SDE (EM), {} steps", c.em_steps[1]),
            ws.clone(),
            col(1),
        )
        .line(
            format!("ODE (DPM++2M), {} steps", c.ode_steps[1]),
            ws.clone(),
            col(3),
        )
        .dashed_line(
            format!("floor: {} exact draws of q_w", c.paths),
            ws,
            r.rows.iter().map(|row| row.floor_mean).collect::<Vec<_>>(),
        );
    // The axis from the major component of class 0 to its minor one.
    let p0 = example()?;
    let m = p0.mixture().means();
    let phi = (m[[1, 1]] - m[[0, 1]]).atan2(m[[1, 0]] - m[[0, 0]]);
    let (cs, sn) = (phi.cos(), phi.sin());
    let mut panels = vec![Figure::from(distances)];
    for row in r.rows.iter().filter(|row| [2.0, 4.0].contains(&row.w)) {
        let law = TiltedLaw2d::new(&p0, c.class, row.w, c.lo, c.hi, c.panels)?;
        let (u, f) = law.projected_cdf(phi, 0.02)?;
        let keep: Vec<usize> = (1..u.len() - 1)
            .filter(|&k| (-4.5..=2.5).contains(&u[k]))
            .collect();
        let q: Vec<f64> = keep
            .iter()
            .map(|&k| (f[k + 1] - f[k - 1]) / (u[k + 1] - u[k - 1]))
            .collect();
        let uq: Vec<f64> = keep.iter().map(|&k| u[k]).collect();
        let proj = |k: usize| -> Vec<f64> {
            row.runs[k]
                .samples
                .rows()
                .into_iter()
                .map(|x| cs * x[0] + sn * x[1])
                .collect()
        };
        let (xe, de) = density(&proj(1), -4.5, 2.5, 70);
        let (xo, do_) = density(&proj(3), -4.5, 2.5, 70);
        let top = q
            .iter()
            .chain(&de)
            .chain(&do_)
            .fold(0.0_f64, |a, &b| a.max(b));
        panels.push(
            Chart::new(format!("w = {}, projected", row.w))
                .x_label("projection on the major-to-minor axis")
                .y_label("density")
                .y_range(0.0, 1.4 * top)
                .line("SDE sample", xe, de)
                .line("ODE sample", xo, do_)
                .dashed_line("q_w (quadrature)", uq, q)
                .into(),
        );
    }
    let fig = Figure::grid(3, panels)
        .with_title("Guidance in 2-D: what the samplers draw against the tilted law q_w");
    fig.save_svg(dir.join("guidance_2d.svg"), SIZE)
}
