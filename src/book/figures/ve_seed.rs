//! Chapter "Numerical example" (seed 000): data, score, log-density heat maps, training,
//! fitted score, recovered density, evolution of the fit, reverse paths, histograms.
use std::path::Path;

use ndarray::Array2;

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::ve_seed::{
    self, column, recovered_density, x_grid, VeSeedConfig, VeSeedReport,
};
use crate::book::plot::{Chart, Figure, Heatmap};
use crate::error::Result;
use crate::mixture::GaussianMixture;
use crate::progress::ProgressBar;
use crate::quadrature::linspace;
use crate::score::{NetScore, ScoreFn};
use crate::sde::{LinearSde, Ve, Vp};

const SIZE: (u32, u32) = (900, 560);

/// Where and how figures are written: always SVG, PNG too when `png`.
#[derive(Clone, Copy)]
pub struct Out<'a> {
    pub dir: &'a Path,
    pub png: bool,
}

fn save(fig: impl Into<Figure>, out: Out, name: &str) -> Result<()> {
    let fig = fig.into();
    fig.save_svg(out.dir.join(format!("{name}.svg")), SIZE)?;
    if out.png {
        fig.save_png(out.dir.join(format!("{name}.png")), SIZE)?;
    }
    Ok(())
}

/// `log p_t(x)` of the seed's mixture on `t ∈ [0, 1]` (step 0.01) × `x ∈ [-3, 3]`, exactly.
pub fn log_density_heatmap(sde: &dyn LinearSde, title: &str) -> Result<Heatmap> {
    let p0 = GaussianMixture::seed_ve();
    let ts = linspace(0.0, 1.0, 101);
    let xs = x_grid();
    let mut values = Array2::zeros((ts.len(), xs.len()));
    for (i, &t) in ts.iter().enumerate() {
        let lp = p0.diffused(sde, t)?.log_pdf(column(&xs).view())?;
        values.row_mut(i).assign(&lp);
    }
    Ok(Heatmap::new(title, ts, xs, values)
        .x_label("t")
        .y_label("x")
        .colorbar_label("log p_t(x)")
        .value_range(-8.0, 0.5))
}

fn fit_chart(
    title: &str,
    net: &crate::nn::Mlp,
    t: f64,
    target: &GaussianMixture,
    data: &[f64],
) -> Result<Chart> {
    fit_chart_vs(title, net, t, target, "exact score of p_0", data)
}

/// The network's score at time `t` against the exact score of `reference` (p_0 or p_t).
fn fit_chart_vs(
    title: &str,
    net: &crate::nn::Mlp,
    t: f64,
    reference: &GaussianMixture,
    reference_label: &str,
    data: &[f64],
) -> Result<Chart> {
    let grid = x_grid();
    let exact = reference.score(column(&grid).view())?.column(0).to_vec();
    let fit = NetScore { net }
        .score(t, column(&grid).view())?
        .column(0)
        .to_vec();
    let dscore = reference.score(column(data).view())?.column(0).to_vec();
    Ok(Chart::new(title)
        .x_label("x")
        .y_label("score")
        .line(reference_label, grid.clone(), exact)
        .points("data", data.to_vec(), dscore)
        .line("network s(t, x)", grid, fit)
        .y_range(-12.0, 12.0))
}

fn fmt(x: f64) -> String {
    format!("{x:.3}")
}

/// Runs the seed's experiment and its fix, and writes the chapter's figures and numbers.
pub fn write(dir: &Path, progress: Option<ProgressBar>) -> Result<VeSeedReport> {
    let run = ve_seed::run(&VeSeedConfig::seed_settings(), progress.clone())?;
    let fixed = ve_seed::run(&VeSeedConfig::fixed_prior(), progress)?;
    write_figures(&run, Some(&fixed), Out { dir, png: false })?;
    Ok(run.report)
}

