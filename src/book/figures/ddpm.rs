//! Chapter "Denoising diffusion probabilistic models", the seed note's numerical example:
//! forward chains (correct and the seed's code), training loss, `eps_theta` against the exact
//! `eps*`, reverse paths, ancestral samples, the bound per term, and the oracle ladder in `K`.
use std::path::Path;

use ndarray::Array2;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::ddpm_seed::{
    self, eps_curves, x_grid, DdpmSeedConfig, DdpmSeedReport, LawSummary, Moments,
};
use crate::book::experiment::ve_seed::SampleQuality;
use crate::book::figures::samplers::observed_order;
use crate::book::plot::{Chart, Figure};
use crate::error::Result;
use crate::progress::ProgressBar;

const SIZE: (u32, u32) = (900, 560);
const GRID_SIZE: (u32, u32) = (1000, 720);

fn save(fig: impl Into<Figure>, dir: &Path, name: &str) -> Result<()> {
    let fig = fig.into();
    let size = if matches!(fig, Figure::Grid { .. }) {
        GRID_SIZE
    } else {
        SIZE
    };
    fig.save_svg(dir.join(format!("{name}.svg")), size)
}

fn f3(x: f64) -> String {
    format!("{x:.3}")
}

/// Per-path series `[x_0(i), ..., x_last(i)]` of the first `n` rows of a chain.
fn per_path(chain: &[Array2<f64>], n: usize) -> Vec<Vec<f64>> {
    let n = n.min(chain[0].nrows());
    (0..n)
        .map(|i| chain.iter().map(|x| x[[i, 0]]).collect())
        .collect()
}

fn column_var(x: &Array2<f64>) -> f64 {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)
}

/// Runs the seed's DDPM experiment and writes the chapter's figures and numbers to `dir`.
pub fn write(dir: &Path, progress: Option<ProgressBar>) -> Result<DdpmSeedReport> {
    let run = ddpm_seed::run(&DdpmSeedConfig::seed_settings(), progress)?;
    write_figures(&run, dir)?;
    Ok(run.report)
}

