//! The guidance chapter's second half: the guided probability-flow ODE against the guided SDE
//! and the tilted law, and a trained conditional network with classifier-free guidance. The
//! prose's qualitative claims are checked here ([`flow_claims`], [`network_claims`]): a
//! failed claim is an error, not a silently wrong chapter.
use std::path::Path;

use super::{write_numbers, write_text};
use crate::book::experiment::guidance::GuidanceReport;
use crate::book::experiment::guidance_flow::{self, FlowConfig, FlowReport};
use crate::book::experiment::guidance_network::{self, NetworkConfig, NetworkReport};
use crate::book::plot::{Chart, Figure};
use crate::error::{Error, Result};
use crate::quadrature::linspace;

const GRID_SIZE: (u32, u32) = (1000, 420);

/// Runs both studies on the Euler-Maruyama study `em` and writes their assets under `dir`.
pub fn write(em: &GuidanceReport, dir: &Path) -> Result<()> {
    let flow = guidance_flow::run(&FlowConfig::book(), em)?;
    flow_claims(&flow, em)?;
    write_flow(&flow, dir)?;
    let net = guidance_network::run(&NetworkConfig::book(), em)?;
    network_claims(&net)?;
    write_network(&net, em, dir)
}

fn claim(ok: bool, what: &str) -> Result<()> {
    super::claim("guidance chapter", ok, what)
}

/// The flow section's claims: at `w = 0` the flow's error falls about fourfold from half the
/// steps; for every `w > 0` both discretisation errors are below 0.01, the ODE and SDE laws
/// differ by more than ten times both, and the ODE is sharper and farther from `q_w` than the SDE.
pub fn flow_claims(f: &FlowReport, em: &GuidanceReport) -> Result<()> {
    let ratio = f.w1_conditional_coarse / f.w1_conditional;
    claim(
        (3.0..5.0).contains(&ratio),
        "second-order convergence at w = 0",
    )?;
    for (row, e) in f.rows.iter().zip(&em.rows).filter(|(r, _)| r.w > 0.0) {
        claim(
            row.w1_ode_em > 10.0 * row.ode_error.max(row.em_error),
            "ODE and SDE laws differ beyond discretisation",
        )?;
        claim(
            row.ode_error.max(row.em_error) < 0.01,
            "discretisation errors in the third decimal",
        )?;
        claim(row.upper_ode < e.upper_guided, "the ODE is sharper")?;
        claim(
            row.w1_tilted > row.w1_tilted_em,
            "the ODE is farther from q_w",
        )?;
    }
    Ok(())
}

/// The network section's claims: the network's error at `w = 0` is well above the sampler's
/// own (so it measures the network), the network-guided law stays closer to the exact-guided
/// law than the exact-guided law is to `q_w` at every `w > 0`, and that distance grows with `w`.
pub fn network_claims(n: &NetworkReport) -> Result<()> {
    claim(
        n.w1_conditional > 3.0 * n.w1_conditional_exact,
        "the network's error dominates at w = 0",
    )?;
    for row in n.rows.iter().filter(|r| r.w > 0.0) {
        claim(
            row.w1_exact_guided < row.w1_tilted_exact,
            "the network follows the exact guided sampler, not q_w",
        )?;
    }
    claim(
        n.rows
            .windows(2)
            .all(|p| p[1].w <= p[0].w || p[1].w1_exact_guided > p[0].w1_exact_guided),
        "the network's distance to the exact guided law grows with w",
    )?;
    Ok(())
}