/// Writes the figures and numbers of a run (and of its moment-matched-prior counterpart,
/// when given).
pub fn write_figures(
    run: &ve_seed::VeSeedRun,
    fixed: Option<&ve_seed::VeSeedRun>,
    out: Out,
) -> Result<()> {
    let dir = out.dir;
    create_dir(dir)?;
    let r = &run.report;
    let target = &run.target;
    let grid = x_grid();
    let pdf = target.pdf(column(&grid).view())?.to_vec();
    let data = run.data.column(0).to_vec();
    let data_pdf = target.pdf(run.data.view())?.to_vec();

    save(
        Chart::new("The target 0.8 N(-1, 0.4²) + 0.2 N(1, 0.3²) and 1024 draws")
            .x_label("x")
            .y_label("density")
            .histogram("sample histogram", data.clone(), 80, (-3.0, 3.0))
            .line("pdf", grid.clone(), pdf.clone())
            .points("sample", data.clone(), data_pdf),
        out,
        "data",
    )?;
    let score = target.score(column(&grid).view())?.column(0).to_vec();
    let dscore = target.score(run.data.view())?.column(0).to_vec();
    save(
        Chart::new("The score of the target and the sample")
            .x_label("x")
            .y_label("d/dx log p_0(x)")
            .line("score function", grid.clone(), score)
            .points("data", data.clone(), dscore),
        out,
        "score",
    )?;
    save(
        log_density_heatmap(
            &Ve::seed(),
            "log p_t(x) under the VE SDE, sigma(t) = sqrt(t)",
        )?,
        out,
        "heatmap_ve",
    )?;
    save(
        log_density_heatmap(
            &Vp::song(),
            "log p_t(x) under the VP SDE, beta from 0.1 to 20",
        )?,
        out,
        "heatmap_vp",
    )?;

    let losses = &run.training.losses;
    let steps: Vec<f64> = (1..=losses.len()).map(|i| i as f64).collect();
    save(
        Chart::new("Training loss (the seed's sigma-scaled DSM loss)")
            .x_label("Adam step")
            .y_label("loss")
            .line("loss per step", steps[7..].to_vec(), losses[7..].to_vec())
            .hline("same loss with the exact score (floor)", r.exact_loss),
        out,
        "loss",
    )?;
    let t_eps = run.report.config.t_eps;
    save(
        fit_chart(
            "Fitted score at t = 0.001 vs the exact score",
            &run.training.net,
            t_eps,
            target,
            &data,
        )?,
        out,
        "fit",
    )?;

    let sde = Ve::seed();
    let panels = [t_eps, 0.1, 0.5, 1.0]
        .iter()
        .map(|&t| {
            fit_chart_vs(
                &format!("t = {t}"),
                &run.training.net,
                t,
                &target.diffused(&sde, t)?,
                "exact score of p_t",
                &data,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    save(
        Figure::grid(2, panels).with_title("Fitted score s(t, x) against the exact score of p_t"),
        out,
        "fit_times",
    )?;

    let recovered = recovered_density(&run.training.net, t_eps)?;
    save(
        Chart::new("Density recovered from the fitted score")
            .x_label("x")
            .y_label("density")
            .line("target pdf", grid.clone(), pdf.clone())
            .line("exp(∫ s) normalised", grid.clone(), recovered.clone()),
        out,
        "recovered_density",
    )?;

    let picks = [0usize, 5, 10, 20, 40, 80];
    let panels = picks
        .iter()
        .filter_map(|&i| run.training.snapshots.get(i))
        .map(|(step, net)| fit_chart(&format!("step {step}"), net, t_eps, target, &data))
        .collect::<Result<Vec<_>>>()?;
    save(
        Figure::grid(3, panels).with_title("Evolution of the fitted score during training"),
        out,
        "evolution",
    )?;
    let mut t = String::from(
        "| Adam step | weighted slope of the fit (exact) | RMS error, large mode | RMS error, between the modes | RMS error, small mode |\n|---|---|---|---|---|\n",
    );
    for e in &run.report.evolution {
        t += &format!(
            "| {} | {:.2} ({:.2}) | {:.2} | {:.2} | {:.2} |\n",
            e.step, e.slope, e.exact_slope, e.large_mode, e.transition, e.small_mode
        );
    }
    write_text(&out.dir.join("evolution_errors.md"), &t)?;

    let paths = run.network_prior.paths.as_ref().expect("kept paths");
    let per_path: Vec<Vec<f64>> = (0..paths[0].nrows())
        .map(|j| paths.iter().map(|x| x[[j, 0]]).collect())
        .collect();
    save(
        Chart::new(format!(
            "{} reverse-SDE paths with the network score",
            per_path.len()
        ))
        .x_label("t")
        .y_label("x")
        .paths(run.network_prior.times.clone(), per_path, 0.25),
        out,
        "paths",
    )?;

    let hist = |title: &str, samples: &Array2<f64>| {
        Chart::new(title)
            .x_label("x")
            .y_label("density")
            .histogram("sample", samples.column(0).to_vec(), 40, (-3.0, 3.0))
            .line("target pdf", grid.clone(), pdf.clone())
            .line("model pdf (recovered)", grid.clone(), recovered.clone())
    };
    save(
        hist(
            "Histogram at the end of sampling (network score, N(0, 1) prior)",
            &run.network_prior.samples,
        ),
        out,
        "histogram",
    )?;
    save(
        hist(
            "Exact score, N(0, 1) prior: the prior mismatch alone",
            &run.exact_prior.samples,
        ),
        out,
        "histogram_exact",
    )?;
    if let Some(fixed) = fixed {
        save(
            hist(
                "Network score, moment-matched prior (the fix)",
                &fixed.network_prior.samples,
            ),
            out,
            "histogram_fixed",
        )?;
    }

    if let Some(fixed) = fixed {
        let starts = ["N(0, 1) start", "exact p_1 start", "moment-matched start"];
        for (score, idx, name) in [
            ("network", 0, "prior_mismatch"),
            ("exact", 2, "prior_mismatch_exact"),
        ] {
            let samples = [
                &run.eval_samples[idx],
                &run.eval_samples[idx + 1],
                &fixed.eval_samples[idx],
            ];
            let panels: Vec<Chart> = samples
                .iter()
                .zip(starts)
                .map(|(s, start)| {
                    Chart::new(start)
                        .x_label("x")
                        .y_label("density")
                        .histogram("sample", s.column(0).to_vec(), 40, (-3.0, 3.0))
                        .line("target pdf", grid.clone(), pdf.clone())
                })
                .collect();
            save(
                Figure::grid(3, panels).with_title(format!(
                    "{} reverse-SDE samples with the {score} score from three starts",
                    r.config.eval_paths
                )),
                out,
                name,
            )?;
        }
    }

    let row = |name: &str, q: &ve_seed::SampleQuality| {
        format!(
            "| {name} | {:.3} | {:.3} | {:+.3} | {:.3} |\n",
            q.w1, q.ks, q.mean, q.std
        )
    };
    let mut table =
        String::from("| sampler (score, start) | W1 | KS | mean | std |\n|---|---|---|---|---|\n");
    table += &row("network, N(0, 1) prior (the seed)", &r.network_prior);
    table += &row("network, exact p_T", &r.network_exact_start);
    table += &row("exact, N(0, 1) prior", &r.exact_prior);
    table += &row("exact, exact p_T", &r.exact_exact_start);
    if let Some(f) = fixed {
        table += &row(
            "network, moment-matched prior (fix)",
            &f.report.network_prior,
        );
        table += &row("exact, moment-matched prior (fix)", &f.report.exact_prior);
    }
    table += &format!(
        "| {} exact draws of the target (noise floor, mean) | {:.3} | {:.3} | {:+.3} | {:.3} |\n",
        r.config.eval_paths,
        r.noise_floor_eval.w1_mean,
        r.noise_floor_eval.ks_mean,
        r.target_mean,
        r.target_std
    );
    write_text(&dir.join("table.md"), &table)?;
    let mut errs =
        String::from("| t | weighted RMS error | max error on [-3, 3] |\n|---|---|---|\n");
    for (t, rms, max) in &r.score_errors {
        errs += &format!("| {t} | {rms:.3} | {max:.3} |\n");
    }
    write_text(&dir.join("score_errors.md"), &errs)?;
    write_text(
        &dir.join("report.json"),
        &serde_json::to_string_pretty(&(r, fixed.map(|f| &f.report)))?,
    )?;
    if let Some(f) = fixed {
        write_numbers(
            dir,
            &[
                ("fixed_net_w1", fmt(f.report.network_prior.w1)),
                ("fixed_exact_w1", fmt(f.report.exact_prior.w1)),
            ],
        )?;
    }
    write_numbers(
        dir,
        &[
            ("loss_first", fmt(r.loss_first_100)),
            ("loss_last", fmt(r.loss_last_100)),
            ("exact_loss", fmt(r.exact_loss)),
            ("exact_loss_se", fmt(r.exact_loss_se)),
            ("seed_w1", fmt(r.seed_paths.w1)),
            ("seed_ks", fmt(r.seed_paths.ks)),
            ("floor_w1", fmt(r.noise_floor.w1_mean)),
            ("floor_w1_q95", fmt(r.noise_floor.w1_q95)),
            ("floor_eval_w1", fmt(r.noise_floor_eval.w1_mean)),
            ("net_prior_w1", fmt(r.network_prior.w1)),
            ("net_exact_w1", fmt(r.network_exact_start.w1)),
            ("exact_prior_w1", fmt(r.exact_prior.w1)),
            ("exact_exact_w1", fmt(r.exact_exact_start.w1)),
            ("p_t_std", fmt(r.p_t_max_std)),
            ("p_t_mean", fmt(r.p_t_max_mean)),
            ("recovered_l1", fmt(r.recovered_density_l1)),
            ("train_seconds", format!("{:.1}", r.train_seconds)),
            ("eval_paths", r.config.eval_paths.to_string()),
            ("n_paths", r.config.n_paths.to_string()),
        ],
    )?;
    Ok(())
}
