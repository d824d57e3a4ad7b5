//! The guidance chapter's imputation figure and numbers: the first coordinate of a 2-D
//! mixture given the second, under the exact conditional score, the replacement method and
//! reconstruction guidance, against the exact conditional.
use std::path::Path;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::imputation::{run, ImputationConfig, ImputationReport};
use crate::book::plot::{Chart, Figure, Legend};
use crate::error::{Error, Result};
use crate::quadrature::linspace;

const SIZE: (u32, u32) = (1000, 460);

/// Writes the assets under `dir`.
pub fn write(dir: &Path) -> Result<()> {
    create_dir(dir)?;
    let r = run(&ImputationConfig::book())?;
    claims(&r)?;
    write_table(&r, dir)?;
    write_figure(&r, dir)
}

/// The prose's claims, checked on the numbers it quotes.
fn claims(r: &ImputationReport) -> Result<()> {
    let claim = |ok: bool, what: &str| super::claim("imputation section", ok, what);
    let (first, last) = (&r.rows[0], &r.rows[r.rows.len() - 1]);
    let ratio = first.steps as f64 / last.steps as f64;
    claim(
        last.w1_exact < 1.5 * ratio * first.w1_exact,
        "the exact sampler's W1 falls like 1/steps",
    )?;
    claim(
        last.w1_exact < r.floor.w1_mean,
        "the exact sampler ends below the noise floor",
    )?;
    let (lo, hi) = r.rows.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), row| {
        (lo.min(row.w1_replacement), hi.max(row.w1_replacement))
    });
    claim(hi - lo < 0.05 * lo, "replacement W1 flat in the step count")?;
    claim(
        lo > 20.0 * last.w1_exact,
        "replacement far above the exact sampler",
    )?;
    claim(
        r.rows.iter().all(|row| {
            r.upper_marginal < row.upper_replacement && row.upper_replacement < r.upper_conditional
        }),
        "replacement's P(x1 > 0) between the marginal's and the conditional's",
    )?;
    claim(
        r.rows.iter().all(|row| {
            row.upper_replacement - r.upper_marginal < r.upper_conditional - row.upper_replacement
        }),
        "replacement's P(x1 > 0) closer to the marginal's",
    )?;
    for row in &r.rows {
        let (one, four) = (&row.guided[0], &row.guided[1]);
        claim(one.w1 > 10.0 * r.floor.w1_mean, "guidance at w = 1 biased")?;
        claim(
            (one.w1 - row.w1_replacement).abs() < 0.2 * row.w1_replacement,
            "guidance at w = 1 about as biased as replacement",
        )?;
        claim(four.w1 < one.w1, "w = 4 closer than w = 1")?;
        claim(
            four.off_observation > one.off_observation,
            "w = 4 leaves the observation more often",
        )?;
    }
    let off: Vec<f64> = r
        .rows
        .iter()
        .map(|row| row.guided[1].off_observation)
        .collect();
    claim(
        off.windows(2).all(|p| p[1] <= p[0]),
        "w = 4 leaves the observation more often at fewer steps",
    )?;
    Ok(())
}

