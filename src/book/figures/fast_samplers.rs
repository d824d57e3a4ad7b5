//! Chapters "Parameterisations" and "Fast samplers": the schedules in the sigma view, the
//! limit of DDPM's bound, and the exact error of every sampler against its NFE.
use std::path::Path;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::fast_samplers::{self, Curve, FastSamplersConfig, FastSamplersReport};
use crate::book::experiment::vb_limit;
use crate::book::plot::{Chart, Figure};
use crate::error::Result;
use crate::quadrature::linspace;
use crate::sampling::sigma::sigma_of_t;
use crate::sde::{LinearSde, SqrtT, SubVp, Ve, Vp};

const SIZE: (u32, u32) = (900, 560);

fn save(fig: impl Into<Figure>, dir: &Path, name: &str) -> Result<()> {
    fig.into().save_svg(dir.join(format!("{name}.svg")), SIZE)
}

fn e2(x: f64) -> String {
    format!("{x:.2e}")
}

/// Writes the parameterisations chapter's assets under `dir`.
pub fn write_parameterisations(dir: &Path) -> Result<()> {
    create_dir(dir)?;
    let ve = Ve::new(SqrtT, 1.0)?;
    let vp = Vp::song();
    let subvp = SubVp::song();
    let ts = linspace(1e-3, 1.0, 400);
    let mut chart = Chart::new("sigma(t) = zeta(t) / mu(t): every linear SDE as a VE process")
        .x_label("t")
        .y_label("sigma(t)")
        .log_y();
    for sde in [&ve as &dyn LinearSde, &vp, &subvp] {
        let ys: Vec<f64> = ts.iter().map(|&t| sigma_of_t(sde, t)).collect();
        chart = chart.line(sde.name(), ts.clone(), ys);
    }
    save(chart, dir, "sigma_of_t")?;

    let ks = [30, 100, 300, 1000, 3000];
    let r = vb_limit::run(&ks)?;
    let mut table = String::from(
        "| K | bound's model term | relative distance to the limit |\n|---|---|---|\n",
    );
    for row in &r.rows {
        table += &format!("| {} | {:.6} | {:.2e} |\n", row.k, row.sum, row.rel_err);
    }
    write_text(&dir.join("vb_limit.md"), &table)?;
    let pts: Vec<(f64, f64)> = r
        .rows
        .iter()
        .map(|row| (row.k as f64, row.rel_err))
        .collect();
    let rate = super::samplers::observed_order(&pts).unwrap_or(f64::NAN);
    save(
        Chart::new("DDPM's bound tends to the likelihood-weighted loss")
            .x_label("K (steps)")
            .y_label("relative distance to ½∫g² E|s - s~|² dt")
            .log_x()
            .log_y()
            .line(
                "|L_K - L| / L",
                pts.iter().map(|p| p.0).collect::<Vec<_>>(),
                pts.iter().map(|p| p.1).collect::<Vec<_>>(),
            ),
        dir,
        "vb_limit",
    )?;
    write_numbers(
        dir,
        &[
            ("vb_limit_value", format!("{:.6}", r.limit)),
            ("vb_rate", format!("{rate:.2}")),
            ("vp_beta_first", e2(r.vp_beta_first)),
            ("vp_beta_last", e2(r.vp_beta_last)),
            ("ddpm_beta_first", e2(r.ddpm_beta_first)),
            ("ddpm_beta_last", e2(r.ddpm_beta_last)),
            ("max_abar_diff", e2(r.max_abar_diff)),
            ("ddpm_abar_last", e2(r.ddpm_abar_last)),
            ("vp_mu2_end", e2(r.vp_mu2_end)),
            ("vp_sigma_max", format!("{:.1}", sigma_of_t(&vp, 1.0))),
        ],
    )?;
    write_text(&dir.join("report.json"), &serde_json::to_string_pretty(&r)?)
}

/// Writes the fast-samplers chapter's assets under `dir`; returns the report.
pub fn write_fast_samplers(dir: &Path) -> Result<FastSamplersReport> {
    create_dir(dir)?;
    let t0 = std::time::Instant::now();
    let r = fast_samplers::run(&FastSamplersConfig::book(), None)?;
    let seconds = t0.elapsed().as_secs_f64();
    write_report(&r, dir)?;
    write_numbers(dir, &[("run_seconds", format!("{seconds:.0}"))])?;
    Ok(r)
}

