//! The probability-flow chapter's table and figure comparing the ODE model's likelihood, the
//! SDE model's likelihood and the SDE model's bound for one exact score.
use std::path::Path;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::likelihood_models::{
    run, LikelihoodModelsConfig, LikelihoodModelsReport,
};
use crate::book::plot::Chart;
use crate::error::Result;
use crate::metrics::mean_se;

/// Writes the comparison's assets under `dir`.
pub fn write(dir: &Path) -> Result<LikelihoodModelsReport> {
    create_dir(dir)?;
    let r = run(&LikelihoodModelsConfig::book())?;
    let mut t = String::from(
        "| T | KL(p_T ‖ π) | ODE model | SDE model (exact) | SDE bound L(x) | points where SDE < ODE | ODE solver error (max) |\n|---|---|---|---|---|---|---|\n",
    );
    let cell = |v: &[f64]| {
        let (m, se) = mean_se(v);
        format!("{m:.2e} ± {se:.1e}")
    };
    let mut numbers = vec![];
    for row in &r.rows {
        let below = row
            .sde_excess
            .iter()
            .zip(&row.ode_excess)
            .filter(|(s, o)| s < o)
            .count();
        t += &format!(
            "| {} | {:.2e} | {} | {} | {} | {} of {} | {:.0e} |\n",
            row.t_max,
            row.kl_prior,
            cell(&row.ode_excess),
            cell(&row.sde_excess),
            cell(&row.bound_excess),
            below,
            row.ode_excess.len(),
            row.ode_solver_err
        );
        let tag = format!("{}", (row.t_max * 10.0).round() as i64);
        numbers.push((format!("lm_kl_{tag}"), format!("{:.2e}", row.kl_prior)));
        for (name, v) in [
            ("ode", &row.ode_excess),
            ("sde", &row.sde_excess),
            ("bound", &row.bound_excess),
        ] {
            numbers.push((format!("lm_{name}_{tag}"), format!("{:.2e}", mean_se(v).0)));
        }
        let jensen = row
            .sde_excess
            .iter()
            .zip(&row.bound_excess)
            .all(|(s, b)| s <= &(b + 1e-9));
        numbers.push((format!("lm_jensen_{tag}"), jensen.to_string()));
    }
    write_text(&dir.join("table.md"), &t)?;
    write_numbers(dir, &numbers)?;
    write_numbers(
        dir,
        &[
            ("lm_n_points", r.config.n_points.to_string()),
            ("lm_mean_nll", format!("{:.3}", r.mean_nll)),
            ("lm_ode_tol", format!("{:.0e}", r.config.ode_tol)),
        ],
    )?;
    if let Some(row) = r.rows.iter().find(|row| row.t_max < 1.0) {
        let lo = row.ode_excess.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = row
            .ode_excess
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        let chart = Chart::new(format!(
            "Excess of -log p over -log p_0 per data point (VP stopped at T = {})",
            row.t_max
        ))
        .x_label("ODE model: -log p_ODE(x) + log p_0(x)")
        .y_label("excess")
        .points(
            "SDE bound L(x)",
            row.ode_excess.clone(),
            row.bound_excess.clone(),
        )
        .points(
            "SDE model (exact)",
            row.ode_excess.clone(),
            row.sde_excess.clone(),
        )
        .dashed_line("y = x (the ODE model)", vec![lo, hi], vec![lo, hi])
        .hline("KL(p_T || prior)", row.kl_prior);
        chart.save_svg(dir.join("excess.svg"), (900, 560))?;
    }
    write_text(&dir.join("report.json"), &serde_json::to_string_pretty(&r)?)?;
    Ok(r)
}