fn write_flow(f: &FlowReport, dir: &Path) -> Result<()> {
    let mut t = String::from(
        "| w | W1(ODE, q_w) | KL(ODE ‖ q_w) | W1(SDE, q_w) | W1(ODE, SDE) | ODE error | SDE error | mean, ODE | P(X > -0.75), ODE |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &f.rows {
        t += &format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.1e} | {:.1e} | {:.3} | {:.3} |\n",
            r.w,
            r.w1_tilted,
            r.kl_tilted,
            r.w1_tilted_em,
            r.w1_ode_em,
            r.ode_error,
            r.em_error,
            r.mean_ode,
            r.upper_ode
        );
    }
    write_text(&dir.join("flow_table.md"), &t)?;
    let c = &f.config;
    let mut numbers = vec![
        ("flow_sampler", c.sampler.label()),
        ("flow_steps", c.steps.to_string()),
        ("flow_coarse_steps", c.coarse_steps.to_string()),
        ("flow_nfe", f.nfe.to_string()),
        ("flow_w1_w0", format!("{:.1e}", f.w1_conditional)),
        (
            "flow_w1_w0_coarse",
            format!("{:.1e}", f.w1_conditional_coarse),
        ),
    ];
    if let Some(r) = f.rows.iter().find(|r| r.w == 2.0) {
        numbers.push(("flow_ode_em_w2", format!("{:.3}", r.w1_ode_em)));
        numbers.push(("flow_upper_w2", format!("{:.3}", r.upper_ode)));
        numbers.push(("flow_mean_w2", format!("{:.3}", r.mean_ode)));
    }
    write_numbers(dir, &numbers)?;
    write_text(
        &dir.join("flow_report.json"),
        &serde_json::to_string_pretty(f).map_err(Error::from)?,
    )
}

fn density(cdf: &dyn Fn(f64) -> f64, xs: &[f64]) -> Vec<f64> {
    let h = 0.025;
    xs.iter()
        .map(|&x| (cdf(x + h) - cdf(x - h)) / (2.0 * h))
        .collect()
}

fn write_network(n: &NetworkReport, em: &GuidanceReport, dir: &Path) -> Result<()> {
    let mut t = String::from(
        "| w | W1(network-guided, exact-guided) | W1(network-guided, q_w) | W1(exact-guided, q_w) | mean, network | P(X > -0.75), network |\n|---|---|---|---|---|---|\n",
    );
    for r in &n.rows {
        t += &format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.3} | {:.3} |\n",
            r.w, r.w1_exact_guided, r.w1_tilted, r.w1_tilted_exact, r.mean, r.upper
        );
    }
    write_text(&dir.join("network_table.md"), &t)?;
    let c = &n.config;
    let hidden: Vec<String> = c.hidden.iter().map(|h| h.to_string()).collect();
    write_numbers(
        dir,
        &[
            ("net_hidden", hidden.join("-")),
            ("net_steps", c.steps.to_string()),
            ("net_batch", c.batch.to_string()),
            ("net_p_drop", c.p_drop.to_string()),
            ("net_seed", c.seed.to_string()),
            ("net_train_seconds", format!("{:.0}", n.train_seconds)),
            ("net_w1_w0", format!("{:.3}", n.w1_conditional)),
            ("net_w1_w0_exact", format!("{:.4}", n.w1_conditional_exact)),
            ("net_w1_uncond", format!("{:.3}", n.w1_unconditional)),
        ],
    )?;
    write_text(
        &dir.join("network_report.json"),
        &serde_json::to_string_pretty(n).map_err(Error::from)?,
    )?;
    let xs = linspace(-5.0, 5.0, 401);
    let panels: Vec<Figure> = n
        .rows
        .iter()
        .zip(&em.rows)
        .filter(|(r, _)| [0.0, 2.0, 4.0].contains(&r.w))
        .map(|(r, e)| {
            let net = density(&|x| r.law.cdf(x), &xs);
            let exact = density(&|x| e.guided.cdf(x), &xs);
            let tilted = density(&|x| e.tilted.cdf(x), &xs);
            let top = net.iter().chain(&exact).fold(0.0_f64, |m, &v| m.max(v));
            Chart::new(format!("w = {}", r.w))
                .x_label("x")
                .y_label("density")
                .y_range(0.0, 1.45 * top)
                .line("network CFG (exact law)", xs.clone(), net)
                .line("exact-score CFG", xs.clone(), exact)
                .dashed_line("tilted q_w", xs.clone(), tilted)
                .into()
        })
        .collect();
    Figure::grid(3, panels)
        .with_title("Classifier-free guidance with a trained network, class 0")
        .save_svg(dir.join("network_laws.svg"), GRID_SIZE)
}