fn curve_xy(c: &Curve) -> (Vec<f64>, Vec<f64>) {
    (
        c.points.iter().map(|p| p.nfe as f64).collect(),
        c.points.iter().map(|p| p.w1).collect(),
    )
}

/// The order fitted over the last (up to) six points of a curve with `W1 >= 1e-10` (below,
/// the quadrature's own accuracy), for the exact score and laws computed by quadrature.
pub fn fitted_order(c: &Curve) -> Option<f64> {
    if c.score != "exact" || c.method == "mc" {
        return None;
    }
    let keep: Vec<_> = c.points.iter().filter(|p| p.w1 >= 1e-10).collect();
    let tail = &keep[keep.len().saturating_sub(6)..];
    let lo = tail.first()?.w1.min(tail.last()?.w1);
    let hi = tail.first()?.w1.max(tail.last()?.w1);
    c.order(lo, hi)
}

/// Writes figures, tables and numbers of a report.
pub fn write_report(r: &FastSamplersReport, dir: &Path) -> Result<()> {
    create_dir(dir)?;
    let mut exact = Chart::new("Exact W1 to p_0 vs score evaluations (exact score, from p_T)")
        .x_label("NFE (score evaluations per sample)")
        .y_label("W1 to p_0")
        .log_x()
        .log_y();
    let mut net = Chart::new("The same with the trained network (seed 000)")
        .x_label("NFE")
        .y_label("W1 to p_0")
        .log_x()
        .log_y();
    for c in &r.curves {
        let (x, y) = curve_xy(c);
        if c.score == "exact" {
            exact = if c.method == "map" {
                exact.line(c.sampler.clone(), x, y)
            } else {
                exact.dashed_line(format!("{} ({})", c.sampler, c.method), x, y)
            };
        } else {
            net = net.line(c.sampler.clone(), x, y);
        }
    }
    net = net.hline("RK4, 256 steps (network floor)", r.network_flow_w1);
    save(exact, dir, "w1_vs_nfe")?;
    write_resolution(r, dir)?;
    save(net, dir, "w1_vs_nfe_network")?;
    let (tx, ty): (Vec<f64>, Vec<f64>) = r.sources.t_min.iter().cloned().unzip();
    save(
        Chart::new("The three error sources, each alone (exact score)")
            .x_label("t_min (cut-off)")
            .y_label("W1 to p_0")
            .log_x()
            .log_y()
            .line("cut-off alone: W1(p_tmin, p_0)", tx, ty)
            .hline(
                "prior mismatch alone: exact flow from N(0, 1)",
                r.sources.prior_w1,
            )
            .hline(
                "discretisation: RK4, 256 steps, from p_T",
                r.sources.reference_w1,
            ),
        dir,
        "error_sources",
    )?;

    let fmt_nfe = |n: Option<usize>| n.map_or("not reached".to_string(), |n| n.to_string());
    let mut table = String::from(
        "| sampler | law by | fitted order (last points) | NFE for W1 < 1e-2, exact score | NFE for W1 < 1e-3, exact score | NFE for W1 < 1e-2, network | NFE for W1 < 1e-3, network |\n|---|---|---|---|---|---|---|\n",
    );
    let mut numbers: Vec<(String, String)> = Vec::new();
    for c in r.curves.iter().filter(|c| c.score == "exact") {
        let netc = r
            .curves
            .iter()
            .find(|n| n.score == "network" && n.sampler == c.sampler);
        let order = fitted_order(c);
        let method = match c.method.as_str() {
            "map" => "quadrature (map)",
            "grid" => "quadrature (grid)",
            _ => "Monte Carlo",
        };
        let (n2, n3) = if c.method == "mc" {
            // Monte Carlo cannot resolve W1 below its noise floor.
            let floor = c
                .points
                .iter()
                .filter_map(|p| p.noise_floor)
                .next()
                .unwrap_or(0.0);
            let below = |l: f64| {
                if l > floor {
                    fmt_nfe(c.nfe_below(l))
                } else {
                    format!("below MC floor {floor:.1e}")
                }
            };
            (below(1e-2), below(1e-3))
        } else {
            (fmt_nfe(c.nfe_below(1e-2)), fmt_nfe(c.nfe_below(1e-3)))
        };
        let (m2, m3) = match netc {
            Some(n) => (fmt_nfe(n.nfe_below(1e-2)), fmt_nfe(n.nfe_below(1e-3))),
            None => ("-".into(), "-".into()),
        };
        table += &format!(
            "| {} | {method} | {} | {n2} | {n3} | {m2} | {m3} |\n",
            c.sampler,
            order.map_or("-".into(), |o| format!("{o:.2}")),
        );
        let key: String = c
            .sampler
            .chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() {
                    ch.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        if let Some(o) = order {
            numbers.push((format!("order_{key}"), format!("{o:.2}")));
        }
        numbers.push((format!("nfe2_{key}"), n2.clone()));
        numbers.push((format!("nfe3_{key}"), n3.clone()));
    }
    write_text(&dir.join("nfe_table.md"), &table)?;
    let best = |level: f64, score: &str| -> String {
        r.curves
            .iter()
            .filter(|c| c.score == score && c.method != "mc")
            .filter_map(|c| c.nfe_below(level).map(|n| (n, c.sampler.clone())))
            .min()
            .map_or("none".into(), |(n, s)| format!("{s} ({n} NFE)"))
    };
    let mc_floor = r
        .curves
        .iter()
        .flat_map(|c| c.points.iter().filter_map(|p| p.noise_floor))
        .next()
        .unwrap_or(f64::NAN);
    let folded: Vec<String> = r
        .curves
        .iter()
        .filter(|c| c.score == "exact")
        .flat_map(|c| {
            c.points
                .iter()
                .filter(|p| p.monotone == Some(false))
                .map(move |p| format!("{} at {} steps", c.sampler, p.steps))
        })
        .collect();
    let net_folded = r
        .curves
        .iter()
        .filter(|c| c.score == "network")
        .flat_map(|c| c.points.iter())
        .filter(|p| p.monotone == Some(false))
        .count();
    let net_fold: Vec<(f64, f64, f64)> = r
        .curves
        .iter()
        .filter(|c| c.score == "network")
        .flat_map(|c| c.points.iter().filter_map(|p| p.folded))
        .collect();
    let net_fold_mass = net_fold.iter().map(|f| f.0).fold(0.0, f64::max);
    let net_fold_zmax = net_fold
        .iter()
        .map(|f| f.2)
        .fold(f64::NEG_INFINITY, f64::max);
    let net_points = r
        .curves
        .iter()
        .filter(|c| c.score == "network")
        .map(|c| c.points.len())
        .sum::<usize>();
    let mut nums: Vec<(&str, String)> = vec![
        ("best_2_exact", best(1e-2, "exact")),
        ("best_3_exact", best(1e-3, "exact")),
        ("best_2_network", best(1e-2, "network")),
        ("network_floor", format!("{:.4}", r.network_flow_w1)),
        ("network_floor_cdf", format!("{:.4}", r.network_flow_w1_cdf)),
        ("prior_w1", format!("{:.3}", r.sources.prior_w1)),
        ("prior_kl", format!("{:.3}", r.sources.prior_kl)),
        ("reference_w1", e2(r.sources.reference_w1)),
        ("reference_steps", r.sources.reference_steps.to_string()),
        ("mc_paths", r.config.mc_paths.to_string()),
        ("mc_floor", e2(mc_floor)),
        ("folded_exact", folded.join(", ")),
        ("network_folded", format!("{net_folded} of {net_points}")),
        ("network_fold_mass", e2(net_fold_mass)),
        ("nodes_2", (16 * r.config.panels).to_string()),
        ("network_fold_zmax", format!("{net_fold_zmax:.1}")),
        ("max_nfe", r.config.max_nfe.to_string()),
        ("max_nfe_network", r.config.max_nfe_network.to_string()),
        ("panels", r.config.panels.to_string()),
        ("nodes", (8 * r.config.panels).to_string()),
    ];
    for (t, w) in &r.sources.t_min {
        if [1e-5, 1e-3, 1e-1].iter().any(|v| (v - t).abs() < 1e-12) {
            nums.push((
                match *t {
                    x if x < 1e-4 => "tmin_1e5",
                    x if x < 1e-2 => "tmin_1e3",
                    _ => "tmin_1e1",
                },
                e2(*w),
            ));
        }
    }
    // Smallest Dopri5 error and its NFE.
    if let Some(d) = r.curves.iter().find(|c| c.sampler.starts_with("Dopri5")) {
        if let Some(p) = d.points.iter().min_by(|a, b| a.w1.total_cmp(&b.w1)) {
            nums.push(("dopri5_best_w1", e2(p.w1)));
            nums.push(("dopri5_best_nfe", p.nfe.to_string()));
        }
    }
    write_numbers(dir, &nums)?;
    let owned: Vec<(&str, String)> = numbers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    write_numbers(dir, &owned)?;
    write_text(&dir.join("report.json"), &serde_json::to_string_pretty(r)?)
}

/// The KL of every deterministic sampler against its NFE (exact score, monotone maps), and
/// the resolution table: `W1` and KL with `panels` and `2 panels` (the largest changes over
/// the fixed-step runs; the adaptive one changes its steps with the nodes).
fn write_resolution(r: &FastSamplersReport, dir: &Path) -> Result<()> {
    let mut kl = Chart::new("Exact KL(q || p_0) vs score evaluations (exact score, from p_T)")
        .x_label("NFE (score evaluations per sample)")
        .y_label("KL to p_0 (nats)")
        .log_x()
        .log_y();
    for c in r
        .curves
        .iter()
        .filter(|c| c.score == "exact" && c.method == "map")
    {
        let (x, y): (Vec<f64>, Vec<f64>) = c
            .points
            .iter()
            .filter_map(|p| p.kl.filter(|&k| k > 0.0).map(|k| (p.nfe as f64, k)))
            .unzip();
        if !x.is_empty() {
            kl = kl.line(c.sampler.clone(), x, y);
        }
    }
    save(kl, dir, "kl_vs_nfe")?;
    let (p1, p2) = (r.config.panels, 2 * r.config.panels);
    let mut t = format!(
        "| sampler | steps | W1, {p1} panels | W1, {p2} panels | change | change at {} panels | KL, {p1} panels | KL, {p2} panels | change | change at {} panels |\n|---|---|---|---|---|---|---|---|---|---|\n",
        p1 / 4,
        p1 / 4
    );
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    // Largest relative changes against 2 panels: at `panels`, and at `panels / 4`.
    let (mut w_max, mut k_max, mut w_coarse, mut k_coarse) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for c in &r.resolution {
        let adaptive = c.steps == 0;
        let steps = if adaptive {
            "adaptive, tol 1e-6".to_string()
        } else {
            c.steps.to_string()
        };
        let (w, k) = (c.w1, c.kl);
        t += &format!(
            "| {} | {} | {:.6e} | {:.6e} | {:.1e} | {:.1e} | {:.6e} | {:.6e} | {:.1e} | {:.1e} |\n",
            c.sampler,
            steps,
            w[1],
            w[2],
            rel(w[1], w[2]),
            rel(w[0], w[2]),
            k[1],
            k[2],
            rel(k[1], k[2]),
            rel(k[0], k[2])
        );
        if !adaptive {
            w_max = w_max.max(rel(w[1], w[2]));
            k_max = k_max.max(rel(k[1], k[2]));
            w_coarse = w_coarse.max(rel(w[0], w[2]));
            k_coarse = k_coarse.max(rel(k[0], k[2]));
        }
    }
    write_text(&dir.join("resolution.md"), &t)?;
    write_numbers(
        dir,
        &[
            ("resolution_w1_max", format!("{w_max:.0e}")),
            ("resolution_kl_max", format!("{k_max:.0e}")),
            ("resolution_w1_coarse", format!("{:.0}%", 100.0 * w_coarse)),
            ("resolution_kl_coarse", format!("{:.0}%", 100.0 * k_coarse)),
            ("panels_coarse", (r.config.panels / 4).to_string()),
        ],
    )
}