/// Writes the figures, tables and numbers of a run.
pub fn write_figures(run: &ddpm_seed::DdpmSeedRun, dir: &Path) -> Result<()> {
    create_dir(dir)?;
    let r = &run.report;
    let k_max = run.schedule.num_steps();
    let grid = x_grid();
    let gcol = Array2::from_shape_vec((grid.len(), 1), grid.clone()).expect("n x 1");
    let target_pdf = run.target.pdf(gcol.view())?.to_vec();

    // Forward chains.
    let ks: Vec<f64> = (0..=k_max).map(|k| k as f64).collect();
    let seed_ks: Vec<f64> = (0..run.seed_chain.len()).map(|k| k as f64).collect();
    let normal: Vec<f64> = grid
        .iter()
        .map(|x| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt())
        .collect();
    let p_k = run.oracle.marginal(k_max)?.pdf(gcol.view())?.to_vec();
    let v0 = column_var(&run.data);
    let mut correct_theory = Vec::with_capacity(k_max + 1);
    for k in 0..=k_max {
        let ab = run.schedule.alpha_bar(k)?;
        correct_theory.push(ab * v0 + 1.0 - ab);
    }
    let mut seed_theory = vec![v0];
    for j in 1..run.seed_chain.len() {
        let b = run.schedule.beta(j)?;
        let prev = seed_theory[j - 1];
        seed_theory.push((1.0 - b) * prev + b * b);
    }
    let panels = vec![
        Chart::new("The forward chain, step by step (100 paths)")
            .x_label("step k")
            .y_label("x_k")
            .paths(ks.clone(), per_path(&run.forward_chain, 100), 0.3),
        Chart::new("The seed's chain code (100 paths)")
            .x_label("step j")
            .y_label("X_j")
            .paths(seed_ks.clone(), per_path(&run.seed_chain, 100), 0.3),
        Chart::new(format!(
            "Histograms of the last states ({} paths)",
            r.config.n_data
        ))
        .x_label("x")
        .y_label("density")
        .histogram(
            format!("forward chain, x_{k_max}"),
            run.forward_chain[k_max].column(0).to_vec(),
            60,
            (-4.0, 4.0),
        )
        .histogram(
            format!("seed's code, X_{}", run.seed_chain.len() - 1),
            run.seed_chain[run.seed_chain.len() - 1].column(0).to_vec(),
            60,
            (-4.0, 4.0),
        )
        .line("N(0, 1)", grid.clone(), normal.clone())
        .dashed_line(format!("exact p_{k_max}"), grid.clone(), p_k)
        .x_range(-4.0, 4.0),
        Chart::new("Variance of the chain state")
            .x_label("step")
            .y_label("variance")
            .points(
                "forward chain (simulated)",
                ks.clone(),
                run.forward_chain.iter().map(column_var).collect::<Vec<_>>(),
            )
            .line(
                "alpha_bar_k v_0 + 1 - alpha_bar_k",
                ks.clone(),
                correct_theory,
            )
            .points(
                "seed's code (simulated)",
                seed_ks.clone(),
                run.seed_chain.iter().map(column_var).collect::<Vec<_>>(),
            )
            .dashed_line(
                "v_j = (1 - beta_j) v_{j-1} + beta_j^2",
                seed_ks,
                seed_theory,
            ),
    ];
    save(
        Figure::grid(2, panels).with_title(format!(
            "Forward chains from the {} data points, beta from {} to {}, K = {k_max}",
            r.config.n_data, r.config.beta_1, r.config.beta_k
        )),
        dir,
        "forward_chain",
    )?;

    // Training loss.
    let losses = &run.training.losses;
    let steps: Vec<f64> = (1..=losses.len()).map(|i| i as f64).collect();
    let w = 100.min(losses.len());
    let running: Vec<f64> = (w..=losses.len())
        .map(|i| losses[i - w..i].iter().sum::<f64>() / w as f64)
        .collect();
    save(
        Chart::new("Training loss: the seed's mean (eps_theta - eps)^2")
            .x_label("Adam step")
            .y_label("loss")
            .line("loss per step", steps.clone(), losses.clone())
            .line(
                format!("mean of the last {w} steps"),
                steps[w - 1..].to_vec(),
                running,
            )
            .hline("the same loss with the exact eps*", r.oracle_loss)
            .y_range(0.0, (losses[0] * 1.1).min(1.5)),
        dir,
        "loss",
    )?;

    // eps_theta vs eps*.
    let panels = r
        .config
        .eps_steps
        .iter()
        .map(|&k| {
            let [net, exact] = eps_curves(&run.model, &run.oracle, k)?;
            Ok(Chart::new(format!(
                "k = {k}, 1 - alpha_bar_k = {:.3}",
                run.schedule.one_minus_alpha_bar(k)?
            ))
            .x_label("x")
            .y_label("eps")
            .line("eps* (exact)", grid.clone(), exact)
            .dashed_line("eps_theta (network)", grid.clone(), net))
        })
        .collect::<Result<Vec<_>>>()?;
    save(
        Figure::grid(3, panels).with_title("The trained eps_theta(x, k) and the exact eps*(x, k)"),
        dir,
        "eps_fit",
    )?;

    // Reverse paths.
    save(
        Chart::new(format!(
            "{} ancestral paths of the trained model (gamma^2 = beta), from x_{k_max} ~ N(0, 1)",
            r.config.n_paths
        ))
        .x_label("step k")
        .y_label("x_k")
        .paths(
            ks.clone(),
            per_path(&run.reverse_paths, r.config.n_paths),
            0.3,
        ),
        dir,
        "reverse_paths",
    )?;

    // Samples.
    let hist = |title: &str, x: &Array2<f64>| {
        Chart::new(title)
            .x_label("x")
            .y_label("density")
            .histogram("samples", x.column(0).to_vec(), 80, (-8.0, 8.0))
            .line("target pdf", grid.clone(), target_pdf.clone())
    };
    save(
        Figure::grid(
            2,
            [
                hist("network, gamma^2 = beta", &run.net_beta),
                hist("network, gamma^2 = beta_tilde", &run.net_beta_tilde),
                hist("exact eps*, gamma^2 = beta", &run.oracle_beta),
                hist("exact eps*, gamma^2 = beta_tilde", &run.oracle_beta_tilde),
            ],
        )
        .with_title(format!(
            "Ancestral samples ({} each, K = {k_max}) against the target",
            r.config.n_samples
        )),
        dir,
        "samples",
    )?;

    // Bound per term.
    let js: Vec<f64> = (0..=k_max).map(|j| j as f64).collect();
    let diff: Vec<f64> = run
        .bound_net
        .terms
        .iter()
        .zip(&run.bound_oracle.terms)
        .map(|(a, b)| a - b)
        .collect();
    save(
        Figure::grid(
            2,
            [
                Chart::new("L_j, nats per data point")
                    .x_label("j (L_0 decoder, L_1..L_{K-1} KL, L_K prior)")
                    .y_label("L_j")
                    .line("network", js.clone(), run.bound_net.terms.clone())
                    .dashed_line("exact eps*", js.clone(), run.bound_oracle.terms.clone()),
                Chart::new("Network minus exact eps*, same noise")
                    .x_label("j")
                    .y_label("difference of L_j (nats)")
                    .line("network - exact", js, diff)
                    .hline("0", 0.0),
            ],
        )
        .with_title("Terms of the variational bound, gamma^2 = beta"),
        dir,
        "bound_terms",
    )?;

    // The ladder: exact laws, variance against 1 / K (a first-order error is a straight
    // line to the target at 0) and W1 against K on log-log axes.
    let inv_k: Vec<f64> = r.ladder.iter().map(|l| 1.0 / l.num_steps as f64).collect();
    let ks_l: Vec<f64> = r.ladder.iter().map(|l| l.num_steps as f64).collect();
    let pick = |f: fn(&LawSummary) -> f64, tilde: bool| {
        r.ladder
            .iter()
            .map(|l| f(if tilde { &l.beta_tilde } else { &l.beta }))
            .collect::<Vec<_>>()
    };
    let x_max = inv_k.iter().cloned().fold(0.0, f64::max) * 1.1;
    save(
        Figure::grid(
            2,
            [
                Chart::new("Variance of the exact law against 1 / K")
                    .x_label("1 / K")
                    .y_label("variance of x_0")
                    .x_range(0.0, x_max)
                    .line("gamma^2 = beta", inv_k.clone(), pick(|l| l.variance, false))
                    .line("gamma^2 = beta_tilde", inv_k, pick(|l| l.variance, true))
                    .hline("target variance", r.target_std.powi(2)),
                Chart::new("W1 of the exact law to the target")
                    .x_label("K")
                    .y_label("W1")
                    .log_x()
                    .log_y()
                    .line("gamma^2 = beta", ks_l.clone(), pick(|l| l.w1, false))
                    .line("gamma^2 = beta_tilde", ks_l, pick(|l| l.w1, true)),
            ],
        )
        .with_title("Exact eps*, the same beta range in more, smaller steps (quadrature)"),
        dir,
        "ladder",
    )?;

    write_tables(r, dir)?;
    write_text(&dir.join("report.json"), &serde_json::to_string_pretty(r)?)
}

