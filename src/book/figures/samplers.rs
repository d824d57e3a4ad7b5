//! Chapters "Annealed Langevin" and "Probability flow": seed 001's multi-level example, the
//! convergence study of the samplers with the exact score, and the log-likelihood table.
//!
//! Convergence study: VP (beta from 0.1 to 20) on the seed's mixture, started from the exact
//! `p_T` so that only discretisation error remains. (Not the seed's VE `sigma = sqrt(t)`: its
//! `g(0)` evaluates to 0 instead of 1, since forward mode gives `d sigma^2/dt` at 0 as
//! `2 · 0 · ∞ = NaN`, clamped to 0, and the ODE solvers evaluate the velocity at `t = 0`.)
//! The error of the final distribution is `W1` to the target. For the SDE samplers it is the
//! W1 of their exact law ([`pc_law_1d`], quadrature, no Monte Carlo error), so the asymptotic
//! orders show; the ODE is started from the quantiles of `p_T` and, being a monotone transport
//! in 1-D, is compared with the target's quantiles `q_i = F^{-1}((i - 1/2)/n)` as
//! `mean_i |x_(i) - q_i|`, with no Monte Carlo error either.
use std::path::Path;

use ndarray::{Array1, Array2};

use super::{create_dir, write_numbers, write_text};
use crate::book::experiment::smld_seed::{self, level_density, SmldSeedConfig, SmldSeedRun};
use crate::book::experiment::ve_seed::{column, SampleQuality};
use crate::book::plot::{Chart, Figure};
use crate::divergence::Probe;
use crate::error::{Error, Result};
use crate::likelihood::{flow_log_likelihood, DivergenceMethod};
use crate::mixture::GaussianMixture;
use crate::quadrature::linspace;
use crate::rng::seeded;
use crate::sampling::{
    pc_law_1d, probability_flow_sample, GridLaw, LangevinCorrector, OdeMethod, PcConfig, Predictor,
};
use crate::score::{ExactScore, NetScore, ScoreFn};
use crate::sde::{LinearSde, Vp};

const SIZE: (u32, u32) = (900, 560);

fn save(fig: impl Into<Figure>, dir: &Path, name: &str) -> Result<()> {
    fig.into().save_svg(dir.join(format!("{name}.svg")), SIZE)
}

fn fmt(x: f64) -> String {
    format!("{x:.3}")
}

/// Writes both chapters' assets under `dir`.
pub fn write(dir: &Path) -> Result<()> {
    create_dir(dir)?;
    let run = smld_seed::run(&SmldSeedConfig::seed_settings())?;
    write_smld(&run, dir)?;
    write_convergence(dir)?;
    write_likelihood(dir)?;
    Ok(())
}

