//! The guidance chapter's figure and numbers: the exact law of classifier-free guided
//! Euler-Maruyama against the tilted law its scores describe at `t = 0`.
use std::path::Path;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::guidance::{run, GuidanceConfig, GuidanceReport};
use crate::book::plot::{Chart, Figure};
use crate::error::Result;
use crate::quadrature::linspace;

const GRID_SIZE: (u32, u32) = (1000, 420);

/// Writes the chapter's assets under `dir`.
pub fn write(dir: &Path) -> Result<()> {
    create_dir(dir)?;
    let r = run(&GuidanceConfig::book())?;
    write_table(&r, dir)?;
    write_figure(&r, dir)?;
    super::guidance_cfg::write(&r, dir)
}

fn write_table(r: &GuidanceReport, dir: &Path) -> Result<()> {
    let c = &r.config;
    let mut t = String::from(
        "| w | mean, guided | mean, tilted | sd, guided | sd, tilted | P(X > -0.75), guided | P(X > -0.75), tilted | W1(guided, tilted), 200 steps | same, 100 steps |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in &r.rows {
        t += &format!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} | {:.4} |\n",
            row.w,
            row.mean_guided,
            row.mean_tilted,
            row.sd_guided,
            row.sd_tilted,
            row.upper_guided,
            row.upper_tilted,
            row.w1_tilted,
            row.w1_tilted_coarse
        );
    }
    write_text(&dir.join("table.md"), &t)?;
    let at = |w: f64| r.rows.iter().find(|row| row.w == w);
    let mut numbers: Vec<(String, String)> = vec![
        ("steps".into(), c.steps.to_string()),
        ("coarse_steps".into(), c.coarse_steps.to_string()),
    ];
    if let Some(row) = at(0.0) {
        numbers.push(("w1_w0".into(), format!("{:.4}", row.w1_tilted)));
    }
    for (w, key) in [(2.0, "w2"), (4.0, "w4")] {
        if let Some(row) = at(w) {
            numbers.push((format!("w1_{key}"), format!("{:.3}", row.w1_tilted)));
            numbers.push((
                format!("mean_guided_{key}"),
                format!("{:.3}", row.mean_guided),
            ));
            numbers.push((
                format!("mean_tilted_{key}"),
                format!("{:.3}", row.mean_tilted),
            ));
            numbers.push((
                format!("upper_guided_{key}"),
                format!("{:.3}", row.upper_guided),
            ));
            numbers.push((
                format!("upper_tilted_{key}"),
                format!("{:.3}", row.upper_tilted),
            ));
        }
    }
    write_numbers(dir, &numbers)?;
    write_text(
        &dir.join("report.json"),
        &serde_json::to_string_pretty(r).map_err(crate::error::Error::from)?,
    )
}

fn write_figure(r: &GuidanceReport, dir: &Path) -> Result<()> {
    let xs = linspace(-5.0, 5.0, 401);
    let h = 0.025;
    let density = |cdf: &dyn Fn(f64) -> f64| -> Vec<f64> {
        xs.iter()
            .map(|&x| (cdf(x + h) - cdf(x - h)) / (2.0 * h))
            .collect()
    };
    let panels: Vec<Figure> = r
        .rows
        .iter()
        .filter(|row| [0.0, 1.0, 4.0].contains(&row.w))
        .map(|row| {
            let guided = density(&|x| row.guided.cdf(x));
            let tilted = density(&|x| row.tilted.cdf(x));
            // Head room above the curves for the legend.
            let top = guided.iter().chain(&tilted).fold(0.0_f64, |m, &v| m.max(v));
            Chart::new(format!("w = {}", row.w))
                .x_label("x")
                .y_label("density")
                .y_range(0.0, 1.45 * top)
                .line("guided sampler (exact law)", xs.clone(), guided)
                .dashed_line("tilted p0(x|y) p0(y|x)^w", xs.clone(), tilted)
                .into()
        })
        .collect();
    Figure::grid(3, panels)
        .with_title(
            "Classifier-free guidance for class 0: what the sampler draws and the tilted law",
        )
        .save_svg(dir.join("guided_laws.svg"), GRID_SIZE)
}