fn write_tables(r: &DdpmSeedReport, dir: &Path) -> Result<()> {
    let pm = |v: (f64, f64), digits: usize| format!("{:.*} ± {:.*}", digits, v.0, digits, v.1);
    let row = |name: &str, q: &SampleQuality, m: &Moments, law: &LawSummary| {
        let z = (m.frac_neg.0 - law.frac_neg) / m.frac_neg.1;
        format!(
            "| {name} | {:.3} | {:.3} | {:+.3} | {} | {} | {:.3}, {:.2}, {:.3} | {z:+.1} |\n",
            q.w1,
            q.ks,
            q.mean,
            pm(m.variance, 2),
            pm(m.frac_neg, 3),
            law.w1,
            law.variance,
            law.frac_neg,
        )
    };
    let mut t = String::from(
        "| eps model, γ_k² | W1 | KS | mean | variance (± SE) | P(x < 0) (± SE) | exact law of the sampler: W1, variance, P(x < 0) | P(x < 0): samples - law, in SE |\n|---|---|---|---|---|---|---|---|\n",
    );
    let (sm, sl) = (&r.sample_moments, &r.sample_laws);
    t += &row("network, beta", &r.net_beta, &sm[0], &sl[0]);
    t += &row("network, beta_tilde", &r.net_beta_tilde, &sm[1], &sl[1]);
    t += &row("exact eps*, beta", &r.oracle_beta, &sm[2], &sl[2]);
    t += &row(
        "exact eps*, beta_tilde",
        &r.oracle_beta_tilde,
        &sm[3],
        &sl[3],
    );
    t += &format!(
        "| {} exact draws of the target (noise floor: mean, 95% quantile of {} repetitions) | {:.3}, {:.3} | {:.3}, {:.3} | {:+.3} | {:.2} | {:.3} | | |\n",
        r.config.n_samples,
        r.config.noise_reps,
        r.noise_floor.w1_mean,
        r.noise_floor.w1_q95,
        r.noise_floor.ks_mean,
        r.noise_floor.ks_q95,
        r.target_mean,
        r.target_std.powi(2),
        r.target_frac_neg
    );
    write_text(&dir.join("samples_table.md"), &t)?;

    let mut t = String::from(
        "| eps model, γ_k² | L_0 (decoder) | L_1 + ... + L_{K-1} | L_K (prior) | total (± SE) |\n|---|---|---|---|---|\n",
    );
    for (name, b) in [
        ("network, beta", &r.bound_net_beta),
        ("exact eps*, beta", &r.bound_oracle_beta),
        (
            "network, beta_tilde clipped (γ_1² = β̃_2)",
            &r.bound_net_beta_tilde,
        ),
        (
            "exact eps*, beta_tilde clipped (γ_1² = β̃_2)",
            &r.bound_oracle_beta_tilde,
        ),
    ] {
        t += &format!(
            "| {name} | {:.3} | {:.3} | {:.5} | {:.3} ± {:.3} |\n",
            b.l_0, b.kl_sum, b.l_prior, b.total, b.total_se
        );
    }
    write_text(&dir.join("bound_table.md"), &t)?;

    let mut t = String::from(
        "| K | beta_1 .. beta_K | alpha_bar_K | variance, γ² = β | P(x < 0), β | W1, β | variance, γ² = β̃ | P(x < 0), β̃ | W1, β̃ |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for l in &r.ladder {
        t += &format!(
            "| {} | {:.5} .. {:.4} | {:.1e} | {:.3} | {:.4} | {:.4} | {:.3} | {:.4} | {:.4} |\n",
            l.num_steps,
            l.beta_1,
            l.beta_k,
            l.alpha_bar_k,
            l.beta.variance,
            l.beta.frac_neg,
            l.beta.w1,
            l.beta_tilde.variance,
            l.beta_tilde.frac_neg,
            l.beta_tilde.w1,
        );
    }
    t += &format!(
        "| target | | | {:.3} | {:.4} | 0 | {:.3} | {:.4} | 0 |\n",
        r.target_std.powi(2),
        r.target_frac_neg,
        r.target_std.powi(2),
        r.target_frac_neg
    );
    write_text(&dir.join("ladder_table.md"), &t)?;

    let mut t = String::from(
        "| k | β_k | β̃_k | c_k | E Var[x_0 \\| x_k] | c_k² E Var[x_0 \\| x_k] | E Var[x_{k-1} \\| x_k] = β̃_k + c_k² E Var[x_0 \\| x_k] |\n|---|---|---|---|---|---|---|\n",
    );
    for v in &r.reverse_variance {
        t += &format!(
            "| {} | {:.4} | {:.4} | {:.3} | {:.4} | {:.4} | {:.4} |\n",
            v.k,
            v.beta,
            v.beta_tilde,
            v.c,
            v.posterior_var,
            v.extra,
            v.beta_tilde + v.extra,
        );
    }
    write_text(&dir.join("reverse_variance_table.md"), &t)?;

    let mut t = String::from(
        "| k | 1 - alpha_bar_k | RMS of eps_theta - eps* (weighted by p_k) | max in the bulk of p_k |\n|---|---|---|---|\n",
    );
    let schedule = r.config.schedule()?;
    for e in &r.eps_errors {
        t += &format!(
            "| {} | {:.3} | {:.3} | {:.3} |\n",
            e.k,
            schedule.one_minus_alpha_bar(e.k)?,
            e.weighted_rms,
            e.max_in_bulk
        );
    }
    write_text(&dir.join("eps_table.md"), &t)?;

    let k_max = r.config.num_steps;
    write_numbers(
        dir,
        &[
            ("alpha_bar_K", format!("{:.2e}", r.alpha_bar_k)),
            ("sqrt_alpha_bar_K", format!("{:.4}", r.alpha_bar_k.sqrt())),
            ("K", k_max.to_string()),
            ("K_minus_1", (k_max - 1).to_string()),
            ("p_K_mean", format!("{:.4}", r.p_k_mean)),
            ("p_K_std", format!("{:.5}", r.p_k_std)),
            ("chain_K_mean", f3(r.chain_k_mean)),
            ("chain_K_std", f3(r.chain_k_std)),
            (
                "chain_K_mean_se",
                format!("{:.3}", r.chain_k_std / (r.config.n_data as f64).sqrt()),
            ),
            ("prior_term", format!("{:.1e}", r.bound_oracle_beta.l_prior)),
            ("seed_last_var", f3(r.seed_chain_last_var)),
            ("seed_recursion_var", f3(r.seed_chain_recursion_var)),
            ("correct_var_same_step", f3(r.correct_var_same_step)),
            ("loss_first", f3(r.loss_first_100)),
            ("loss_last", f3(r.loss_last_100)),
            ("oracle_loss", f3(r.oracle_loss)),
            ("oracle_loss_se", format!("{:.4}", r.oracle_loss_se)),
            ("net_w1", f3(r.net_beta.w1)),
            ("net_tilde_w1", f3(r.net_beta_tilde.w1)),
            ("oracle_w1", f3(r.oracle_beta.w1)),
            ("oracle_tilde_w1", f3(r.oracle_beta_tilde.w1)),
            (
                "oracle_var",
                format!("{:.2}", r.sample_moments[2].variance.0),
            ),
            (
                "oracle_tilde_var",
                format!("{:.2}", r.sample_moments[3].variance.0),
            ),
            ("net_var", format!("{:.2}", r.sample_moments[0].variance.0)),
            (
                "net_frac_neg",
                format!("{:.3}", r.sample_moments[0].frac_neg.0),
            ),
            ("target_frac_neg", format!("{:.3}", r.target_frac_neg)),
            ("excess_loss", format!("{:.4}", r.excess_loss)),
            ("data_nll", f3(r.data_nll)),
            ("slack", f3(r.oracle_bound_minus_nll)),
            ("slack_se", f3(r.oracle_bound_minus_nll_se)),
            (
                "ladder_last_K",
                r.ladder.last().map_or(0, |l| l.num_steps).to_string(),
            ),
            ("floor_w1", f3(r.noise_floor.w1_mean)),
            ("floor_w1_q95", f3(r.noise_floor.w1_q95)),
            ("n_samples", r.config.n_samples.to_string()),
            ("chain_K_mean_z", format!("{:.1}", r.chain_k_mean_z)),
            ("chain_reps", r.config.chain_reps.to_string()),
            ("chain_z_reps_mean", format!("{:.2}", r.chain_z_reps_mean)),
            ("chain_z_reps_sd", format!("{:.2}", r.chain_z_reps_sd)),
            ("chain_z_reps_max", format!("{:.1}", r.chain_z_reps_max_abs)),
            ("sample_reps", r.config.sample_reps.to_string()),
            (
                "oracle_frac_reps_mean",
                format!("{:.4}", r.oracle_frac_reps[0].0),
            ),
            (
                "oracle_frac_reps_sd",
                format!("{:.4}", r.oracle_frac_reps[0].1),
            ),
            (
                "oracle_tilde_frac_reps_mean",
                format!("{:.4}", r.oracle_frac_reps[1].0),
            ),
            (
                "oracle_tilde_frac_reps_sd",
                format!("{:.4}", r.oracle_frac_reps[1].1),
            ),
            (
                "law_oracle_var",
                format!("{:.2}", r.sample_laws[2].variance),
            ),
            (
                "law_oracle_tilde_var",
                format!("{:.2}", r.sample_laws[3].variance),
            ),
            (
                "law_oracle_frac",
                format!("{:.4}", r.sample_laws[2].frac_neg),
            ),
            (
                "law_oracle_tilde_frac",
                format!("{:.4}", r.sample_laws[3].frac_neg),
            ),
            ("law_oracle_w1", f3(r.sample_laws[2].w1)),
            ("law_oracle_tilde_w1", f3(r.sample_laws[3].w1)),
            (
                "oracle_tilde_frac_z",
                format!(
                    "{:.1}",
                    (r.sample_moments[3].frac_neg.0 - r.sample_laws[3].frac_neg)
                        / r.sample_moments[3].frac_neg.1
                ),
            ),
            ("ladder_order_beta", ladder_order(r, false)),
            ("eps_switch_x", format!("{:.2}", r.eps_steps[0].x_switch)),
            (
                "eps_exact_slope_k1",
                format!("{:.2}", r.eps_steps[0].exact_slope),
            ),
            (
                "eps_net_slope_k1",
                format!("{:.2}", r.eps_steps[0].net_slope),
            ),
            ("eps_net_x_k1", format!("{:.2}", r.eps_steps[0].net_x)),
            (
                "eps_exact_slope_k5",
                format!("{:.2}", r.eps_steps[2].exact_slope),
            ),
            (
                "eps_net_slope_k5",
                format!("{:.2}", r.eps_steps[2].net_slope),
            ),
            ("kl_first", f3(r.bound_oracle_terms[1])),
            ("kl_mid", f3(r.bound_oracle_terms[k_max / 2])),
            ("kl_last", format!("{:.4}", r.bound_oracle_terms[k_max - 1])),
            ("kl_increases", kl_increases(r).0.to_string()),
            ("kl_max_increase_z", format!("{:.1}", kl_increases(r).1)),
            ("ladder_order_beta_tilde", ladder_order(r, true)),
            ("target_var", format!("{:.2}", r.target_std.powi(2))),
            ("target_entropy", f3(r.target_entropy)),
            ("bound_net", f3(r.bound_net_beta.total)),
            ("bound_oracle", f3(r.bound_oracle_beta.total)),
            ("bound_gap", f3(r.bound_gap_beta)),
            ("bound_gap_se", f3(r.bound_gap_beta_se)),
            ("train_seconds", format!("{:.1}", r.train_seconds)),
            ("steps", r.config.steps.to_string()),
        ],
    )
}