/// The target's quantiles `F^{-1}((i - 1/2) / n)`, by bisection on the CDF (to 1e-12).
pub fn quantiles_1d(p: &GaussianMixture, n: usize) -> Result<Vec<f64>> {
    let (m, s) = (p.mean()[0], p.variance()[0].sqrt());
    (0..n)
        .map(|i| {
            let u = (i as f64 + 0.5) / n as f64;
            let (mut lo, mut hi) = (m - 20.0 * s, m + 20.0 * s);
            while hi - lo > 1e-12 * (1.0 + hi.abs()) {
                let mid = 0.5 * (lo + hi);
                if p.cdf_1d(mid)? < u {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Ok(0.5 * (lo + hi))
        })
        .collect()
}

/// `mean_i |x_(i) - q_i|`: W1 between the sample and the target's `n` quantiles.
pub fn w1_to_quantiles(x: &[f64], q: &[f64]) -> Result<f64> {
    crate::metrics::wasserstein1_samples(x, q)
}

/// Least-squares slope of `log err` against `log n` (minus: the observed order).
pub fn observed_order(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let xs: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1.ln()).collect();
    let (mx, my) = (
        xs.iter().sum::<f64>() / xs.len() as f64,
        ys.iter().sum::<f64>() / ys.len() as f64,
    );
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    Some(-sxy / sxx)
}

fn write_smld(run: &SmldSeedRun, dir: &Path) -> Result<()> {
    let r = &run.report;
    let losses = &run.training.losses;
    let steps: Vec<f64> = (1..=losses.len()).map(|i| i as f64).collect();
    save(
        Chart::new("Training loss of the noise-conditional network (SMLD loss, 6 levels)")
            .x_label("Adam step")
            .y_label("loss")
            .line("loss per step", steps, losses.clone()),
        dir,
        "ncsn_training_loss",
    )?;
    let grid = linspace(-4.0, 4.0, 200);
    let g = column(&grid);
    let net = NetScore {
        net: &run.training.net,
    };
    let panels = r
        .sigmas
        .iter()
        .map(|&s| {
            let exact = level_density(&run.target, s)?.score(g.view())?;
            let learnt = net.score(s, g.view())?;
            Ok(Chart::new(format!("sigma = {s:.3}"))
                .x_label("x")
                .y_label("score")
                .line("exact", grid.clone(), exact.column(0).to_vec())
                .dashed_line("network", grid.clone(), learnt.column(0).to_vec()))
        })
        .collect::<Result<Vec<_>>>()?;
    save(
        Figure::grid(3, panels)
            .with_title("Learned s(x, sigma) against the exact score of p_sigma"),
        dir,
        "ncsn_fitted_scores",
    )?;
    let paths = run
        .network_paths
        .paths
        .as_ref()
        .ok_or_else(|| Error::param("keep_paths", "the path run must keep its paths"))?;
    let steps: Vec<f64> = (0..paths.len()).map(|i| i as f64).collect();
    let per_chain: Vec<Vec<f64>> = (0..paths[0].nrows())
        .map(|j| paths.iter().map(|x| x[[j, 0]]).collect())
        .collect();
    save(
        Chart::new(format!(
            "{} annealed Langevin chains (network score), {} steps per level",
            per_chain.len(),
            r.config.steps_per_level
        ))
        .x_label("Langevin step (levels 2.0 → 0.5)")
        .y_label("x")
        .paths(steps, per_chain, 0.3),
        dir,
        "annealed_langevin_trajectories",
    )?;
    let pdf0 = run.target.pdf(g.view())?.to_vec();
    let pdf_l = level_density(&run.target, r.config.sigma_l)?
        .pdf(g.view())?
        .to_vec();
    save(
        Chart::new(format!(
            "{} annealed Langevin samples (network score)",
            run.network_samples.nrows()
        ))
        .x_label("x")
        .y_label("density")
        .histogram(
            "samples",
            run.network_samples.column(0).to_vec(),
            60,
            (-4.0, 4.0),
        )
        .line("p_0", grid.clone(), pdf0)
        .dashed_line("p_sigma_L (sigma_L = 0.5)", grid.clone(), pdf_l),
        dir,
        "annealed_langevin_histogram",
    )?;
    let row = |name: &str, q: &SampleQuality| {
        format!(
            "| {name} | {:.3} | {:.3} | {:+.3} | {:.3} |\n",
            q.w1, q.ks, q.mean, q.std
        )
    };
    let mut t = String::from(
        "| score, output, compared with | W1 | KS | mean | std |\n|---|---|---|---|---|\n",
    );
    t += &row("network, raw, vs p_σL", &r.network_vs_last_level);
    t += &row("exact, raw, vs p_σL", &r.exact_vs_last_level);
    let law_row = |name: &str, l: &smld_seed::LawStats| {
        format!(
            "| {name} | {:.3} | | {:+.3} | {:.3} |\n",
            l.w1, l.mean, l.std
        )
    };
    t += &law_row(
        "exact, raw, its exact law (quadrature), vs p_σL",
        &r.exact_law_raw,
    );
    t += &law_row(
        "unadjusted Langevin at σ_L alone, stationary law (quadrature), vs p_σL",
        &r.ula_stationary,
    );
    t += &format!(
        "| {} exact draws of p_σL (noise floor: mean, 95% quantile) | {:.3}, {:.3} | {:.3}, {:.3} | | |\n",
        r.floor_last_level.n,
        r.floor_last_level.w1_mean,
        r.floor_last_level.w1_q95,
        r.floor_last_level.ks_mean,
        r.floor_last_level.ks_q95
    );
    t += &row("network, raw, vs p_0", &r.network_vs_data);
    t += &row("network, denoised, vs p_0", &r.network_denoised_vs_data);
    t += &row("exact, denoised, vs p_0", &r.exact_denoised_vs_data);
    let p_l = level_density(&run.target, r.config.sigma_l)?;
    t += &format!(
        "| target p_0 / p_σL | | | {:+.3} | {:.3} / {:.3} |\n",
        run.target.mean()[0],
        run.target.variance()[0].sqrt(),
        p_l.variance()[0].sqrt()
    );
    write_text(&dir.join("smld_table.md"), &t)?;
    let mut e = String::from("| σ | weighted RMS score error |\n|---|---|\n");
    for (s, v) in r.sigmas.iter().zip(&r.score_rms) {
        e += &format!("| {s:.3} | {v:.3} |\n");
    }
    write_text(&dir.join("smld_score_errors.md"), &e)?;
    write_text(
        &dir.join("smld_report.json"),
        &serde_json::to_string_pretty(r)?,
    )?;
    write_numbers(
        dir,
        &[
            ("smld_loss_first", fmt(r.loss_first_50)),
            ("smld_loss_last", fmt(r.loss_last_50)),
            ("smld_n_samples", r.config.n_samples.to_string()),
            ("smld_eps", r.config.eps.to_string()),
            ("smld_steps_per_level", r.config.steps_per_level.to_string()),
            ("smld_train_seconds", format!("{:.1}", r.train_seconds)),
            ("smld_floor_w1", fmt(r.floor_last_level.w1_mean)),
            ("smld_floor_w1_q95", fmt(r.floor_last_level.w1_q95)),
            ("smld_exact_w1", fmt(r.exact_vs_last_level.w1)),
            ("smld_law_w1", fmt(r.exact_law_raw.w1)),
            ("smld_law_mean", fmt(r.exact_law_raw.mean)),
            ("smld_law_std", fmt(r.exact_law_raw.std)),
            ("smld_law_frac_pos", fmt(r.exact_law_raw.frac_pos)),
            ("smld_ula_w1", fmt(r.ula_stationary.w1)),
            ("smld_reps_w1", fmt(r.exact_reps_w1_mean)),
            ("smld_reps_w1_q95", fmt(r.exact_reps_w1_q95)),
            ("smld_ula_std", fmt(r.ula_stationary.std)),
            ("smld_ula_frac_pos", fmt(r.ula_stationary.frac_pos)),
            ("smld_target_frac_pos", fmt(r.last_level_frac_pos)),
            ("smld_target_std", fmt(r.last_level_std)),
            (
                "smld_sample_mean_z",
                format!(
                    "{:.1}",
                    (r.exact_vs_last_level.mean - r.exact_law_raw.mean)
                        / (r.exact_law_raw.std / (r.config.n_samples as f64).sqrt())
                ),
            ),
        ],
    )
}

/// One curve of the convergence study: `(steps, score evaluations, W1)`.
#[derive(Clone, Debug)]
pub struct Curve {
    pub name: String,
    pub points: Vec<(usize, usize, f64)>,
}

/// The step counts of the SDE samplers' exact laws.
pub const SDE_STEPS: [usize; 8] = [4, 8, 16, 32, 64, 128, 256, 512];

/// The exact law's W1 to the target of `pc_sample` with `pred` (and `corrector`), `steps`
/// steps, VP, exact score, started from the exact `p_T` ([`pc_law_1d`], a grid of spacing
/// `min(0.02, 0.9 sqrt(beta(dt) dt / 2))` on `[-8, 8]`, so every kernel is resolved).
pub fn sde_law_w1(
    pred: Predictor,
    corrector: Option<LangevinCorrector>,
    steps: usize,
) -> Result<f64> {
    let p0 = GaussianMixture::seed_ve();
    let vp = Vp::song();
    let score = ExactScore::new(&p0, &vp);
    let p_t = p0.diffused(&vp, 1.0)?;
    let dt = 1.0 / steps as f64;
    let h = 0.02f64.min(0.9 * (vp.diffusion(dt).powi(2) * dt * 0.5).sqrt());
    let start = GridLaw::from_mixture(&p_t, -14.0, 14.0, h)?;
    let cfg = PcConfig {
        corrector,
        ..PcConfig::predictor_only(pred, steps + 1)
    };
    pc_law_1d(&vp, &score, &start, &cfg)?.w1_to_mixture(&p0)
}

/// The convergence study (see the module docs): the SDE samplers' exact laws (no Monte
/// Carlo error) and the ODE started from `n_ode` quantiles of `p_T`.
pub fn convergence_study(n_ode: usize) -> Result<Vec<Curve>> {
    let p0 = GaussianMixture::seed_ve();
    let ve = Vp::song();
    let score = ExactScore::new(&p0, &ve);
    let p_t = p0.diffused(&ve, 1.0)?;
    let mut curves = vec![];
    let corr = LangevinCorrector {
        snr: 0.16,
        n_steps: 1,
    };
    let sde_samplers = [
        ("Euler-Maruyama", Predictor::EulerMaruyama, None),
        ("ancestral", Predictor::Ancestral, None),
        ("reverse diffusion", Predictor::ReverseDiffusion, None),
        (
            "PC (reverse diffusion + Langevin, snr 0.16)",
            Predictor::ReverseDiffusion,
            Some(corr),
        ),
    ];
    for (name, pred, c) in sde_samplers {
        let mut pts = vec![];
        for steps in SDE_STEPS {
            let cfg = PcConfig {
                corrector: c,
                ..PcConfig::predictor_only(pred, steps + 1)
            };
            pts.push((steps, cfg.score_evals(), sde_law_w1(pred, c, steps)?));
        }
        curves.push(Curve {
            name: name.into(),
            points: pts,
        });
    }
    let q0 = quantiles_1d(&p0, n_ode)?;
    let x_t = column(&quantiles_1d(&p_t, n_ode)?);
    let ode_err = |sol: Array2<f64>| -> Result<f64> {
        let v: Vec<f64> = sol.column(0).to_vec();
        Ok(v.iter().zip(&q0).map(|(a, b)| (a - b).abs()).sum::<f64>() / v.len() as f64)
    };
    let mut pts = vec![];
    for steps in [2usize, 4, 8, 16, 32, 64] {
        let sol = probability_flow_sample(
            &ve,
            &score,
            x_t.clone(),
            0.0,
            &OdeMethod::Rk4 { n_steps: steps },
        )?;
        pts.push((steps, sol.n_evals, ode_err(sol.y)?));
    }
    curves.push(Curve {
        name: "probability flow, RK4".into(),
        points: pts,
    });
    let mut pts = vec![];
    for tol in [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7] {
        let sol = probability_flow_sample(
            &ve,
            &score,
            x_t.clone(),
            0.0,
            &OdeMethod::Dopri5 {
                rtol: tol,
                atol: tol,
            },
        )?;
        pts.push((sol.n_steps, sol.n_evals, ode_err(sol.y)?));
    }
    curves.push(Curve {
        name: "probability flow, Dormand-Prince 5(4)".into(),
        points: pts,
    });
    Ok(curves)
}

/// The observed order over the points of `c` whose step count is in `range`.
fn order_over(c: &Curve, range: std::ops::RangeInclusive<usize>) -> (String, String) {
    let pts: Vec<(f64, f64)> = c
        .points
        .iter()
        .filter(|p| range.contains(&p.0) && p.2 > 1e-10)
        .map(|p| (p.0 as f64, p.2))
        .collect();
    let used = pts
        .iter()
        .map(|p| format!("{}", p.0))
        .collect::<Vec<_>>()
        .join(", ");
    let o = observed_order(&pts).map_or("n/a".to_string(), |o| format!("{o:.2}"));
    (used, o)
}

fn write_convergence(dir: &Path) -> Result<()> {
    let n_ode = 1000;
    let curves = convergence_study(n_ode)?;
    let mut by_steps =
        Chart::new("Error of the final distribution vs steps (VP, exact score and p_T)")
            .x_label("number of steps")
            .y_label("W1 to the target (exact laws; ODE from quantiles)")
            .log_x()
            .log_y();
    let mut by_evals = Chart::new("Error vs score evaluations")
        .x_label("score evaluations (per sample)")
        .y_label("W1 to the target")
        .log_x()
        .log_y();
    let mut table = String::from(
        "| sampler | W1 at the smallest and largest step counts | order, first three step counts | order, last three step counts |\n|---|---|---|---|\n",
    );
    let mut numbers = vec![];
    for c in &curves {
        let xs: Vec<f64> = c.points.iter().map(|p| p.0 as f64).collect();
        let ev: Vec<f64> = c.points.iter().map(|p| p.1 as f64).collect();
        let ys: Vec<f64> = c.points.iter().map(|p| p.2).collect();
        if !c.name.contains("Dormand") {
            by_steps = by_steps.line(c.name.clone(), xs.clone(), ys.clone());
        }
        by_evals = by_evals.line(c.name.clone(), ev, ys.clone());
        if c.name.contains("Dormand") {
            continue;
        }
        let n = c.points.len();
        let lo = c.points[0].0..=c.points[2].0;
        let hi = c.points[n - 3].0..=c.points[n - 1].0;
        let (used_lo, o_lo) = order_over(c, lo);
        let (used_hi, o_hi) = order_over(c, hi);
        let (first, last) = (c.points[0], c.points[n - 1]);
        table += &format!(
            "| {} | {:.2e} ({} steps) .. {:.2e} ({} steps) | {o_lo} ({used_lo}) | {o_hi} ({used_hi}) |\n",
            c.name, first.2, first.0, last.2, last.0
        );
        let key = match c.name.as_str() {
            "Euler-Maruyama" => "em",
            "ancestral" => "ancestral",
            "reverse diffusion" => "rd",
            "probability flow, RK4" => "rk4",
            _ => "pc",
        };
        numbers.push((format!("order_{key}_early"), o_lo));
        numbers.push((format!("order_{key}"), o_hi));
        numbers.push((format!("w1_{key}_last"), format!("{:.1e}", last.2)));
    }
    save(by_steps, dir, "convergence")?;
    save(by_evals, dir, "convergence_evals")?;
    write_text(&dir.join("convergence_orders.md"), &table)?;
    let mut dp = String::from("| rtol = atol | accepted steps | score evaluations | W1 to the target |\n|---|---|---|---|\n");
    let tols = ["1e-2", "1e-3", "1e-4", "1e-5", "1e-6", "1e-7"];
    if let Some(c) = curves.last() {
        for (tol, p) in tols.iter().zip(&c.points) {
            dp += &format!("| {tol} | {} | {} | {:.2e} |\n", p.0, p.1, p.2);
        }
    }
    write_text(&dir.join("dopri5_table.md"), &dp)?;
    // The Monte Carlo fit the previous edition of the table made (6000 draws, points 3x above
    // the floor): Euler-Maruyama on 4, 8, 16 steps only.
    let em = &curves[0];
    let (_, o_mc) = order_over(em, 4..=16);
    numbers.push(("order_em_4_16".into(), o_mc));
    numbers.push(("conv_n_ode".into(), n_ode.to_string()));
    numbers.push((
        "conv_max_steps".into(),
        SDE_STEPS[SDE_STEPS.len() - 1].to_string(),
    ));
    write_numbers(dir, &numbers)
}

/// The 2-D mixture of the likelihood table.
pub use crate::book::experiment::likelihood_models::mixture as likelihood_mixture;

fn write_likelihood(dir: &Path) -> Result<()> {
    let p0 = likelihood_mixture()?;
    let vp = Vp::song();
    let score = ExactScore::new(&p0, &vp);
    let (n, reps) = (200, 16);
    let x = p0.sample(n, &mut seeded(42));
    let truth = p0.log_pdf(x.view())?;
    let method = OdeMethod::Dopri5 {
        rtol: 1e-6,
        atol: 1e-6,
    };
    let p_t = p0.diffused(&vp, 1.0)?;
    let mut table = String::from(
        "| divergence | prior | mean error | mean abs. error | max abs. error | per-point sd | RHS evaluations |\n|---|---|---|---|---|---|---|\n",
    );
    let stats = |lp: &Array1<f64>| {
        let e = lp - &truth;
        (
            e.mean().unwrap_or(f64::NAN),
            e.mapv(f64::abs).mean().unwrap_or(f64::NAN),
            e.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        )
    };
    let exact = flow_log_likelihood(
        &vp,
        &score,
        x.view(),
        0.0,
        &method,
        DivergenceMethod::Exact,
        &mut seeded(0),
    )?;
    let lp_exact = exact.log_p(&p_t.log_pdf(exact.x_end.view())?)?;
    // The integrated divergence of the whole velocity along each trajectory, per coordinate,
    // and of its score part alone: the drift f x contributes d ∫ f = -d B(T) / 2.
    let d = x.ncols() as f64;
    let vel_div = exact.delta_log_p.mean().unwrap_or(f64::NAN) / d;
    let half_b = 0.5 * crate::sde::LinearBeta::song().integral(1.0);
    let vel_div_sd = exact.delta_log_p.std(1.0) / d;
    let lp_prior = exact.log_p_sde_prior(&vp)?;
    for (name, lp) in [("exact p_T", &lp_exact), ("N(0, I)", &lp_prior)] {
        let (m, a, mx) = stats(lp);
        table += &format!(
            "| exact (forward mode) | {name} | {m:+.1e} | {a:.1e} | {mx:.1e} | 0 | {} |\n",
            exact.n_evals
        );
    }
    let mut scatter = Chart::new("ODE log-likelihood vs exact log p_0 (2-D mixture, VP)")
        .x_label("exact log p_0(x)")
        .y_label("estimated log p_0(x)")
        .points("exact divergence", truth.to_vec(), lp_exact.to_vec());
    let mut numbers = vec![];
    for probe in [Probe::Gaussian, Probe::Rademacher] {
        // reps probes per point: rows i*reps .. (i+1)*reps repeat point i.
        let xr = Array2::from_shape_fn((n * reps, 2), |(r, j)| x[[r / reps, j]]);
        let h = flow_log_likelihood(
            &vp,
            &score,
            xr.view(),
            0.0,
            &method,
            DivergenceMethod::Hutchinson(probe),
            &mut seeded(7),
        )?;
        let lp = h.log_p(&p_t.log_pdf(h.x_end.view())?)?;
        let one: Array1<f64> = (0..n).map(|i| lp[i * reps]).collect();
        let mean_sd = (0..n)
            .map(|i| {
                let v = lp.slice(ndarray::s![i * reps..(i + 1) * reps]);
                v.var(1.0).sqrt()
            })
            .sum::<f64>()
            / n as f64;
        let (m, a, mx) = stats(&one);
        table += &format!(
            "| Hutchinson, one {} probe | exact p_T | {m:+.1e} | {a:.1e} | {mx:.1e} | {mean_sd:.1e} | {} |\n",
            probe.name(),
            h.n_evals
        );
        let key = match probe {
            Probe::Gaussian => "lik_sd_gaussian",
            Probe::Rademacher => "lik_sd_rademacher",
        };
        numbers.push((key, format!("{mean_sd:.3}")));
        scatter = scatter.points(
            format!("Hutchinson ({}), one probe", probe.name()),
            truth.to_vec(),
            one.to_vec(),
        );
    }
    save(scatter, dir, "likelihood_scatter")?;
    write_text(&dir.join("likelihood_table.md"), &table)?;
    let (_, a, _) = stats(&lp_exact);
    numbers.push(("lik_exact_mae", format!("{a:.1e}")));
    numbers.push(("lik_vel_div", format!("{vel_div:.2}")));
    numbers.push(("lik_vel_div_sd", format!("{vel_div_sd:.2}")));
    numbers.push(("lik_score_div", format!("{:.2}", vel_div + half_b)));
    numbers.push(("lik_half_b", format!("{half_b:.3}")));
    numbers.push(("lik_n_points", n.to_string()));
    numbers.push(("lik_reps", reps.to_string()));
    write_numbers(dir, &numbers)
}