fn write_table(r: &ImputationReport, dir: &Path) -> Result<()> {
    let c = &r.config;
    let mut t =
        String::from("| steps | W1, exact score | W1, replacement | P(x1 > 0), replacement |");
    let mut rule = String::from("|---|---|---|---|");
    for s in &c.scales {
        t += &format!(" W1, guidance w = {s} | off the observation, w = {s} |");
        rule += "---|---|";
    }
    t += &format!("\n{rule}\n");
    for row in &r.rows {
        t += &format!(
            "| {} | {:.4} | {:.3} | {:.3} |",
            row.steps, row.w1_exact, row.w1_replacement, row.upper_replacement
        );
        for g in &row.guided {
            t += &format!(" {:.3} | {:.1}% |", g.w1, 100.0 * g.off_observation);
        }
        t += "\n";
    }
    write_text(&dir.join("table.md"), &t)?;
    let last = &r.rows[r.rows.len() - 1];
    let numbers = [
        ("observed", format!("{}", c.observed)),
        ("paths", format!("{}", c.paths)),
        ("nodes", format!("{}", c.nodes)),
        ("upper_conditional", format!("{:.3}", r.upper_conditional)),
        ("upper_marginal", format!("{:.3}", r.upper_marginal)),
        (
            "upper_replacement",
            format!("{:.3}", last.upper_replacement),
        ),
        ("upper_guided_w1", format!("{:.3}", last.guided[0].upper)),
        ("upper_guided_w4", format!("{:.3}", last.guided[1].upper)),
        ("floor", format!("{:.3}", r.floor.w1_mean)),
        ("steps_last", format!("{}", last.steps)),
        ("w1_exact_last", format!("{:.4}", last.w1_exact)),
        ("w1_replacement_last", format!("{:.3}", last.w1_replacement)),
        ("rmse_w1", format!("{:.3}", last.guided[0].observed_rmse)),
        ("rmse_w4", format!("{:.3}", last.guided[1].observed_rmse)),
        (
            "off_w4",
            format!("{:.1}%", 100.0 * last.guided[1].off_observation),
        ),
    ];
    write_numbers(dir, &numbers)?;
    write_text(
        &dir.join("report.json"),
        &serde_json::to_string_pretty(r).map_err(Error::from)?,
    )
}

fn write_figure(r: &ImputationReport, dir: &Path) -> Result<()> {
    let steps: Vec<f64> = r.rows.iter().map(|row| row.steps as f64).collect();
    let col = |f: &dyn Fn(&crate::book::experiment::imputation::ImputationRow) -> f64| -> Vec<f64> {
        r.rows.iter().map(f).collect()
    };
    let mut errors = Chart::new("W1 to the exact conditional")
        .x_label("Euler-Maruyama steps")
        .y_label("W1")
        .x_range(0.0, 210.0)
        .log_y()
        .y_range(3e-4, 3.0)
        .legend(Legend::LowerLeft)
        .line(
            "exact score (exact law)",
            steps.clone(),
            col(&|row| row.w1_exact),
        )
        .line(
            "replacement (exact law)",
            steps.clone(),
            col(&|row| row.w1_replacement),
        );
    for (k, s) in r.config.scales.iter().enumerate() {
        errors = errors.line(
            format!("guidance, w = {s} (Monte Carlo)"),
            steps.clone(),
            col(&|row| row.guided[k].w1),
        );
    }
    let errors = errors.hline(
        format!("noise floor, {} draws", r.config.paths),
        r.floor.w1_mean,
    );
    let last = &r.rows[r.rows.len() - 1];
    let xs = linspace(-4.5, 4.5, 361);
    let exact = r.conditional.pdf(
        ndarray::Array2::from_shape_vec((xs.len(), 1), xs.clone())
            .map_err(|e| Error::param("grid", e.to_string()))?
            .view(),
    )?;
    let h = 0.025;
    let replacement: Vec<f64> = xs
        .iter()
        .map(|&x| (last.replacement.cdf(x + h) - last.replacement.cdf(x - h)) / (2.0 * h))
        .collect();
    let top = exact
        .iter()
        .chain(&replacement)
        .fold(0.0_f64, |m, &v| m.max(v));
    let laws = Chart::new(format!(
        "x1 given x2 = {}, {} steps",
        r.config.observed, last.steps
    ))
    .x_label("x1")
    .y_label("density")
    .y_range(0.0, 1.5 * top)
    .histogram(
        format!("guidance, w = {}", r.config.scales[0]),
        last.guided_samples[0].clone(),
        72,
        (-4.5, 4.5),
    )
    .line("exact conditional", xs.clone(), exact.to_vec())
    .dashed_line("replacement (exact law)", xs, replacement);
    Figure::grid(2, [Figure::from(errors), Figure::from(laws)])
        .with_title("Imputing x1 given x2: three methods against the exact conditional")
        .save_svg(dir.join("imputation.svg"), SIZE)
}