/// The observed order of the ladder's W1 (least-squares slope over the last three rungs).
fn ladder_order(r: &DdpmSeedReport, tilde: bool) -> String {
    let n = r.ladder.len();
    let pts: Vec<(f64, f64)> = r.ladder[n.saturating_sub(3)..]
        .iter()
        .map(|l| {
            let w = if tilde { l.beta_tilde.w1 } else { l.beta.w1 };
            (l.num_steps as f64, w)
        })
        .collect();
    observed_order(&pts).map_or("n/a".into(), |o| format!("{o:.2}"))
}

/// Among the KL terms `L_1 .. L_{K-1}` of the exact-eps* bound: how many exceed their
/// predecessor, and the largest such increase in standard errors of the difference
/// (`sqrt(se_j^2 + se_{j+1}^2)`, the terms use independent draws).
pub fn kl_increases(r: &DdpmSeedReport) -> (usize, f64) {
    let (t, se) = (&r.bound_oracle_terms, &r.bound_oracle_term_se);
    let k = t.len() - 1;
    let mut count = 0;
    let mut max_z = 0.0f64;
    for j in 1..k - 1 {
        let d = t[j + 1] - t[j];
        if d > 0.0 {
            count += 1;
            max_z = max_z.max(d / (se[j].powi(2) + se[j + 1].powi(2)).sqrt());
        }
    }
    (count, max_z)
}
